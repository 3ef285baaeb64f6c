"""Closed-form linear CCA family: CCA, ridge CCA, the ridge path to PLS, PLS, MCCA and GCCA.

Methods. `fit_cca` is CCA (Hotelling 1936) and, with ridges r_i, ridge CCA (Vinod 1976); its
`shrinkage` c_i in [0, 1] walks the ridge path between CCA (c = 0) and PLS (c = 1), each view's
covariance replaced by (1 - c_i) S_ii + c_i I (the canonical ridge of Vinod 1976 in the
parametrisation of Tenenhaus and Tenenhaus 2011's RGCCA and of cca_zoo's rCCA/`RidgeCCA`).
Ridge and shrinkage combine into one regularised covariance

  C_i = (1 - c_i) S_ii + (c_i + r_i) I,

the one code path of every fit. `fit_pls` is PLS-SVD at c = 1 or canonical PLS with deflation
(Wegelin 2000); `fit_mcca` (SUMCOR) and `fit_gcca` (MAXVAR) take m views.

`fit_*` return a `LinearCCAParams` pytree; `transform`, `inverse_transform`, `predict` and
`score` are pure functions of it. Each fit is jitted with the number of components static, so
it compiles once per shape and dtype (ridges and shrinkages are traced: a grid search over them
does not recompile), and it accepts arrays sharded over the sample axis (XLA reduces the
covariances across devices). Every fit is computed from the means and covariance blocks (one
pass over the data): the weights, the correlations and what `predict` needs (PLS-SVD, which
needs no S_ii for its weights, takes a second pass for S_ii W_i instead of computing S_ii;
views wider than the sample are worked on whole, below).
`crossjax.estimators` wraps them for scikit-learn (`Pipeline`, `GridSearchCV`).

Missing views (cca_zoo issue #14). A row that is NaN in every feature of a view is that
sample's view missing. The fits then estimate each view's mean from the rows where it is
observed and each covariance block S_ij from the rows where views i and j are both observed,
normalised by n_ij - 1 (pairwise deletion), so a sample missing one view still informs the
others. A row with some but not all NaN, any Inf, a view with fewer than two observed rows or
a pair of views with fewer than two common rows is a ValueError. Complete data run the fit
exactly as before; NaN rows are noticed from its non-finite means, checked, and the fit is run
again with the rows masked (a second compilation and pass, paid only by data with missing rows).
`transform` gives NaN rows for the missing rows of a view.

Views wider than the sample (more features than rows: brain voxels, genes). Where a view
has d_i > n and the views sit on one device, `fit_cca` (ridge CCA and its path to PLS),
PLS-SVD, MCCA and GCCA work in the sample space instead: each wide view is whitened from the
eigenvectors of its n x n Gram matrix (`_whitened_scores`), so no d_i x d_i block is formed,
and the weights are the same (up to the components' signs) in O(n^2 sum_i d_i + (m n)^3) flops
instead of O(n (sum_i d_i)^2 + (sum_i d_i)^3): 500 x (2000, 1500) in float64 on 2 CPU cores,
0.11 s against 2.5 s for ridge CCA. Missing rows, sharded arrays and canonical PLS keep the
covariance path.

Rank-deficient views. Each view is whitened with the pseudo-inverse square root of its
covariance: directions with variance at or below rcond (default 1e-5) times the largest are
dropped instead of being blown up into spurious correlations (see
`objectives.inverse_sqrt_psd`). This is what makes r = 0 work on MNIST halves, whose border
pixels are constant (test total correlation 28.4 for k = 50, as the paper's 28.0; a textbook
fit with a machine-epsilon cut-off overfits rare pixels and gets 27.9, a peer library 17.5).
Give r > 0 for ridge CCA as well. Where the ridge and shrinkage bound the eigenvalues away from
the cut, no direction can be dropped and an inverse Cholesky factor whitens instead, the same
weights for less work (`objectives.whitening`).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossjax import objectives

Array = jax.Array


class LinearCCAParams(NamedTuple):
  """A fitted linear CCA model (m views, k components).

  means: per view, the (d_i,) training mean.
  weights: per view, the (d_i, k) projection; column j of view i gives the j-th canonical
    variate z_ij = (x_i - mean_i) w_ij.
  correlations: (k,) training correlation of each component, averaged over the m (m - 1) / 2
    pairs of views: diag(W_i^T S_ij W_j) / sqrt(v_i v_j). For MCCA, GCCA and PLS,
    v_i = diag(W_i^T S_ii W_i): the plain correlations of the training variates, which
    cca_zoo's `score` averages (its `average_pairwise_correlations` of `transform` on the
    training views). For `fit_cca`, v_i = diag(W_i^T (S_ii + r_i I) W_i): with r = 0 the
    plain correlations whatever the shrinkage (the whole CCA-to-PLS path compares with cca_zoo's
    `RidgeCCA`, although at c > 0 the singular values of the fit are not correlations, and at
    c = 1 they are covariances), with r > 0 Vinod's (1976) ridge canonical correlations, the
    singular values of the ridge problem (what kernel CCA's dual reports). In the order of the
    components, which the fit's own objective sets: descending for CCA and ridge CCA, not
    necessarily on the shrinkage path or for PLS. `component_correlations` gives the plain
    correlations on any data.
  feature_covariances: per view, the (d_i, k) training covariances S_ii W_i of each feature
    with each of its view's variates (`inference.loadings` are the matching correlations).
    With the variate covariances they give the least-squares map from a view's variates back
    to the view (`inverse_transform`).
  variate_covariance: (m, m, k, k) training covariances of the variates, block (i, j) being
    C_ij = W_i^T S_ij W_j (`inverse_transform`, `predict`).
  """
  means: tuple[Array, ...]
  weights: tuple[Array, ...]
  correlations: Array
  feature_covariances: tuple[Array, ...]
  variate_covariance: Array


# ------------------------------------------------------------------------------ helpers


def as_float(x) -> Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.result_type(float))
  return x


def _check_shrinkage(c, view: int) -> None:
  """Raises ValueError unless a concrete shrinkage is in [0, 1]."""
  if not isinstance(c, jax.core.Tracer):
    value = float(c)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
      raise ValueError(f'shrinkage of view {view} must be in [0, 1] (0: CCA, 1: PLS), got '
                       f'{value}')


def _prepare(views, ridges, shrinkages, k, multiview: bool = False):
  """Validates views, regularisers and k; returns (float views, ridges, shrinkages, k).

  k is at most n - 1 and the smallest view width (two views) or the summed widths (m views).
  """
  views = [as_float(v) for v in views]
  n = objectives.check_views(views, check_values=False)  # values: inside the jitted fit
  if multiview and len(views) < 2:
    raise ValueError(f'multi-view CCA needs at least 2 views, got {len(views)}')
  shrinkages = objectives.per_view(shrinkages, len(views))
  for i, (ridge, c) in enumerate(zip(ridges, shrinkages), start=1):
    objectives.check_regulariser(ridge, f'r{i}')
    _check_shrinkage(c, i)
  widths = [v.shape[1] for v in views]
  limit = min(n - 1, sum(widths) if multiview else min(widths))
  k = objectives.check_components(
      k, limit, 'at most min(feature dimensions, n - 1) components are identifiable')
  dtype = views[0].dtype
  return (views, tuple(jnp.asarray(r, dtype) for r in ridges),
          tuple(jnp.asarray(c, dtype) for c in shrinkages), k)


# Rows per chunk when accumulating covariances on one device (see `_moments`).
CHUNK_ROWS = 2048


def _chunk_rows(views) -> int:
  """CHUNK_ROWS for arrays on one device; 0 (one product per block) for sharded arrays."""
  sharded = any(len(v.sharding.device_set) > 1 for v in views)
  return 0 if sharded else CHUNK_ROWS


def _moments(views, pairs, chunk_rows: int, missing: bool):
  """Means and covariance blocks Sigma_ij = (X_i - m_i)^T (X_j - m_j) / (n - 1), (i, j) in pairs.

  With missing, rows that are NaN (whole rows: checked before) are missing from their view:
  m_i averages the n_i rows where view i is observed, and Sigma_ij sums over the n_ij rows
  where both views are, divided by n_ij - 1 (pairwise deletion). Missing rows are zeroed after
  centring, so they add nothing to any product (see `_centred_row_sums`).
  """
  means, divisors = _means_and_divisors(views, pairs, missing)
  sums = _centred_row_sums(views, means, lambda centred: [centred[i].T @ centred[j]
                                                          for i, j in pairs],
                           chunk_rows, missing)
  return means, {pair: total / divisor for pair, total, divisor in zip(pairs, sums, divisors)}


def _means_and_divisors(views, pairs, missing: bool):
  """The views' means and, per pair (i, j), n_ij - 1 (n - 1 without missing rows)."""
  if not missing:
    return [jnp.mean(v, axis=0) for v in views], [views[0].shape[0] - 1] * len(pairs)
  observed = [(~jnp.isnan(v[:, 0])).astype(v.dtype) for v in views]
  means = [jnp.nansum(v, axis=0) / jnp.sum(o) for v, o in zip(views, observed)]
  return means, [observed[i] @ observed[j] - 1 for i, j in pairs]


def _centred_row_sums(views, means, products, chunk_rows: int, missing: bool) -> list:
  """products(centred rows of every view), a list of sums over rows, summed over all rows.

  With chunk_rows, rows are accumulated chunk by chunk (`lax.scan`) so that each centred chunk
  stays in cache instead of whole centred copies going through memory (ridge CCA of 200 + 150
  features on 2 CPU cores: 7 % faster than one product at 54,000 rows in float32, 5 % at 8,000
  in float64, 8 % slower at 5,000, two chunks and a tail). Arrays sharded over devices take one
  product per block, reduced across devices.
  With missing, NaN (missing) rows are zeroed after centring.
  """
  def of_rows(rows):
    centred = [v - m for v, m in zip(rows, means)]
    if missing:
      centred = [jnp.where(jnp.isnan(c), 0.0, c) for c in centred]
    return products(centred)

  n = views[0].shape[0]
  if not chunk_rows or n < 2 * chunk_rows:
    return of_rows(views)
  chunks = n // chunk_rows
  zeros = [jnp.zeros(total.shape, total.dtype)
           for total in jax.eval_shape(of_rows, [v[:chunk_rows] for v in views])]

  def add_chunk(acc, start):
    # Chunks sliced inside the loop: no copy of the views' whole rows.
    rows = [jax.lax.dynamic_slice_in_dim(v, start, chunk_rows) for v in views]
    return [a + p for a, p in zip(acc, of_rows(rows))], None

  sums, _ = jax.lax.scan(add_chunk, zeros, jnp.arange(chunks) * chunk_rows)
  tails = of_rows([v[chunks * chunk_rows:] for v in views])
  return [total + tail for total, tail in zip(sums, tails)]


def _regularised(sigma, r, c):
  """C = (1 - c) Sigma + (c + r) I: ridge r (Vinod 1976), shrinkage c towards I (c = 1: PLS)."""
  return (1 - c) * sigma + (c + r) * jnp.eye(sigma.shape[0], dtype=sigma.dtype)


def _safe_divide(numerator, denominator):
  """numerator / denominator where denominator > 0, else 0 (a component without variance)."""
  positive = denominator > 0
  return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 0.0)


