"""Closed-form linear CCA family: CCA, ridge CCA, MCCA and GCCA for m views.

`fit_*` return a `LinearCCAParams` pytree; `transform` and `score` are pure functions of it.
Each fit is jitted with the number of components static, so it compiles once per shape and
dtype (regularisers are traced: a grid search over them does not recompile), and it accepts
arrays sharded over the sample axis (XLA reduces the covariances across devices).
`crossjax.estimators` wraps them for scikit-learn (`Pipeline`, `GridSearchCV`).

Rank-deficient views. Each view is whitened with the pseudo-inverse square root of its
covariance: directions with variance at or below rcond (default 1e-5) times the largest are
dropped instead of being blown up into spurious correlations (see
`objectives.inverse_sqrt_psd`). This is what makes r = 0 work on MNIST halves, whose border
pixels are constant (test total correlation 28.4 for k = 50, as the paper's 28.0; a textbook
fit with a machine-epsilon cut-off overfits rare pixels and gets 27.9, a peer library 17.5).
Give r > 0 for ridge CCA as well.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossjax import objectives

Array = jax.Array


class LinearCCAParams(NamedTuple):
  """A fitted linear CCA model.

  means: per view, the (d_i,) training mean.
  weights: per view, the (d_i, k) projection; column j of view i gives the j-th canonical
    variate X_i w_ij, with unit variance under the (regularised) training covariance.
  correlations: (k,) training correlation of each component (for m > 2 views, averaged over
    the m (m - 1) / 2 pairs of views), in descending order.
  """
  means: tuple[Array, ...]
  weights: tuple[Array, ...]
  correlations: Array


# ------------------------------------------------------------------------------ helpers


def as_float(x) -> Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.result_type(float))
  return x


def _prepare(views, ridges, k, multiview: bool = False):
  """Validates views, regularisers and k; returns (float views, ridges, k).

  k is at most n - 1 and the smallest view width (two views) or the summed widths (m views).
  """
  views = [as_float(v) for v in views]
  n = objectives.check_views(views, check_values=False)  # values: inside the jitted fit
  if multiview and len(views) < 2:
    raise ValueError(f'multi-view CCA needs at least 2 views, got {len(views)}')
  for i, ridge in enumerate(ridges, start=1):
    objectives.check_regulariser(ridge, f'r{i}')
  widths = [v.shape[1] for v in views]
  limit = min(n - 1, sum(widths) if multiview else min(widths))
  k = objectives.check_components(
      k, limit, 'at most min(feature dimensions, n - 1) components are identifiable')
  return views, [jnp.asarray(r, views[0].dtype) for r in ridges], k


# Rows per chunk when accumulating covariances on one device (see `_moments`).
CHUNK_ROWS = 2048


def _chunk_rows(views) -> int:
  """CHUNK_ROWS for arrays on one device; 0 (one product per block) for sharded arrays."""
  sharded = any(len(v.sharding.device_set) > 1 for v in views)
  return 0 if sharded else CHUNK_ROWS


def _moments(views, pairs, chunk_rows: int):
  """Means and covariance blocks Sigma_ij = (X_i - m_i)^T (X_j - m_j) / (n - 1), (i, j) in pairs.

  With chunk_rows, rows are accumulated chunk by chunk (`lax.scan`) so that each centred chunk
  stays in cache instead of whole centred copies going through memory: about a quarter faster
  on a CPU. Arrays sharded over devices take one product per block, reduced across devices.
  """
  n = views[0].shape[0]
  means = [jnp.mean(v, axis=0) for v in views]

  def products(rows):
    centred = [v - m for v, m in zip(rows, means)]
    return [centred[i].T @ centred[j] for i, j in pairs]

  if not chunk_rows or n < 2 * chunk_rows:
    sums = products(views)
  else:
    chunks = n // chunk_rows
    heads = [v[:chunks * chunk_rows].reshape(chunks, chunk_rows, -1) for v in views]
    zeros = [jnp.zeros((views[i].shape[1], views[j].shape[1]), views[0].dtype)
             for i, j in pairs]
    sums, _ = jax.lax.scan(lambda acc, rows: ([a + p for a, p in zip(acc, products(rows))],
                                              None), zeros, heads)
    tails = products([v[chunks * chunk_rows:] for v in views])
    sums = [total + tail for total, tail in zip(sums, tails)]
  return means, {pair: total / (n - 1) for pair, total in zip(pairs, sums)}


def _regularised(sigma, r):
  return sigma + r * jnp.eye(sigma.shape[0], dtype=sigma.dtype)


def _pairwise_correlations(views, weights) -> Array:
  """(k,) per-component correlation of the projections, averaged over pairs of views."""
  projections = [objectives.centre(v @ w) for v, w in zip(views, weights)]
  norms = [jnp.sqrt(jnp.sum(p * p, axis=0)) for p in projections]
  pairs = [(i, j) for i in range(len(views)) for j in range(i + 1, len(views))]
  total = 0.0
  for i, j in pairs:
    inner = jnp.sum(projections[i] * projections[j], axis=0)
    denominator = norms[i] * norms[j]
    total = total + jnp.where(denominator > 0, inner / jnp.where(denominator > 0, denominator,
                                                                 1.0), 0.0)
  return total / len(pairs)


# ---------------------------------------------------------------------------------- CCA


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows'))
def _fit_cca(x1, x2, r1, r2, *, k, rcond, chunk_rows):
  (m1, m2), sigma = _moments([x1, x2], [(0, 0), (1, 1), (0, 1)], chunk_rows)
  w1 = objectives.inverse_sqrt_psd(_regularised(sigma[0, 0], r1), rcond)
  w2 = objectives.inverse_sqrt_psd(_regularised(sigma[1, 1], r2), rcond)
  s12 = sigma[0, 1]
  u, s, vt = jnp.linalg.svd(w1 @ s12 @ w2, full_matrices=False)
  params = LinearCCAParams(means=(m1, m2), weights=(w1 @ u[:, :k], w2 @ vt[:k].T),
                           correlations=s[:k])
  # Finite means <=> finite values (see objectives.raise_if_not_finite): no extra pass.
  return params, (objectives.all_finite(m1), objectives.all_finite(m2))


def fit_cca(x1_NxD, x2_NxE, k: int | None = None, r1: float = 0.0, r2: float = 0.0,
            rcond: float = objectives.DEFAULT_RCOND) -> LinearCCAParams:
  """Linear CCA (Hotelling 1936); ridge CCA (Vinod 1976) with r1, r2 > 0.

  Maximises corr(X1 w1, X2 w2) in k successive, uncorrelated components: the SVD
  (S11 + r1 I)^{-1/2} S12 (S22 + r2 I)^{-1/2} = U S V^T gives w1 = (S11 + r1 I)^{-1/2} U_k,
  w2 = (S22 + r2 I)^{-1/2} V_k and correlations S_k. Pseudo-inverse square roots (`rcond`)
  handle rank-deficient views when r = 0.
  """
  (x1, x2), (r1, r2), k = _prepare([x1_NxD, x2_NxE], [r1, r2], k)
  params, finite = _fit_cca(x1, x2, r1, r2, k=k, rcond=rcond,
                            chunk_rows=_chunk_rows([x1, x2]))
  objectives.raise_if_not_finite(finite, [x1, x2])
  return params


# ------------------------------------------------------------------------- MCCA and GCCA


def _fit_multiview(jitted_fit, views, k, r, rcond) -> LinearCCAParams:
  """Validates m views and runs one of the jitted multi-view fits on them."""
  views, ridges, k = _prepare(views, objectives.per_view(r, len(views)), k, multiview=True)
  params, finite = jitted_fit(tuple(views), tuple(ridges), k=k, rcond=rcond,
                              chunk_rows=_chunk_rows(views))
  objectives.raise_if_not_finite(finite, views)
  return params


def _whitened_joint_eigh(views, ridges, rcond, chunk_rows):
  """Eigendecomposition of D^{-1/2} Sigma D^{-1/2}, D = blockdiag(Sigma_ii + r_i I).

  Returns means, the regularised Sigma_ii, their inverse square roots, eigenvalues (descending)
  and the eigenvectors split into per-view blocks.
  """
  m = len(views)
  means, sigma = _moments(views, [(i, j) for i in range(m) for j in range(i, m)], chunk_rows)
  covs = [_regularised(sigma[i, i], r) for i, r in enumerate(ridges)]
  inv_sqrts = [objectives.inverse_sqrt_psd(c, rcond) for c in covs]
  whitened = {(i, j): inv_sqrts[i] @ sigma[i, j] @ inv_sqrts[j]
              for i in range(m) for j in range(i, m)}
  joint = jnp.block([[whitened[i, j] if i <= j else whitened[j, i].T for j in range(m)]
                     for i in range(m)])
  eigenvalues, eigenvectors = jnp.linalg.eigh(joint)
  splits = np.cumsum([v.shape[1] for v in views])[:-1]
  blocks = jnp.split(eigenvectors[:, ::-1], splits, axis=0)
  return means, covs, inv_sqrts, eigenvalues[::-1], blocks


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows'))
def _fit_mcca(views, ridges, *, k, rcond, chunk_rows):
  means, covs, inv_sqrts, _, blocks = _whitened_joint_eigh(views, ridges, rcond, chunk_rows)
  weights = []
  for cov, inv_sqrt, block in zip(covs, inv_sqrts, blocks):
    w = inv_sqrt @ block[:, :k]
    variance = jnp.sum(w * (cov @ w), axis=0)
    weights.append(w * jnp.where(variance > 0, jax.lax.rsqrt(jnp.where(variance > 0,
                                                                        variance, 1.0)), 0.0))
  return (LinearCCAParams(tuple(means), tuple(weights), _pairwise_correlations(views, weights)),
          tuple(objectives.all_finite(m) for m in means))


def fit_mcca(views: Sequence, k: int | None = None, r: float | Sequence[float] = 0.0,
             rcond: float = objectives.DEFAULT_RCOND) -> LinearCCAParams:
  """Multiset CCA (Kettenring 1971, SUMCOR as a generalised eigenproblem; Nielsen 2002).

  Solves Sigma u = lambda D u, Sigma the joint covariance of all views and
  D = blockdiag(Sigma_ii + r_i I); the top-k eigenvectors, split by view and scaled to unit
  variance, are the weights. For two views the weights are those of `fit_cca` (lambda = 1 + rho).
  """
  return _fit_multiview(_fit_mcca, views, k, r, rcond)


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows'))
def _fit_gcca(views, ridges, *, k, rcond, chunk_rows):
  means, _, inv_sqrts, eigenvalues, blocks = _whitened_joint_eigh(views, ridges, rcond,
                                                                  chunk_rows)
  # The consensus G (unit-variance columns) is the sum of the view projections X_i W_i:
  # G = sum_i X_i (X_i^T X_i + r_i I)^{-1/2} u_i / sqrt(lambda) up to the (n - 1) scaling.
  scale = jnp.where(eigenvalues[:k] > 0, jax.lax.rsqrt(jnp.where(eigenvalues[:k] > 0,
                                                                 eigenvalues[:k], 1.0)), 0.0)
  weights = [inv_sqrt @ block[:, :k] * scale for inv_sqrt, block in zip(inv_sqrts, blocks)]
  return (LinearCCAParams(tuple(means), tuple(weights), _pairwise_correlations(views, weights)),
          tuple(objectives.all_finite(m) for m in means))


def fit_gcca(views: Sequence, k: int | None = None, r: float | Sequence[float] = 0.0,
             rcond: float = objectives.DEFAULT_RCOND) -> LinearCCAParams:
  """Generalised CCA, MAXVAR form (Carroll 1968; Kettenring 1971).

  Finds a shared representation G (n x k, unit-variance uncorrelated columns) minimising
  sum_i ||G - X_i W_i||^2: G holds the top-k eigenvectors of sum_i X_i (X_i^T X_i + r_i I)^{-1}
  X_i^T. The weights are scaled so that, on the training data, sum_i X_i W_i = G: summing the
  `transform` outputs of all views gives the consensus. It shares MCCA's eigenproblem; they
  differ in how the per-view weights are scaled.
  """
  return _fit_multiview(_fit_gcca, views, k, r, rcond)


# ----------------------------------------------------------------- transform and score


def _check_against(params: LinearCCAParams, views) -> list[Array]:
  if len(views) != len(params.weights):
    raise ValueError(f'the model was fitted on {len(params.weights)} views, got {len(views)}')
  views = [as_float(v) for v in views]
  objectives.check_views(views, min_samples=1)
  for i, (view, w) in enumerate(zip(views, params.weights), start=1):
    if view.shape[1] != w.shape[0]:
      raise ValueError(
          f'view {i} has {view.shape[1]} features, the model was fitted on {w.shape[0]}')
  return views


@jax.jit
def _transform(params, views):
  return tuple((v - m) @ w for v, m, w in zip(views, params.means, params.weights))


def transform(params: LinearCCAParams, *views) -> tuple[Array, ...]:
  """Projects each view: Z_i = (X_i - mean_i) W_i, shape (n, k)."""
  return _transform(params, tuple(_check_against(params, views)))


@jax.jit
def _component_correlations(params, views):
  return _pairwise_correlations(views, [w for w in params.weights])


def component_correlations(params: LinearCCAParams, *views) -> Array:
  """(k,) correlation of each component on the given data (averaged over view pairs)."""
  views = _check_against(params, views)
  if views[0].shape[0] < 2:
    raise ValueError('need at least 2 samples to measure a correlation')
  return _component_correlations(params, tuple(views))


def score(params: LinearCCAParams, *views) -> Array:
  """Total correlation: the sum over the k components of `component_correlations`.

  Andrew et al. (2013) report this on held-out data (28.0 for k = 50 on MNIST halves).
  """
  return jnp.sum(component_correlations(params, *views))
