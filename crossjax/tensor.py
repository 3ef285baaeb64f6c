"""Tensor CCA (Luo, Tao, Ramamohanarao, Xu and Wen 2015) for m >= 2 views.

Luo et al., "Tensor canonical correlation analysis for multi-view dimension reduction", IEEE
TKDE 27(11), 2015. Each view is centred and whitened, x~_i = C_i^{-1/2} (x_i - mean_i), with
the regularised covariance C_i = (1 - c_i) S_ii + (c_i + r_i) I of `crossjax.linear` (ridge
r_i, shrinkage c_i), and the covariance tensor of the m views

  M = 1/(n - 1) sum_n x~_1n o x~_2n o ... o x~_mn      (d_1 x ... x d_m)

is approximated by a rank-k CP (PARAFAC) decomposition sum_j lambda_j u_1j o ... o u_mj with
unit-norm factors, by alternating least squares (ALS) as in the paper. The weights of view i
are w_ij = C_i^{-1/2} u_ij (unit training variance); for k = 1, lambda is the high-order
canonical correlation rho = E[z_1 z_2 ... z_m] of the unit-variance variates z_i = X_i w_i,
which the rank-1 factors maximise. For m = 2, M is the whitened cross-covariance and the rank-1
fit is CCA's first pair (lambda = its canonical correlation; for k > 1 a matrix's CP factors
are not unique, so use `linear.fit_cca`).

M is never formed. The ALS update of mode i needs M contracted with the other modes' factors,

  M_(i) (U_m kr ... kr U_1, without i) = 1/(n - 1) X~_i^T (*_{j != i} X~_j U_j),

(kr: Khatri-Rao product, *: element-wise product of the n x k projections), followed by the
k x k solve with *_{j != i} U_j^T U_j. With C_i^{-1/2} applied to the factors rather than to
the data, one sweep costs O(n k sum d_i + k sum d_i^2) time; memory is one centred copy of
the views plus O(n k m): wide views and many views are fine (M has prod d_i entries).

Note: a Gaussian distribution has vanishing third and higher odd moments, so for m = 3 the
population tensor of jointly Gaussian views is zero (for even m it is not, but it is then
made of the pairwise covariances): tensor CCA finds high-order structure in non-Gaussian data
(skewed or heavy-tailed latent factors). On `crossjax.data.simulate`'s Gaussian views it fits
sampling noise; use MCCA there.

Relation to cca_zoo 4.0.1 (`cca_zoo.linear.TCCA`). cca_zoo whitens with the same shrinkage
(1 - c) S_ii + c I, but floors the spectrum at 1e-6 of the largest eigenvalue where this drops
the directions at or below rcond times it (pseudo-inverse, as in `crossjax.linear`) and has no
separate ridge; it forms M explicitly (with 1/n, its covariances with 1/(n - 1)) and
decomposes it with tensorly's `parafac` (ALS, initialised from the leading left singular
vectors of each unfolding, or randomly). Here M and the covariances share the 1/(n - 1), so
m = 2 reproduces CCA's correlation (cca_zoo's lambda is (n - 1)/n of this one), and ALS starts
from the leading left singular vectors of each view's whitened cross-covariances with all
other views (the MCCA-like directions; for m = 2 exactly CCA's), which needs no unfolding of
M (unfolding i has d_i x prod_{j != i} d_j entries). ALS finds a local optimum: where the
tensor has a clear low-rank structure both starts reach the same one (tests/test_tensor.py
compares with a textbook ALS on the explicit tensor, started from the unfoldings).

The fit is one jitted `lax.while_loop` (compiled once per shape, dtype and k; ridges,
shrinkages, max_iterations and tol are traced). It stops when no factor entry moves by more
than tol in a sweep, or after max_iterations sweeps; the result records `converged` and
`iterations`, and `fit_tcca` warns when ALS did not converge. For k > 1 the best rank-k
approximation may not exist (CP degeneracy): diverging lambdas with nearly opposite factors
are then a sign to lower k. Signs: see the orientation note in `_fit_tcca`.

`TensorCCAParams.cca` is a `linear.LinearCCAParams` of the tensor CCA weights (as
`kernel.KernelCCAParams` holds one), so every function of the linear family applies to it;
`transform` and `score` here pass it on. Views must be complete (no all-NaN missing rows).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from crossjax import linear
from crossjax import objectives

Array = jax.Array

# The fit shares the linear family's validation, moments, regularisation and params: one
# definition of each.
# pylint: disable=protected-access


class TensorCCAParams(NamedTuple):
  """A fitted tensor CCA model.

  cca: the `linear.LinearCCAParams` of the fit (means, weights, training correlations,
    loadings, variate covariances), for `linear.transform`, `inverse_transform`, `predict`,
    `component_correlations` and `score`. Its weights are C_i^{-1/2} U_i, unit (regularised)
    training variance per column, components in the order of cp_weights; its correlations are
    the plain training correlations averaged over the m (m - 1) / 2 pairs of views.
  cp_weights: (k,) the CP weights lambda_j >= 0 of the unit-norm factors, descending: the
    magnitudes of the high-order canonical correlations (exactly so for k = 1; the sign, for
    the weights' orientation, is that of `high_order_correlations` on the training data).
  converged: boolean scalar: the last ALS sweep moved no factor entry by more than tol.
  iterations: int scalar: ALS sweeps run.
  """
  cca: linear.LinearCCAParams
  cp_weights: Array
  converged: Array
  iterations: Array


def _product(arrays):
  return functools.reduce(jnp.multiply, arrays)


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows'))
def _fit_tcca(views, ridges, shrinkages, max_iterations, tol, *, k, rcond, chunk_rows):
  m, n = len(views), views[0].shape[0]
  dtype = views[0].dtype
  # The cross-covariance blocks serve the initialisation and the params' variate covariances.
  means, sigma = linear._moments(views, [(i, j) for i in range(m) for j in range(i, m)],
                                 chunk_rows, missing=False)
  covs = [linear._regularised(sigma[i, i], r, c)
          for i, (r, c) in enumerate(zip(ridges, shrinkages))]
  inv_sqrts = [objectives.inverse_sqrt_psd(c, rcond) for c in covs]
  # One centred copy of the views: the sweeps pass over the data, and centring after the
  # products (X V - 1 mean^T V) would lose digits to cancellation where |mean| >> spread.
  centred = [v - mean for v, mean in zip(views, means)]

  def cross(i, j):  # whitened cross-covariance of views i and j
    return inv_sqrts[i] @ (sigma[i, j] if i < j else sigma[j, i].T) @ inv_sqrts[j]

  factors = tuple(
      jnp.linalg.svd(jnp.concatenate([cross(i, j) for j in range(m) if j != i], axis=1),
                     full_matrices=False)[0][:, :k]
      for i in range(m))

  def project(i, u_DxK):  # X~_i U_i, (n, k)
    return centred[i] @ (inv_sqrts[i] @ u_DxK)

  def sweep(state):
    old, projections, _, iteration, _ = state
    factors, projections = list(old), list(projections)
    for i in range(m):
      others = [j for j in range(m) if j != i]
      contracted = inv_sqrts[i] @ (centred[i].T @ _product([projections[j] for j in others]))
      # The k x k normal equations: (*_{j != i} U_j^T U_j) is PSD with a unit diagonal; its
      # pseudo-inverse (by eigh, cheaper to compile than LU) guards collinear components.
      gram_inv_sqrt = objectives.inverse_sqrt_psd(
          _product([factors[j].T @ factors[j] for j in others]))
      u = contracted @ gram_inv_sqrt @ gram_inv_sqrt / (n - 1)
      cp_weights = jnp.linalg.norm(u, axis=0)
      factors[i] = u * linear._safe_divide(1.0, cp_weights)
      projections[i] = project(i, factors[i])
    change = jnp.max(jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in zip(factors, old)]))
    return tuple(factors), tuple(projections), cp_weights, iteration + 1, change

  def running(state):
    *_, iteration, change = state
    return (iteration < max_iterations) & ~(change <= tol)

  state = (factors, tuple(project(i, u) for i, u in enumerate(factors)), jnp.zeros(k, dtype),
           jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, dtype))
  factors, projections, cp_weights, iterations, change = jax.lax.while_loop(running, sweep,
                                                                             state)

  # Orientation. The CP model fixes each component's factor signs only up to an even number of
  # flips; orient every view's variate to covary non-negatively with view 1's (so that the
  # pairwise correlations are those of aligned variates, as in MCCA) and, for odd m, flip all
  # views together where that makes the high-order correlation E[z_1 ... z_m] non-negative.
  signs = [jnp.ones(k, dtype)] + [jnp.where(jnp.sum(projections[0] * p, axis=0) < 0, -1.0, 1.0)
                                  for p in projections[1:]]
  if m % 2:
    moment = jnp.sum(_product([p * s for p, s in zip(projections, signs)]), axis=0)
    signs = [jnp.where(moment < 0, -s, s) for s in signs]
  order = jnp.argsort(-cp_weights)
  weights = []
  for cov, inv_sqrt, u, sign in zip(covs, inv_sqrts, factors, signs):
    w = inv_sqrt @ (u * sign)[:, order]
    weights.append(w * linear._safe_divide(1.0, jnp.sqrt(jnp.sum(w * (cov @ w), axis=0))))
  cca, finite = linear._finish(means, sigma, weights)
  return (TensorCCAParams(cca, cp_weights[order], converged=change <= tol,
                          iterations=iterations), change, finite)


def fit_tcca(views: Sequence, k: int = 1, r: float | Sequence[float] = 0.0,
             rcond: float = objectives.DEFAULT_RCOND, *,
             shrinkage: float | Sequence[float] = 0.0, max_iterations: int = 500,
             tol: float = 1e-6) -> TensorCCAParams:
  """Tensor CCA (Luo et al. 2015): rank-k CP of the whitened views' covariance tensor, by ALS.

  See the module docstring for the method, its cost and how it relates to cca_zoo's TCCA.

  Args:
    views: m >= 2 arrays (n, d_i), complete (no NaN or Inf).
    k: components (CP rank), at most min(d_i, n - 1).
    r: ridge r_i >= 0 (one for all views, or one per view).
    rcond: relative variance at or below which a whitening direction is dropped.
    shrinkage: c_i in [0, 1]; each view is whitened with C_i = (1 - c_i) S_ii + (c_i + r_i) I,
      as in `crossjax.linear` (c is cca_zoo's TCCA `shrinkage`).
    max_iterations: at most this many ALS sweeps (each updates every mode once).
    tol: convergence when no entry of the unit-norm whitened factors moves by more than tol
      in a sweep (1e-6 suits float64 and well-separated components in float32; use about
      1e-5 for float32 otherwise).

  Returns:
    `TensorCCAParams`. A RuntimeWarning says when ALS did not converge (`converged` False).
  """
  views = list(views)
  if len(views) < 2:
    raise ValueError(f'tensor CCA needs at least 2 views, got {len(views)}')
  views, ridges, shrinkages, k = linear._prepare(views, objectives.per_view(r, len(views)),
                                                 shrinkage, k)
  if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) \
      or max_iterations < 1:
    raise ValueError(f'max_iterations must be an int >= 1, got {max_iterations!r}')
  if not 0 < float(tol) < math.inf:
    raise ValueError(f'tol must be a finite number > 0, got {tol!r}')
  params, change, finite = _fit_tcca(
      tuple(views), ridges, shrinkages, jnp.asarray(max_iterations, jnp.int32),
      jnp.asarray(tol, views[0].dtype), k=k, rcond=rcond, chunk_rows=linear._chunk_rows(views))
  objectives.raise_if_not_finite(finite, views)
  if not bool(params.converged):
    warnings.warn(
        f'tensor CCA: ALS did not converge in {int(params.iterations)} sweeps (a factor entry '
        f'moved by {float(change):.2e} > tol {tol:g} in the last one); raise max_iterations '
        'or tol, or lower k (a rank-k CP may not exist)', RuntimeWarning, stacklevel=2)
  return params


def transform(params: TensorCCAParams, *views) -> tuple[Array, ...]:
  """Projects each view: Z_i = (X_i - mean_i) W_i, shape (n, k) (`linear.transform`)."""
  return linear.transform(params.cca, *views)


def score(params: TensorCCAParams, *views) -> Array:
  """Total pairwise correlation on the given views, as `linear.score` for the other fits."""
  return linear.score(params.cca, *views)


@jax.jit
def _high_order_correlations(projections):
  n = projections[0].shape[0]
  centred = [objectives.centre(z) for z in projections]
  scales = _product([jnp.sqrt(jnp.sum(z * z, axis=0) / (n - 1)) for z in centred])
  return linear._safe_divide(jnp.sum(_product(centred), axis=0) / (n - 1), scales)


def high_order_correlations(params: TensorCCAParams, *views) -> Array:
  """(k,) high-order correlation of each component on the given, complete views.

  rho_j = 1/(n - 1) sum_n prod_i z_inj, where z_ij = X_i w_ij is centred and scaled to unit
  variance on this data (Luo et al. 2015): <M, u_1j o ... o u_mj> for this data's covariance
  tensor. On the training data, for k = 1 and r = c = 0, it is the fitted cp_weights (at
  convergence).
  """
  projections = transform(params, *views)
  if projections[0].shape[0] < 2:
    raise ValueError('need at least 2 samples to measure a correlation')
  if not all(bool(objectives.all_finite(z)) for z in projections):
    raise ValueError('high-order correlations need complete views (no NaN rows)')
  return _high_order_correlations(projections)