def _pairwise_correlations(views, weights) -> Array:
  """(k,) per-component correlation of the projections, averaged over pairs of views."""
  projections = [objectives.centre(v @ w) for v, w in zip(views, weights)]
  norms = [jnp.sqrt(jnp.sum(p * p, axis=0)) for p in projections]
  pairs = [(i, j) for i in range(len(views)) for j in range(i + 1, len(views))]
  return sum(_safe_divide(jnp.sum(projections[i] * projections[j], axis=0), norms[i] * norms[j])
             for i, j in pairs) / len(pairs)


def _finish(means, sigma, weights, variance_ridges=None, feature_covariances=None):
  """The params of a fit from its moments and weights, and the finiteness flags of the means.

  Everything but the weights comes from the covariance blocks (see `LinearCCAParams`), so no
  fit passes over the data again (but PLS-SVD, below). variance_ridges: the r_i added to each
  view's variance in `correlations` (`fit_cca`), or None for the plain correlations.
  feature_covariances: the S_ii W_i where sigma lacks the diagonal blocks S_ii (PLS-SVD), else
  None.
  """
  m = len(weights)
  if feature_covariances is None:
    feature_covariances = tuple(sigma[i, i] @ w for i, w in enumerate(weights))
  blocks = {(i, j): weights[i].T @ (feature_covariances[i] if i == j
                                    else sigma[i, j] @ weights[j])
            for i in range(m) for j in range(i, m)}
  return _assemble(means, weights, feature_covariances, blocks, variance_ridges)


