"""Pure CCA objectives on arrays: covariances, whitening, canonical correlations, Deep CCA,
CCA-EY and multi-view (MCCA/GCCA) objectives.

Every function here is a pure function of arrays, safe under `jax.jit`, `jax.vmap` and
`jax.grad`. Shapes are in the argument names: `z1_BxD` is a batch of B samples of a
D-dimensional view. Views are centred inside each function, so callers pass raw outputs.

Value checks (NaN/Inf, a negative regulariser, a singular covariance) need concrete values:
they raise `ValueError` when a function is called eagerly and are skipped under a
transformation, where a bad value shows up as NaN in the result. Shape checks always raise.

Gradients. The popular Deep CCA implementations differentiate through an eigendecomposition
(1/(l_i - l_j) terms) or an element-wise matrix square root, and fail when canonical
correlations repeat, vanish, or an output unit is constant. Here each view is whitened through
a Cholesky factor (well-conditioned gradients whenever the ridge makes the covariance positive
definite) and the sum of the top-k singular (or eigen-) values has the custom VJP
U_k V_k^T (or Q_k Q_k^T), which is the exact gradient whenever s_k > s_{k+1} and involves no
differences of singular values. Where a singular value is exactly zero (a constant output
unit, say) the trace norm has a kink and the VJP takes the minimum-norm subgradient.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


# ----------------------------------------------------------------------------- validation


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_views(views: Sequence[Array], min_samples: int = 2,
                check_values: bool = True) -> int:
  """Raises ValueError unless `views` are 2-D arrays with one, shared sample count >= 2.

  With check_values, finiteness is checked where values are concrete (not under jit); callers
  that run their own jitted computation check `all_finite` there instead, saving a pass.
  Returns the sample count.
  """
  if len(views) < 1:
    raise ValueError('expected at least one view, got none')
  n = None
  for i, view in enumerate(views, start=1):
    shape = jnp.shape(view)
    if len(shape) != 2:
      raise ValueError(
          f'view {i} must be a 2-D array (samples, features), got shape {tuple(shape)}')
    if shape[1] < 1:
      raise ValueError(f'view {i} has no features (shape {tuple(shape)})')
    if n is None:
      n = shape[0]
    elif shape[0] != n:
      raise ValueError(
          f'views have different sample counts: view 1 has {n}, view {i} has {shape[0]}')
    if check_values and _is_concrete(view) and not bool(all_finite(jnp.asarray(view))):
      raise ValueError(f'view {i} contains NaN or Inf values')
  if n < min_samples:
    raise ValueError(f'need at least {min_samples} samples, got {n}')
  return n


def all_finite(x: Array) -> Array:
  """A boolean scalar: no NaN or Inf in x."""
  return jnp.all(jnp.isfinite(x))


def raise_if_not_finite(flags: Sequence, views: Sequence) -> None:
  """Raises ValueError naming the first view whose `all_finite` flag is False.

  The flags may be those of the column means: a NaN or Inf anywhere in a column makes its mean
  non-finite, so d means stand in for a pass over n x d values. Only a failed check looks at
  the values, to tell NaN or Inf from finite values whose sums overflow.
  """
  for i, flag in enumerate(flags, start=1):
    if not bool(flag):
      if bool(all_finite(views[i - 1])):
        raise ValueError(f'view {i}: its column sums overflow {views[i - 1].dtype}; rescale '
                         'the view')
      raise ValueError(f'view {i} contains NaN or Inf values')


def check_regulariser(r, name: str = 'r') -> None:
  """Raises ValueError for a negative or non-finite ridge regulariser (concrete values)."""
  if _is_concrete(r):
    value = float(r)
    if not value >= 0.0 or value == float('inf'):
      raise ValueError(f'regulariser {name} must be finite and >= 0, got {value}')


def check_components(k: int | None, max_k: int, why: str) -> int:
  """Returns k (all of `max_k` when None); ValueError unless 1 <= k <= max_k."""
  if k is None:
    return max_k
  if not isinstance(k, int) or isinstance(k, bool):
    raise ValueError(f'k must be an int, got {k!r}')
  if not 1 <= k <= max_k:
    raise ValueError(f'k={k} must be between 1 and {max_k} ({why})')
  return k


# ---------------------------------------------------------------------------- covariances


def centre(z_BxD: Array) -> Array:
  """Subtracts the batch mean of each column."""
  return z_BxD - jnp.mean(z_BxD, axis=0, keepdims=True)


def cross_covariance(z1_BxD: Array, z2_BxE: Array) -> Array:
  """Sigma12 = (Z1 - mean)^T (Z2 - mean) / (B - 1), shape (D, E)."""
  b = z1_BxD.shape[0]
  return centre(z1_BxD).T @ centre(z2_BxE) / (b - 1)


def covariance(z_BxD: Array, r: float | Array = 0.0) -> Array:
  """Sigma = (Z - mean)^T (Z - mean) / (B - 1) + r I, shape (D, D)."""
  sigma = cross_covariance(z_BxD, z_BxD)
  return sigma + r * jnp.eye(sigma.shape[0], dtype=sigma.dtype)


def covariances(z1_BxD: Array, z2_BxE: Array, r1: float | Array = 0.0,
                r2: float | Array = 0.0) -> tuple[Array, Array, Array]:
  """(Sigma11 + r1 I, Sigma22 + r2 I, Sigma12): the ridge-regularised covariances of two views."""
  check_views([z1_BxD, z2_BxE])
  check_regulariser(r1, 'r1')
  check_regulariser(r2, 'r2')
  return covariance(z1_BxD, r1), covariance(z2_BxE, r2), cross_covariance(z1_BxD, z2_BxE)


# Relative variance below which a direction counts as absent (see `inverse_sqrt_psd`).
DEFAULT_RCOND = 1e-5


def inverse_sqrt_psd(sigma_DxD: Array, rcond: float = DEFAULT_RCOND) -> Array:
  """Symmetric pseudo-inverse square root Sigma^{+1/2} of a PSD matrix, via eigh.

  Eigenvalues at or below rcond * the largest are treated as zero, so directions without
  (meaningful) variance, such as constant pixels, are dropped instead of being amplified into
  spurious correlations. The default 1e-5 does not depend on the dtype, so float32 and float64
  fits agree, and it sits well above float32 rounding of a covariance. Being relative to the
  largest variance, it assumes features on comparable scales: standardise them first if not.
  For closed-form fits only: the gradient of eigh has 1/(l_i - l_j) terms, so differentiable
  objectives whiten with a Cholesky factor instead.
  """
  eigenvalues, eigenvectors = jnp.linalg.eigh(sigma_DxD)
  keep = eigenvalues > rcond * jnp.max(eigenvalues)
  inv_sqrt = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, eigenvalues, 1.0)), 0.0)
  return (eigenvectors * inv_sqrt) @ eigenvectors.T


def _check_positive_definite(factor: Array, view: int, r_name: str) -> None:
  if _is_concrete(factor) and not bool(jnp.all(jnp.isfinite(factor))):
    raise ValueError(
        f'the covariance of view {view} is singular (rank-deficient: constant or collinear '
        f'features, or fewer samples than features); pass {r_name} > 0, or use '
        f'crossjax.linear.fit_cca, which drops null directions (pseudo-inverse)')


def whitened_cross_covariance(z1_BxD: Array, z2_BxE: Array, r1: float | Array = 0.0,
                              r2: float | Array = 0.0) -> Array:
  """T = L1^{-1} Sigma12 L2^{-T}, with L_i L_i^T = Sigma_ii + r_i I (Cholesky), shape (D, E).

  T has the singular values of Sigma11^{-1/2} Sigma12 Sigma22^{-1/2}: the canonical
  correlations. A singular covariance (r = 0 with a rank-deficient view) raises ValueError
  when called eagerly and gives NaN under jit.
  """
  s11, s22, s12 = covariances(z1_BxD, z2_BxE, r1, r2)
  l1 = jnp.linalg.cholesky(s11)
  l2 = jnp.linalg.cholesky(s22)
  _check_positive_definite(l1, 1, 'r1')
  _check_positive_definite(l2, 2, 'r2')
  left = jax.scipy.linalg.solve_triangular(l1, s12, lower=True)
  return jax.scipy.linalg.solve_triangular(l2, left.T, lower=True).T


# --------------------------------------------------------------- spectra with stable VJPs


@jax.custom_vjp
def singular_values(t_DxE: Array) -> Array:
  """Singular values of T in descending order, with a VJP free of 1/(s_i - s_j) terms.

  VJP: U diag(g) V^T over the non-zero singular values. At an exactly zero singular value the
  sum of singular values has a kink (|s|) and no gradient; this takes the minimum-norm
  subgradient there (zero on the null space), which is what central differences see.
  """
  return jnp.linalg.svd(t_DxE, compute_uv=False)


def _singular_values_fwd(t_DxE):
  u, s, vt = jnp.linalg.svd(t_DxE, full_matrices=False)
  return s, (u, s, vt)


def _singular_values_bwd(residuals, g):
  u, s, vt = residuals
  tolerance = max(u.shape[0], vt.shape[1]) * jnp.finfo(s.dtype).eps * s[0]
  return ((u * jnp.where(s > tolerance, g, 0.0)) @ vt,)


singular_values.defvjp(_singular_values_fwd, _singular_values_bwd)


@jax.custom_vjp
def symmetric_eigenvalues(m_DxD: Array) -> Array:
  """Eigenvalues of a symmetric M in descending order; VJP Q diag(g) Q^T."""
  return jnp.linalg.eigvalsh(m_DxD)[::-1]


def _symmetric_eigenvalues_fwd(m_DxD):
  eigenvalues, q = jnp.linalg.eigh(m_DxD)
  return eigenvalues[::-1], q[:, ::-1]


def _symmetric_eigenvalues_bwd(q, g):
  return ((q * g) @ q.T,)


symmetric_eigenvalues.defvjp(_symmetric_eigenvalues_fwd, _symmetric_eigenvalues_bwd)


# ------------------------------------------------------------------ two-view correlations


def canonical_correlations(z1_BxD: Array, z2_BxE: Array, k: int | None = None,
                           r1: float | Array = 0.0, r2: float | Array = 0.0) -> Array:
  """Top-k canonical correlations: singular values of Sigma11^{-1/2} Sigma12 Sigma22^{-1/2}.

  Hotelling (1936). With ridges r1, r2 the covariances are Sigma_ii + r_i I (Vinod 1976).
  k defaults to min(D, E) and may not exceed min(D, E, B - 1).

  Returns: (k,) correlations in descending order.
  """
  b = check_views([z1_BxD, z2_BxE])
  k = check_components(k, min(z1_BxD.shape[1], z2_BxE.shape[1], b - 1),
                       'at most min(D, E, B - 1) canonical correlations exist')
  return singular_values(whitened_cross_covariance(z1_BxD, z2_BxE, r1, r2))[:k]


def dcca_objective(z1_BxD: Array, z2_BxE: Array, k: int | None = None,
                   r1: float | Array = 1e-4, r2: float | Array = 1e-4) -> Array:
  """Deep CCA objective (Andrew et al. 2013): the sum of the top-k canonical correlations.

  corr(H1, H2) = sum_{i<=k} s_i(T), T = (S11 + r1 I)^{-1/2} S12 (S22 + r2 I)^{-1/2};
  with k = min(D, E) this is the trace norm ||T||_* of the paper. Maximise it. The gradient
  with respect to T is U_k V_k^T, exact whenever s_k > s_{k+1} (always for k = all when the
  views have full rank, including repeated and zero correlations). The default ridges are
  those of the paper's code; they keep a constant unit or B < D well-posed.
  """
  check_views([z1_BxD, z2_BxE])
  k = check_components(k, min(z1_BxD.shape[1], z2_BxE.shape[1]),
                       'at most min(D, E) canonical correlations exist')
  return jnp.sum(singular_values(whitened_cross_covariance(z1_BxD, z2_BxE, r1, r2))[:k])


# -------------------------------------------------------------------------------- CCA-EY


def _ey_terms(views: Sequence[Array]) -> tuple[Array, Array]:
  """(A, B) for the CCA GEP in the representation space (Chapman et al. 2023, eq. for CCA).

  A = sum_{i != j} Cov(Z_i, Z_j) and B = sum_i Cov(Z_i, Z_i), both (K, K).
  """
  check_views(views)
  widths = {view.shape[1] for view in views}
  if len(widths) != 1:
    raise ValueError(f'CCA-EY needs views of one width K, got widths {sorted(widths)}')
  if len(views) < 2:
    raise ValueError(f'CCA-EY needs at least 2 views, got {len(views)}')
  centred = [centre(view) for view in views]
  b = views[0].shape[0]
  total = sum(centred)
  within = sum(c.T @ c for c in centred) / (b - 1)
  everything = total.T @ total / (b - 1)  # sum over all (i, j) pairs
  return everything - within, within


def cca_ey_objective(views: Sequence[Array]) -> Array:
  """Biased CCA-EY objective from one batch (Chapman, Aguila and Wells 2023).

  EY(Z) = 2 tr(A) - ||B||_F^2 with A = sum_{i != j} Cov(Z_i, Z_j), B = sum_i Cov(Z_i, Z_i).
  Maximise it. For linear Z_i = X_i W_i its maximum over W is the sum of the K largest squared
  eigenvalues of the CCA generalised eigenproblem: sum_{i<=K} rho_i^2 for two views. Biased
  because ||B||^2 is estimated from the same batch.
  """
  a, b = _ey_terms(views)
  return 2.0 * jnp.trace(a) - jnp.sum(b * b)


def cca_ey_objective_unbiased(views_first: Sequence[Array],
                              views_second: Sequence[Array]) -> Array:
  """Unbiased CCA-EY objective from two independent batches (Chapman et al. 2023).

  EY = tr(A1) + tr(A2) - tr(B1 B2): E[tr(B1 B2)] = ||E B||_F^2 for independent batches, so
  the estimate (and its gradient) is unbiased at any batch size.
  """
  a1, b1 = _ey_terms(views_first)
  a2, b2 = _ey_terms(views_second)
  return jnp.trace(a1) + jnp.trace(a2) - jnp.sum(b1 * b2)


# ------------------------------------------------------------------ multi-view (MCCA/GCCA)


def mcca_eigenvalues(views: Sequence[Array], k: int | None = None,
                     r: float | Array | Sequence = 1e-4) -> Array:
  """Top-k eigenvalues of the MCCA eigenproblem Sigma u = lambda D u.

  Sigma is the joint covariance of all m views, D = blockdiag(Sigma_ii + r_i I) (Kettenring
  1971; Nielsen 2002). Computed as the eigenvalues of L^{-1} Sigma L^{-T}, L = blockdiag of
  Cholesky factors. They lie in [0, m]; for two views they are 1 +- rho_i. MAXVAR GCCA
  (Carroll 1968) has the same spectrum: the eigenvalues of sum_i X_i (X_i^T X_i + r_i I)^-1 X_i^T.
  """
  b = check_views(views)
  if len(views) < 2:
    raise ValueError(f'multi-view CCA needs at least 2 views, got {len(views)}')
  ridges = per_view(r, len(views))
  total = sum(view.shape[1] for view in views)
  k = check_components(k, min(total, b - 1), 'at most min(sum of widths, B - 1)')
  whitened = []
  for i, (view, ridge) in enumerate(zip(views, ridges), start=1):
    check_regulariser(ridge, f'r[{i - 1}]')
    factor = jnp.linalg.cholesky(covariance(view, ridge))
    _check_positive_definite(factor, i, f'r[{i - 1}]')
    # Rows of (L_i^{-1} Z_i^T): the whitened view; the whitened joint covariance is then
    # their Gram matrix, with no (sum d)^2 inverse formed.
    whitened.append(jax.scipy.linalg.solve_triangular(factor, centre(view).T, lower=True))
  stacked = jnp.concatenate(whitened, axis=0)
  return symmetric_eigenvalues(stacked @ stacked.T / (b - 1))[:k]


def mcca_objective(views: Sequence[Array], k: int | None = None,
                   r: float | Array | Sequence = 1e-4) -> Array:
  """Multi-view Deep CCA objective: the sum of the top-k MCCA eigenvalues (maximise).

  For two views it is k + the sum of the top-k canonical correlations. Gradient Q_k Q_k^T,
  exact whenever lambda_k > lambda_{k+1}.
  """
  return jnp.sum(mcca_eigenvalues(views, k, r))


def per_view(r, m: int) -> list:
  if isinstance(r, (list, tuple)):
    if len(r) != m:
      raise ValueError(f'got {len(r)} regularisers for {m} views')
    return list(r)
  return [r] * m
