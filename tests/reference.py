"""Independent float64 NumPy/SciPy references for the CCA family (no crossjax code)."""

import numpy as np
import scipy.linalg


def covariance_blocks(views, ridges):
  centred = [v - v.mean(axis=0) for v in views]
  n = len(views[0])
  blocks = [[a.T @ b / (n - 1) for b in centred] for a in centred]
  for i, r in enumerate(ridges):
    blocks[i][i] = blocks[i][i] + r * np.eye(len(blocks[i][i]))
  return blocks


def cca(x1, x2, k, r1=0.0, r2=0.0):
  """Canonical correlations and weights from the generalised eigenproblem
  [[0, S12], [S21, 0]] w = rho [[S11 + r1 I, 0], [0, S22 + r2 I]] w (scipy.linalg.eigh)."""
  (s11, s12), (s21, s22) = covariance_blocks([x1, x2], [r1, r2])
  d1 = len(s11)
  a = np.block([[np.zeros_like(s11), s12], [s21, np.zeros_like(s22)]])
  b = scipy.linalg.block_diag(s11, s22)
  values, vectors = scipy.linalg.eigh(a, b)
  order = np.argsort(values)[::-1][:k]
  # eigh normalises w^T B w = 1 jointly; each view's half then has variance 1/2.
  w = vectors[:, order] * np.sqrt(2.0)
  return values[order], w[:d1], w[d1:]


def cca_pinv(x1, x2, k, rcond):
  """CCA with pseudo-inverse square roots (eigenvalues <= rcond * max dropped), float64."""
  (s11, s12), (_, s22) = covariance_blocks([x1, x2], [0.0, 0.0])

  def inv_sqrt(s):
    values, vectors = np.linalg.eigh(s)
    keep = values > rcond * values.max()
    scale = np.zeros_like(values)
    scale[keep] = values[keep] ** -0.5
    return (vectors * scale) @ vectors.T

  w1, w2 = inv_sqrt(s11), inv_sqrt(s22)
  u, s, vt = np.linalg.svd(w1 @ s12 @ w2)
  return s[:k], w1 @ u[:, :k], w2 @ vt[:k].T


def mcca_eigenvalues(views, k, ridges):
  blocks = covariance_blocks(views, [0.0] * len(views))
  regularised = covariance_blocks(views, ridges)
  a = np.block(blocks)
  b = scipy.linalg.block_diag(*[regularised[i][i] for i in range(len(views))])
  return np.sort(scipy.linalg.eigh(a, b, eigvals_only=True))[::-1][:k]


def gcca_consensus(views, k, ridges):
  """Top-k eigenvectors of sum_i X_i (X_i^T X_i + r_i (n - 1) I)^{-1} X_i^T (n x n), scaled
  to unit variance: the MAXVAR consensus G."""
  n = len(views[0])
  total = np.zeros((n, n))
  for view, r in zip(views, ridges):
    c = view - view.mean(axis=0)
    total += c @ np.linalg.solve(c.T @ c + r * (n - 1) * np.eye(c.shape[1]), c.T)
  values, vectors = np.linalg.eigh(total)
  return values[::-1][:k], vectors[:, ::-1][:, :k] * np.sqrt(n - 1)


def correlations_of(z1, z2):
  z1 = z1 - z1.mean(axis=0)
  z2 = z2 - z2.mean(axis=0)
  return (z1 * z2).sum(axis=0) / np.sqrt((z1 ** 2).sum(axis=0) * (z2 ** 2).sum(axis=0))


def kernel_cca_dual(x1, x2, widths, r, k):
  """Top-k correlations of ridge-regularised RBF kernel CCA in the dual (Hardoon et al. 2004):
  with centred kernels Kc_i = H K_i H and w_i = Phi_ic^T a_i, the singular values of
  A1^{+1/2} (Kc1 Kc2 / (n - 1)) A2^{+1/2}, A_i = Kc_i^2 / (n - 1) + r Kc_i."""
  n = len(x1)
  centring = np.eye(n) - 1.0 / n

  def centred_kernel(x, width):
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return centring @ np.exp(-squared / (2 * width ** 2)) @ centring

  def inverse_sqrt(a):
    values, vectors = scipy.linalg.eigh(a)
    keep = values > 1e-10 * values.max()
    return (vectors[:, keep] / np.sqrt(values[keep])) @ vectors[:, keep].T

  kc1, kc2 = (centred_kernel(x, w) for x, w in zip((x1, x2), widths))
  a1, a2 = (kc @ kc / (n - 1) + r * kc for kc in (kc1, kc2))
  t = inverse_sqrt(a1) @ (kc1 @ kc2 / (n - 1)) @ inverse_sqrt(a2)
  return np.linalg.svd(t, compute_uv=False)[:k]