def _finish_from_scores(means, centred, weights, variance_ridges=None):
  """`_finish` from the centred views instead of covariance blocks, for views too wide for
  their d x d blocks: with Z_i = X_i W_i, S_ii W_i = X_i^T Z_i / (n - 1) and
  W_i^T S_ij W_j = Z_i^T Z_j / (n - 1), n d_i k flops each."""
  n, m = centred[0].shape[0], len(weights)
  scores = [x @ w for x, w in zip(centred, weights)]
  feature_covariances = tuple(x.T @ z / (n - 1) for x, z in zip(centred, scores))
  blocks = {(i, j): scores[i].T @ scores[j] / (n - 1) for i in range(m) for j in range(i, m)}
  return _assemble(means, weights, feature_covariances, blocks, variance_ridges)


def _assemble(means, weights, feature_covariances, blocks, variance_ridges):
  """The params from the weights, the S_ii W_i and the variate blocks W_i^T S_ij W_j (i <= j),
  and the finiteness flags of the means (see `_finish`)."""
  m = len(weights)
  variate_covariance = jnp.stack([jnp.stack([blocks[i, j] if i <= j else blocks[j, i].T
                                             for j in range(m)]) for i in range(m)])
  variances = [jnp.diag(blocks[i, i]) for i in range(m)]
  if variance_ridges is not None:
    variances = [v + r * jnp.sum(w * w, axis=0)
                 for v, r, w in zip(variances, variance_ridges, weights)]
  pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
  correlations = sum(_safe_divide(jnp.diag(blocks[i, j]), jnp.sqrt(variances[i] * variances[j]))
                     for i, j in pairs) / len(pairs)
  params = LinearCCAParams(tuple(means), tuple(weights), correlations, tuple(feature_covariances),
                           variate_covariance)
  # Finite means <=> finite values (see objectives.raise_if_not_finite): no extra pass.
  return params, tuple(objectives.all_finite(mean) for mean in means)


def _missing_rows(view, i: int) -> np.ndarray:
  """(n,) bool: the rows of view i (1-based) that are NaN in every feature, i.e. missing.

  Raises ValueError for any other non-finite value: Inf, or a row only partly NaN.
  """
  missing = jnp.all(jnp.isnan(view), axis=1)
  bad = np.asarray(jnp.any(~jnp.isfinite(view), axis=1) & ~missing)
  if bad.any():
    row = int(np.argmax(bad))
    raise ValueError(f'view {i} contains NaN or Inf values in row {row} that are not a missing '
                     f'row: a sample missing from a view must be NaN in all '
                     f'{view.shape[1]} features, and Inf is never allowed')
  return np.asarray(missing)


def _check_missing(views, finite) -> None:
  """Raises ValueError unless the non-finite values behind the flags are whole NaN rows,
  leaving each view at least 2 observed rows and each pair of views at least 2 common ones."""
  observed = []
  for i, (view, flag) in enumerate(zip(views, finite), start=1):
    if not bool(flag) and bool(objectives.all_finite(view)):
      # Finite values whose sums overflow: objectives words that error.
      objectives.raise_if_not_finite([j != i for j in range(1, len(views) + 1)], views)
    observed.append(np.ones(view.shape[0], bool) if bool(flag) else ~_missing_rows(view, i))
  for i, rows in enumerate(observed, start=1):
    if rows.sum() < 2:
      raise ValueError(f'view {i} is observed in {rows.sum()} rows (the others are all NaN); '
                       'its covariance needs at least 2')
  for i in range(len(views)):
    for j in range(i + 1, len(views)):
      common = int(np.sum(observed[i] & observed[j]))
      if common < 2:
        raise ValueError(f'views {i + 1} and {j + 1} are both observed in only {common} rows; '
                         'their cross-covariance needs at least 2')


def _run(jitted_fit, views, *penalties, sample_space_fit=None, **static) -> LinearCCAParams:
  """Runs a jitted fit on complete data; where the means are not finite, checks for missing
  (all-NaN) rows and fits again with them masked (see the module docstring).

  sample_space_fit: the fit's counterpart in the sample space (`_fit_cca_in_sample_space`),
  run instead where a view has more features than there are samples and the views sit on one
  device; missing rows still take jitted_fit's masked path.
  """
  views = tuple(views)
  chunk_rows = _chunk_rows(views)
  wide = any(v.shape[1] > v.shape[0] for v in views)
  if sample_space_fit is not None and wide and chunk_rows:
    params, finite = sample_space_fit(views, *penalties, **static)
  else:
    params, finite = jitted_fit(views, *penalties, chunk_rows=chunk_rows, missing=False,
                                **static)
  if all(bool(flag) for flag in finite):
    return params
  _check_missing(views, finite)
  params, finite = jitted_fit(views, *penalties, chunk_rows=chunk_rows, missing=True, **static)
  if not all(bool(flag) for flag in finite):
    objectives.raise_if_not_finite(finite, [jnp.nan_to_num(v, nan=0.0) for v in views])
  return params


# ------------------------------------------------------------------------ CCA and PLS


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows', 'missing'))
def _fit_cca(views, ridges, shrinkages, *, k, rcond, chunk_rows, missing):
  means, sigma = _moments(views, [(0, 0), (1, 1), (0, 1)], chunk_rows, missing)
  w1, w2 = (objectives.whitening(_regularised(sigma[i, i], r, c), r + c, rcond)
            for i, (r, c) in enumerate(zip(ridges, shrinkages)))
  u, _, vt = jnp.linalg.svd(w1.T @ sigma[0, 1] @ w2, full_matrices=False)
  return _finish(means, sigma, (w1 @ u[:, :k], w2 @ vt[:k].T), ridges)


class _Whitened(NamedTuple):
  """A view whitened for the sample-space fits (`_whitened_scores`)."""
  scores: Array                        # Y = X W, (n, m)
  apply: Callable[[Array], Array]      # P (m, k) -> W P (d, k)
  regularised: Array                   # W^T C W (m, m): I on the directions kept


def _whitened_scores(centred, r, c, rcond) -> _Whitened:
  """Whitened scores Y = X W of a centred view X (n x d), where W whitens
  C = (1 - c) S + (c + r) I, S = X^T X / (n - 1): W^T C W = I on the directions kept.

  With d <= n, W is `objectives.whitening`'s (d x d). With d > n it comes from the Gram
  matrix G = X X^T / (n - 1) = U diag(l) U^T (n x n, n^2 d flops against n d^2 for S), whose
  nonzero eigenvalues l are S's, with eigenvectors V = X^T U diag(l)^{-1/2} / sqrt(n - 1). On
  span(V), C has the eigenvalues mu = (1 - c) l + c + r, so W = V diag(mu)^{-1/2} and
  Y = sqrt(n - 1) U diag(sqrt(l / mu)). C's other directions are orthogonal to every row of X:
  no covariance with another view reaches them, and the fits need none of them. Dropped, as
  columns of zeros: directions with l at rounding level (l <= n eps max(l), where V is
  undefined) and those with mu at or below rcond times the largest (`objectives.
  inverse_sqrt_psd`'s cut, which only r = c = 0 can reach, as in `objectives.whitening`).
  """
  n, d = centred.shape
  if d <= n:
    regularised = _regularised(centred.T @ centred / (n - 1), r, c)
    w = objectives.whitening(regularised, r + c, rcond)
    return _Whitened(centred @ w, lambda p: w @ p, w.T @ regularised @ w)
  l, u = jnp.linalg.eigh(centred @ centred.T / (n - 1))
  mu = (1 - c) * l + (c + r)
  keep = (l > n * jnp.finfo(l.dtype).eps * jnp.max(l)) & (mu > rcond * jnp.max(mu))
  l, mu = jnp.where(keep, l, 1.0), jnp.where(keep, mu, 1.0)
  inverse = jnp.where(keep, jax.lax.rsqrt((n - 1) * l * mu), 0.0)
  return _Whitened(u * jnp.where(keep, jnp.sqrt((n - 1) * l / mu), 0.0),
                   lambda p: centred.T @ (u @ (inverse[:, None] * p)),
                   jnp.diag(keep.astype(l.dtype)))


def _centred_and_whitened(views, ridges, shrinkages, rcond):
  """Means, centred views and `_whitened_scores` of each, for the sample-space fits."""
  means = [jnp.mean(v, axis=0) for v in views]
  centred = [v - mean for v, mean in zip(views, means)]
  return means, centred, [_whitened_scores(x, r, c, rcond)
                          for x, r, c in zip(centred, ridges, shrinkages)]


@functools.partial(jax.jit, static_argnames=('k', 'rcond'))
def _fit_cca_in_sample_space(views, ridges, shrinkages, *, k, rcond):
  """`_fit_cca` for views wider than the sample (some d_i > n): the SVD of the whitened
  cross-covariance Y1^T Y2 / (n - 1) of the whitened scores (`_whitened_scores`), at most
  n x n, instead of C1^{-1/2} S12 C2^{-1/2}, d1 x d2; the same weights (up to the signs of
  components) in O(n^2 (d1 + d2) + n^3) flops instead of O(n (d1 + d2)^2 + d1^3 + d2^3)."""
  n = views[0].shape[0]
  means, centred, (first, second) = _centred_and_whitened(views, ridges, shrinkages, rcond)
  u, _, vt = jnp.linalg.svd(first.scores.T @ second.scores / (n - 1), full_matrices=False)
  weights = (first.apply(u[:, :k]), second.apply(vt[:k].T))
  return _finish_from_scores(means, centred, weights, ridges)


def fit_cca(x1_NxD, x2_NxE, k: int | None = None, r1: float = 0.0, r2: float = 0.0,
            rcond: float = objectives.DEFAULT_RCOND, *,
            shrinkage: float | Sequence[float] = 0.0) -> LinearCCAParams:
  """Linear CCA (Hotelling 1936); ridge CCA (Vinod 1976) with r1, r2 > 0; the ridge path to
  PLS with shrinkage c = (c1, c2) in [0, 1] (one value for both views, or one per view).

  Maximises w1^T S12 w2 subject to w_i^T C_i w_i = 1, C_i = (1 - c_i) S_ii + (c_i + r_i) I, in
  k successive components: the SVD C1^{-1/2} S12 C2^{-1/2} = U S V^T gives w1 = C1^{-1/2} U_k,
  w2 = C2^{-1/2} V_k. c = 0 is (ridge) CCA; c = 1 is PLS-SVD (Wegelin 2000), the SVD of S12;
  in between is cca_zoo's rCCA / `RidgeCCA(shrinkage=c)` (Tenenhaus and Tenenhaus 2011's
  tau). As (1 - c) S + c I = (1 - c) (S + c / (1 - c) I), shrinkage c < 1 finds the directions
  of ridge r = c / (1 - c), with weights scaled by 1 / sqrt(1 - c). Pseudo-inverse square
  roots (`rcond`) handle rank-deficient views when r = c = 0. See `LinearCCAParams` for what
  `correlations` holds on this path; all-NaN rows are missing samples, and views wider than
  the sample are fitted in the sample space (module docstring).
  """
  (x1, x2), ridges, shrinkages, k = _prepare([x1_NxD, x2_NxE], [r1, r2], shrinkage, k)
  return _run(_fit_cca, (x1, x2), ridges, shrinkages, k=k, rcond=rcond,
              sample_space_fit=_fit_cca_in_sample_space)


@functools.partial(jax.jit, static_argnames=('k', 'chunk_rows', 'missing'))
def _fit_pls_svd(views, *, k, chunk_rows, missing):
  # Only S12 is needed for the weights; the S_ii W_i of the params take a second, cheap pass
  # (2 n d_i k flops against n d_i^2 for S_ii).
  pairs = [(0, 1), (0, 0), (1, 1)]
  means, divisors = _means_and_divisors(views, pairs, missing)
  (s12,) = _centred_row_sums(views, means, lambda c: [c[0].T @ c[1]], chunk_rows, missing)
  s12 = s12 / divisors[0]
  u, _, vt = jnp.linalg.svd(s12, full_matrices=False)
  weights = (u[:, :k], vt[:k].T)
  products = _centred_row_sums(views, means, lambda c: [x.T @ (x @ w) for x, w in
                                                        zip(c, weights)], chunk_rows, missing)
  return _finish(means, {(0, 1): s12}, weights,
                 feature_covariances=[p / d for p, d in zip(products, divisors[1:])])


def _loading(sigma, w):
  """Regression of a view on its score t = X w: p = X^T t / t^T t = Sigma w / (w^T Sigma w)."""
  return _safe_divide(sigma @ w, w @ sigma @ w)


@functools.partial(jax.jit, static_argnames=('k', 'chunk_rows', 'missing'))
def _fit_pls_canonical(views, *, k, chunk_rows, missing):
  means, sigma = _moments(views, [(0, 0), (1, 1), (0, 1)], chunk_rows, missing)

  def component(blocks, _):
    s11, s22, s12 = blocks
    u, s, vt = jnp.linalg.svd(s12, full_matrices=False)
    w, c, rho = u[:, 0], vt[0], s[0]
    p, q = _loading(s11, w), _loading(s22, c)
    # Each view deflated by its own score, X <- X - t p^T, Y <- Y - u q^T, written on the
    # covariances with w^T S12 = rho c^T and S12 c = rho w.
    deflated = (s11 - jnp.outer(s11 @ w, p), s22 - jnp.outer(s22 @ c, q),
                s12 - rho * (jnp.outer(p, c) + jnp.outer(w, q) - jnp.outer(p, q)))
    return deflated, (w, c, p, q)

  _, (w, c, p, q) = jax.lax.scan(component, (sigma[0, 0], sigma[1, 1], sigma[0, 1]), None,
                                 length=k)
  # Rotations W (P^T W)^+ give the deflated views' scores from the original ones.
  rotations = tuple(a.T @ jnp.linalg.pinv(b @ a.T) for a, b in ((w, p), (c, q)))
  return _finish(means, sigma, rotations)


def fit_pls(x1_NxD, x2_NxE, k: int | None = None, mode: str = 'svd') -> LinearCCAParams:
  """Partial least squares of two views: maximise cov(X1 w1, X2 w2) with ||w_i|| = 1.

  mode 'svd': PLS-SVD (Wegelin 2000, scikit-learn's `PLSSVD`; cca_zoo's `PLS`): the top-k
    singular vectors of S12, i.e. `fit_cca` with shrinkage 1, without computing S11 and S22
    (the feature covariances S_ii W_i take a second pass over the data instead). The scores of
    different components are correlated within a view.
  mode 'canonical': canonical PLS, Wegelin's PLS-W2A (scikit-learn's `PLSCanonical`): one
    component at a time, w_j and c_j the top singular pair of the current S12, then each view
    deflated by its own score t = X w (X <- X - t p^T, p = X^T t / t^T t, and alike for the
    second view), so the scores are uncorrelated within each view. The weights stored are
    the rotations W (P^T W)^{-1}, which give the same scores from the undeflated views.
    k SVDs of S12 (d x e), written on the covariance blocks.

  `correlations` are the plain training correlations of the scores (`LinearCCAParams`), not
  the covariances the method maximises. All-NaN rows are missing samples (module docstring).
  """
  if mode not in ('svd', 'canonical'):
    raise ValueError(f"mode must be 'svd' or 'canonical', got {mode!r}")
  views, _, _, k = _prepare([x1_NxD, x2_NxE], [0.0, 0.0], 0.0, k)
  if mode == 'canonical':
    return _run(_fit_pls_canonical, views, k=k)
  return _run(_fit_pls_svd, views, k=k, sample_space_fit=_fit_pls_svd_in_sample_space)


def _fit_pls_svd_in_sample_space(views, *, k):
  """PLS-SVD for views wider than the sample: `_fit_cca_in_sample_space` at shrinkage 1, where
  W_i = V_i and the SVD is that of V1^T S12 V2 (S12 = V1 (V1^T S12 V2) V2^T)."""
  zero, one = jnp.zeros((), views[0].dtype), jnp.ones((), views[0].dtype)
  return _fit_cca_in_sample_space(views, (zero, zero), (one, one), k=k,
                                  rcond=objectives.DEFAULT_RCOND)


# ------------------------------------------------------------------------- MCCA and GCCA


def _fit_multiview(jitted_fit, sample_space_fit, views, k, r, shrinkage,
                   rcond) -> LinearCCAParams:
  """Validates m views and runs one of the jitted multi-view fits on them."""
  views, ridges, shrinkages, k = _prepare(views, objectives.per_view(r, len(views)), shrinkage,
                                          k, multiview=True)
  return _run(jitted_fit, views, ridges, shrinkages, k=k, rcond=rcond,
              sample_space_fit=sample_space_fit)


def _joint_eigh(whitened: dict, widths):
  """Eigenvalues (descending) of the symmetric joint matrix of the blocks whitened[i, j],
  i <= j, and its eigenvectors split into per-view blocks of the given widths."""
  m = len(widths)
  joint = jnp.block([[whitened[i, j] if i <= j else whitened[j, i].T for j in range(m)]
                     for i in range(m)])
  eigenvalues, eigenvectors = jnp.linalg.eigh(joint)
  blocks = jnp.split(eigenvectors[:, ::-1], np.cumsum(widths)[:-1], axis=0)
  return eigenvalues[::-1], blocks


def _whitened_joint_eigh(views, ridges, shrinkages, rcond, chunk_rows, missing,
                         regularised_diagonal: bool):
  """Eigendecomposition of D^{-1/2} Sigma D^{-1/2}, D = blockdiag(C_i), C_i the regularised
  covariances; with regularised_diagonal, Sigma's diagonal blocks S_ii are replaced by C_i.

  Returns means, the covariance blocks, the C_i, their whitenings W_i (W_i^T C_i W_i = I, see
  `objectives.whitening`: D^{-1/2} stands for blockdiag(W_i) and its transpose), eigenvalues
  (descending) and the eigenvectors split into per-view blocks.
  """
  m = len(views)
  means, sigma = _moments(views, [(i, j) for i in range(m) for j in range(i, m)], chunk_rows,
                          missing)
  covs = [_regularised(sigma[i, i], r, c) for i, (r, c) in enumerate(zip(ridges, shrinkages))]
  whitenings = [objectives.whitening(cov, r + c, rcond)
                for cov, r, c in zip(covs, ridges, shrinkages)]
  whitened = {(i, j): whitenings[i].T @ (covs[i] if i == j and regularised_diagonal
                                         else sigma[i, j]) @ whitenings[j]
              for i in range(m) for j in range(i, m)}
  eigenvalues, blocks = _joint_eigh(whitened, [v.shape[1] for v in views])
  return means, sigma, covs, whitenings, eigenvalues, blocks


def _whitened_joint_eigh_in_sample_space(views, ridges, shrinkages, rcond,
                                         regularised_diagonal: bool):
  """`_whitened_joint_eigh` for views wider than the sample, from the whitened scores Y_i
  (`_whitened_scores`): W_i^T S_ij W_j = Y_i^T Y_j / (n - 1), and W_i^T C_i W_i on the diagonal
  with regularised_diagonal. The joint matrix is at most m n square instead of sum_i d_i.
  Returns means, centred views, the `_Whitened` views, eigenvalues and eigenvector blocks."""
  n, m = views[0].shape[0], len(views)
  means, centred, whitened_views = _centred_and_whitened(views, ridges, shrinkages, rcond)
  whitened = {(i, j): (whitened_views[i].regularised if i == j and regularised_diagonal
                       else whitened_views[i].scores.T @ whitened_views[j].scores / (n - 1))
              for i in range(m) for j in range(i, m)}
  eigenvalues, blocks = _joint_eigh(whitened, [w.scores.shape[1] for w in whitened_views])
  return means, centred, whitened_views, eigenvalues, blocks


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows', 'missing'))
def _fit_mcca(views, ridges, shrinkages, *, k, rcond, chunk_rows, missing):
  means, sigma, covs, whitenings, _, blocks = _whitened_joint_eigh(
      views, ridges, shrinkages, rcond, chunk_rows, missing, regularised_diagonal=True)
  weights = []
  for cov, whitening, block in zip(covs, whitenings, blocks):
    w = whitening @ block[:, :k]
    variance = jnp.sum(w * (cov @ w), axis=0)
    weights.append(w * _safe_divide(1.0, jnp.sqrt(variance)))
  return _finish(means, sigma, weights)


@functools.partial(jax.jit, static_argnames=('k', 'rcond'))
def _fit_mcca_in_sample_space(views, ridges, shrinkages, *, k, rcond):
  """`_fit_mcca` for views wider than the sample; a view's C-variance of w = W b is
  b^T (W^T C W) b."""
  means, centred, whitened, _, blocks = _whitened_joint_eigh_in_sample_space(
      views, ridges, shrinkages, rcond, regularised_diagonal=True)
  weights = []
  for view, block in zip(whitened, blocks):
    b = block[:, :k]
    variance = jnp.sum(b * (view.regularised @ b), axis=0)
    weights.append(view.apply(b) * _safe_divide(1.0, jnp.sqrt(variance)))
  return _finish_from_scores(means, centred, weights)


def fit_mcca(views: Sequence, k: int | None = None, r: float | Sequence[float] = 0.0,
             rcond: float = objectives.DEFAULT_RCOND, *,
             shrinkage: float | Sequence[float] = 0.0) -> LinearCCAParams:
  """Multiset CCA (Kettenring 1971, SUMCOR as a generalised eigenproblem; Nielsen 2002).

  Maximises sum_{i != j} w_i^T S_ij w_j subject to sum_i w_i^T C_i w_i = 1, with the
  regularised C_i = (1 - c_i) S_ii + (c_i + r_i) I: the generalised eigenproblem
  (Sigma - blockdiag(S_ii) + D) u = lambda D u, D = blockdiag(C_i), Sigma the joint covariance
  of all views (cca_zoo's `MCCA`, RGCCA's criterion with Tenenhaus' tau = c). The top-k
  eigenvectors, split by view and scaled to unit C_i-variance, are the weights. For two views
  the weights are those of `fit_cca` with the same r and c (lambda = 1 + rho); r = c = 0 is
  Sigma u = lambda blockdiag(S_ii) u, and c = 1 multi-view PLS. All-NaN rows are missing
  samples (module docstring).
  """
  return _fit_multiview(_fit_mcca, _fit_mcca_in_sample_space, views, k, r, shrinkage, rcond)


@functools.partial(jax.jit, static_argnames=('k', 'rcond', 'chunk_rows', 'missing'))
def _fit_gcca(views, ridges, shrinkages, *, k, rcond, chunk_rows, missing):
  means, sigma, _, whitenings, eigenvalues, blocks = _whitened_joint_eigh(
      views, ridges, shrinkages, rcond, chunk_rows, missing, regularised_diagonal=False)
  # The consensus G (unit-variance columns) is the sum of the view projections X_i W_i:
  # G = sum_i X_i C_i^{-1/2} u_i / sqrt(lambda) up to the (n - 1) scaling.
  scale = _safe_divide(1.0, jnp.sqrt(eigenvalues[:k]))
  weights = [whitening @ block[:, :k] * scale for whitening, block in zip(whitenings, blocks)]
  return _finish(means, sigma, weights)


@functools.partial(jax.jit, static_argnames=('k', 'rcond'))
def _fit_gcca_in_sample_space(views, ridges, shrinkages, *, k, rcond):
  """`_fit_gcca` for views wider than the sample."""
  means, centred, whitened, eigenvalues, blocks = _whitened_joint_eigh_in_sample_space(
      views, ridges, shrinkages, rcond, regularised_diagonal=False)
  scale = _safe_divide(1.0, jnp.sqrt(eigenvalues[:k]))
  return _finish_from_scores(means, centred, [view.apply(block[:, :k]) * scale
                                              for view, block in zip(whitened, blocks)])


def fit_gcca(views: Sequence, k: int | None = None, r: float | Sequence[float] = 0.0,
             rcond: float = objectives.DEFAULT_RCOND, *,
             shrinkage: float | Sequence[float] = 0.0) -> LinearCCAParams:
  """Generalised CCA, MAXVAR form (Carroll 1968; Kettenring 1971).

  Finds a shared representation G (n x k, unit-variance uncorrelated columns) minimising
  sum_i ||G - X_i W_i||^2: G holds the top-k eigenvectors of sum_i X_i C_i^{-1} X_i^T / (n - 1),
  C_i = (1 - c_i) S_ii + (c_i + r_i) I the regularised covariance (cca_zoo's `GCCA` with
  shrinkage c). The weights are scaled so that, on the training data, sum_i X_i W_i = G:
  summing the `transform` outputs of all views gives the consensus. It is the eigenproblem
  Sigma u = lambda D u, D = blockdiag(C_i): MCCA's with Sigma's diagonal blocks kept; they also
  differ in how the per-view weights are scaled. All-NaN rows are missing samples (module
  docstring); the consensus identity then holds on the complete rows only.
  """
  return _fit_multiview(_fit_gcca, _fit_gcca_in_sample_space, views, k, r, shrinkage, rcond)


# --------------------------------------------------- transform, prediction and score


def _view_index(params: LinearCCAParams, view, name: str) -> int:
  m = len(params.weights)
  if not isinstance(view, (int, np.integer)) or isinstance(view, bool) or not 0 <= view < m:
    raise ValueError(f'{name} must be a view index in [0, {m}), got {view!r}')
  return int(view)


def _checked(params: LinearCCAParams, views: dict, allow_missing: bool) -> dict:
  """The given views ({index: array}) as float arrays, checked against the fitted widths;
  with allow_missing, all-NaN rows pass (other non-finite values never do)."""
  views = {i: as_float(v) for i, v in views.items()}
  objectives.check_views(list(views.values()), min_samples=1, check_values=not allow_missing)
  for i, view in views.items():
    width = params.weights[i].shape[0]
    if view.shape[1] != width:
      raise ValueError(
          f'view {i + 1} has {view.shape[1]} features, the model was fitted on {width}')
    if allow_missing and not bool(objectives.all_finite(view)):
      _missing_rows(view, i + 1)
  return views


def _check_against(params: LinearCCAParams, views, allow_missing: bool) -> list[Array]:
  if len(views) != len(params.weights):
    raise ValueError(f'the model was fitted on {len(params.weights)} views, got {len(views)}')
  return list(_checked(params, dict(enumerate(views)), allow_missing).values())


@jax.jit
def _transform(params, views):
  return tuple((v - m) @ w for v, m, w in zip(views, params.means, params.weights))


def transform(params: LinearCCAParams, *views) -> tuple[Array, ...]:
  """Projects each view: Z_i = (X_i - mean_i) W_i, shape (n, k); NaN rows (missing) stay NaN."""
  return _transform(params, tuple(_check_against(params, views, allow_missing=True)))


def _back_to_view(params, z, i):
  """mean_i + z L_i^T, L_i = S_ii W_i C_ii^+: the least-squares regression of the training
  view i on its own variates."""
  c_ii = params.variate_covariance[i, i]
  return (params.means[i]
          + z @ jnp.linalg.pinv(c_ii, hermitian=True) @ params.feature_covariances[i].T)


@functools.partial(jax.jit, static_argnames='i')
def _inverse_transform(params, z, *, i):
  return _back_to_view(params, z, i)


def inverse_transform(params: LinearCCAParams, z_NxK, view: int) -> Array:
  """Maps canonical variates back to a view's space: X_i^ = mean_i + Z L_i^T, shape (n, d_i).

  L_i = S_ii W_i (W_i^T S_ii W_i)^+ is the least-squares regression of the training view on
  its own variates (from `LinearCCAParams.feature_covariances` and `variate_covariance`); for
  CCA, whose training variates are uncorrelated with unit variance, L_i = S_ii W_i. As
  scikit-learn's `PCA.inverse_transform` and cca_zoo's `inverse_transform` (equal to it on
  cca_zoo's fits): with k < d_i it recovers the part of the view that the variates span.
  `view` is the 0-based index of the view.
  """
  i = _view_index(params, view, 'view')
  z = as_float(z_NxK)
  k = params.weights[i].shape[1]
  if z.ndim != 2 or z.shape[1] != k:
    raise ValueError(f'expected variates of shape (n, {k}), got {tuple(z.shape)}')
  return _inverse_transform(params, z, i=i)


@functools.partial(jax.jit, static_argnames=('sources', 'target'))
def _predict(params, views, *, sources, target):
  z = jnp.concatenate([(v - params.means[i]) @ params.weights[i]
                       for i, v in zip(sources, views)], axis=1)
  c = params.variate_covariance
  c_oo = jnp.block([[c[i, j] for j in sources] for i in sources])
  c_ot = jnp.concatenate([c[i, target] for i in sources], axis=0)
  return _back_to_view(params, z @ jnp.linalg.pinv(c_oo, hermitian=True) @ c_ot, target)


def predict(params: LinearCCAParams, views: Sequence, target: int) -> Array:
  """Predicts view `target` (0-based) from the variates of the other given views, (n, d_t).

  views: one entry per fitted view, an (n, d_i) array or None; the target's entry is
  ignored, and the prediction uses every other view that is given (at least one).

  The target's variates are the least-squares combination of the given views' variates
  z_o = [z_i], fitted on the training covariances C_ij = W_i^T S_ij W_j
  (`LinearCCAParams.variate_covariance`): z_t^ = z_o C_oo^+ C_ot, mapped back by
  `inverse_transform`: x_t^ = mean_t + z_t^ L_t^T. For two-view CCA, C_11 = I and
  C_12 = diag(rho), so z_2^ = diag(rho) z_1, E[z_2 | z_1] in the Gaussian model, and x_2^ is
  the least-squares regression of X2 on the k variates of X1. On the ridge path, for PLS
  and for m views C is taken as fitted, correlated variates included. A row missing from a
  given view (NaN) gives a NaN prediction: pass only the views observed on those rows.
  (cca_zoo's `predict` instead regresses the target on the mean of the given views' variates.)
  """
  if len(views) != len(params.weights):
    raise ValueError(f'the model was fitted on {len(params.weights)} views, got {len(views)} '
                     '(pass None for a view not given)')
  target = _view_index(params, target, 'target')
  given = {i: v for i, v in enumerate(views) if v is not None and i != target}
  if not given:
    raise ValueError(f'predict needs at least one view other than the target {target}')
  given = _checked(params, given, allow_missing=True)
  return _predict(params, tuple(given.values()), sources=tuple(given), target=target)


@jax.jit
def _component_correlations(params, views):
  return _pairwise_correlations(views, [w for w in params.weights])


def component_correlations(params: LinearCCAParams, *views) -> Array:
  """(k,) correlation of each component on the given data (averaged over view pairs).

  The views must be complete (no NaN rows).
  """
  views = _check_against(params, views, allow_missing=False)
  if views[0].shape[0] < 2:
    raise ValueError('need at least 2 samples to measure a correlation')
  return _component_correlations(params, tuple(views))


def score(params: LinearCCAParams, *views) -> Array:
  """Total correlation: the sum over the k components of `component_correlations`.

  Andrew et al. (2013) report this on held-out data (28.0 for k = 50 on MNIST halves).
  """
  return jnp.sum(component_correlations(params, *views))
