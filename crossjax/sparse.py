"""Sparse CCA: penalised matrix decomposition (PMD) and elastic-net CCA, penalty grids in one
compiled call, and penalties chosen by K-fold held-out correlation.

Both methods fit one component at a time by alternating per-view updates inside one jitted
function (`lax.while_loop` with a tolerance and an iteration limit, components by `lax.scan`),
and return a `SparseCCAParams` pytree that records, per component, whether the alternation
converged and how many iterations it took. The Python-level `fit_*` functions never return a
non-converged fit silently: they issue a `sklearn.exceptions.ConvergenceWarning` naming the
components, the iterations used and the limit to raise (turn it into an error with
`warnings.simplefilter('error', ConvergenceWarning)`). Penalties are traced, so
`fit_*_grid` vmaps a whole grid of penalty pairs through one compiled call, which
`select_*_penalty` reuses for every fold of its K-fold search (one compilation per shape).

`crossjax.linear.transform` and `crossjax.linear.score` accept the result.

Mapping to cca_zoo 4.0.1 (`cca_zoo.sparse`), for comparisons on the same data:

* `fit_pmd(c1, c2)` is `PMDCCA(l1_bound=[c1 / sqrt(d1), c2 / sqrt(d2)])` (and Witten's
  R package PMA: `CCA(penaltyx=c1 / sqrt(d1), penaltyz=c2 / sqrt(d2), standardize=FALSE)`).
  Same start (the leading singular pair of X1^T X2), update order, stopping rule (largest
  L2 change of a weight vector below `tol`) and defaults (tol=1e-6, max_iter=500), so the first
  component is the same. Later components differ by design: here, as in the paper and PMA,
  the cross-product matrix is deflated (X1^T X2 - d u v^T) and the weights act on the original
  views; cca_zoo deflates each view by its scores. PMA also standardises the views by default;
  here they are only centred, as in cca_zoo.
* `fit_elastic_net_cca(alpha, l1_ratio)` is `IPLSCCA(alpha=..., l1_ratio=...)` (cca_zoo's
  Waaijenborg/Mai-Zhang alternating regressions): the same scikit-learn `ElasticNet` objective
  with the same alpha and l1_ratio, the same unit-variance target and rescaling (population
  standard deviation), the same score deflation of each view and the same mapping of the
  weights back to the original views, W (P^T W)^{-1}. cca_zoo's `ElasticNetCCA` is another
  method (an elastic-net penalised Eckart-Young loss) and has no counterpart here.
  Components after the first start, as in PMA, from the next singular pair of the undeflated
  X1^T X2; cca_zoo restarts from the leading pair of the deflated views.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from crossjax import linear, objectives

Array = jax.Array

# Norms below this count as zero (a vector thresholded away, a constant score), as in cca_zoo.
_TINY = 1e-12


class SparseCCAParams(NamedTuple):
  """A fitted sparse CCA model (a grid of them when the leaves have leading grid axes).

  means: per view, the (d_i,) training mean.
  weights: per view, the (d_i, k) weights; column j gives the j-th variate (X_i - mean_i) w_ij.
    PMD: unit L2 norm. Elastic-net CCA: unit-variance variates (population variance).
  correlations: (k,) training correlation of each pair of variates, in component order.
  converged: (k,) whether each component's alternation met `tol` within `max_iter` (elastic
    net: and its last regressions met it within `inner_max_iter`).
  iterations: (k,) alternations run for each component.
  penalties: the penalties of the fit: PMD (c1, c2); elastic net (alpha1, alpha2, l1_ratio1,
    l1_ratio2).
  """
  means: tuple[Array, Array]
  weights: tuple[Array, Array]
  correlations: Array
  converged: Array
  iterations: Array
  penalties: tuple[Array, ...]


class PenaltySelection(NamedTuple):
  """The outcome of a K-fold penalty search.

  params: the fit on all rows with the chosen penalties.
  penalties: the chosen penalties, as in `SparseCCAParams.penalties`.
  grids: the candidate values of the two searched penalties (c1, c2 or alpha1, alpha2).
  cv_scores: (g1, g2) mean over folds of the held-out total correlation (the sum over the k
    components of the correlation of the held-out variates).
  fold_scores: (folds, g1, g2) the held-out total correlation of each fold.
  """
  params: SparseCCAParams
  penalties: tuple[float, ...]
  grids: tuple[np.ndarray, np.ndarray]
  cv_scores: np.ndarray
  fold_scores: np.ndarray


# ------------------------------------------------------------------------ shared pieces


def _centre(x_NxD, rows_N):
  """Centres x on the mean of the selected rows (rows_N: 1 selected, 0 not) and zeroes the
  others, so that every product below is over the selected rows only. Returns (x, mean)."""
  mean = rows_N @ x_NxD / jnp.sum(rows_N)
  return (x_NxD - mean) * rows_N[:, None], mean


def _correlations(z1_NxK, z2_NxK, rows_N):
  """(k,) correlation of matching columns over the selected rows; 0 for a constant column."""
  z1, _ = _centre(z1_NxK, rows_N)
  z2, _ = _centre(z2_NxK, rows_N)
  denominator = jnp.sqrt(jnp.sum(z1 * z1, axis=0) * jnp.sum(z2 * z2, axis=0))
  positive = denominator > 0
  return jnp.where(positive, jnp.sum(z1 * z2, axis=0) / jnp.where(positive, denominator, 1.0),
                   0.0)


def _factored_cross_product(x1c_NxD, x2c_NxE):
  """X1c^T X2c = B M, with the thin SVD X1c = A S B^T and M = S A^T X2c.

  B (d1 x r) has orthonormal columns and M is r x d2, r = min(n, d1): a product C v = B (M v)
  costs O(d1 n + n d2) with few samples (omics, imaging) and about twice a product with C
  itself with many, and the SVD of M gives the singular pairs of C. Cost O(n d1 r + n r d2).
  """
  a, s, b_t = jnp.linalg.svd(x1c_NxD, full_matrices=False)
  return b_t.T, (s[:, None] * a.T) @ x2c_NxE


def _leading_pairs(b, m, k):
  """The top-k singular vector pairs (d1 x k, d2 x k) of C = B M."""
  left, _, right_t = jnp.linalg.svd(m, full_matrices=False)
  return b @ left[:, :k], right_t[:k].T


def _alternate(update, weights, aux, tol, max_iter):
  """Runs (weights, aux) <- update(weights, aux) until the largest L2 change of a view's
  weight vector falls below tol, or max_iter times.

  `update` returns (weights, aux, ok); ok (the inner solves met their tolerance) is kept from
  the last iteration. Returns (weights, aux, iterations, converged); a NaN stops the loop and
  counts as not converged.
  """
  def cond(state):
    _, _, iteration, change, _ = state
    return (iteration < max_iter) & (change >= tol)

  def body(state):
    old, aux, iteration, _, _ = state
    new, aux, ok = update(old, aux)
    change = jnp.max(jnp.stack([jnp.linalg.norm(a - b) for a, b in zip(new, old)]))
    return new, aux, iteration + 1, change, ok

  dtype = weights[0].dtype
  state = (weights, aux, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, dtype),
           jnp.asarray(True))
  weights, aux, iterations, change, ok = jax.lax.while_loop(cond, body, state)
  return weights, aux, iterations, (change < tol) & ok


def _sign_convention(w1_DxK, *others):
  """Flips each component (in every view) so that the largest entry of view 1 is positive."""
  largest = jnp.take_along_axis(w1_DxK, jnp.argmax(jnp.abs(w1_DxK), axis=0)[None], axis=0)
  signs = jnp.where(largest < 0, -1.0, 1.0).astype(w1_DxK.dtype)
  return tuple(w * signs for w in (w1_DxK, *others))


def _soft_threshold(a, threshold):
  return jnp.sign(a) * jnp.maximum(jnp.abs(a) - threshold, 0.0)


# --------------------------------------------------------------------------------- PMD


def _unit_soft_threshold(a_D, c):
  """argmax_u u^T a subject to ||u||_2 <= 1, ||u||_1 <= c (Witten et al. 2009, Lemma 2.2).

  u = S(a, delta) / ||S(a, delta)||_2 with delta = 0 if that meets the L1 bound, else the
  delta > 0 at which ||u||_1 = c. Instead of the paper's bisection, delta is exact: with the
  magnitudes sorted, |a|_(1) >= |a|_(2) >= ..., the L1/L2 ratio of S(a, delta) falls as delta
  grows, so the support size m is the number of thresholds delta = |a|_(j) at which the ratio
  is still <= c; on that support, (s1 - m delta)^2 = c^2 (s2 - 2 delta s1 + m delta^2) gives
  delta = mu - c sqrt(V / (m (m - c^2))), mu and V the mean and summed squared deviation of
  the top m magnitudes (computed in two passes, without cancellation). A zero a gives u = 0.
  """
  d = a_D.shape[0]
  magnitudes = jnp.sort(jnp.abs(a_D))[::-1]
  sums = jnp.cumsum(magnitudes)
  squares = jnp.cumsum(magnitudes * magnitudes)
  above = jnp.arange(d, dtype=a_D.dtype)  # entries larger than magnitudes[j]
  sums_above = sums - magnitudes
  l1 = sums_above - above * magnitudes
  l2_squared = squares - magnitudes * magnitudes - 2 * magnitudes * sums_above + (
      above * magnitudes * magnitudes)
  ratio = jnp.where(l2_squared > 0, l1 / jnp.sqrt(jnp.where(l2_squared > 0, l2_squared, 1.0)),
                    0.0)
  m = jnp.sum(ratio <= c)  # >= 1: the ratio at the largest magnitude is 0
  top = jnp.arange(d) < m
  mean = jnp.sum(jnp.where(top, magnitudes, 0.0)) / m
  deviation = jnp.sum(jnp.where(top, (magnitudes - mean) ** 2, 0.0))
  room = m - c * c
  delta = mean - c * jnp.sqrt(deviation / (m * jnp.where(room > 0, room, 1.0)))
  delta = jnp.where(room > 0, delta, 0.0)
  # Clip into [|a|_(m+1), |a|_(m)], where the support is exactly the top m entries: this also
  # settles the rounding of ratios that sit on c (c = 1 picks one entry, say).
  below = jnp.where(m < d, magnitudes[jnp.minimum(m, d - 1)], 0.0)
  delta = jnp.clip(delta, below, magnitudes[m - 1])
  norm = jnp.linalg.norm(a_D)
  binding = jnp.sum(jnp.abs(a_D)) > c * norm
  u = _soft_threshold(a_D, jnp.where(binding, delta, 0.0))
  u_norm = jnp.linalg.norm(u)
  return jnp.where(u_norm > _TINY, u / jnp.where(u_norm > _TINY, u_norm, 1.0), 0.0)


def _pmd(x1, x2, rows, penalties, settings, k):
  """PMD(L1, L1) on the selected rows, k components by deflating the cross-product matrix."""
  c1, c2 = penalties
  tol, max_iter = settings
  x1c, mean1 = _centre(x1, rows)
  x2c, mean2 = _centre(x2, rows)
  b, m = _factored_cross_product(x1c, x2c)
  starts = _leading_pairs(b, m, k)

  def component(found, start):
    u_found, v_found, d_found = found  # columns of later components are still zero

    def deflated(v):  # (C - sum_j d_j u_j v_j^T) v
      return b @ (m @ v) - u_found @ (d_found * (v @ v_found))

    def deflated_t(u):
      return (u @ b) @ m - v_found @ (d_found * (u @ u_found))

    def update(weights, aux):
      u = _unit_soft_threshold(deflated(weights[1]), c1)
      return (u, _unit_soft_threshold(deflated_t(u), c2)), aux, jnp.asarray(True)

    j, u, v = start
    (u, v), _, iterations, converged = _alternate(update, (u, v), (), tol, max_iter)
    found = (u_found.at[:, j].set(u), v_found.at[:, j].set(v),
             d_found.at[j].set(u @ deflated(v)))
    return found, (iterations, converged)

  zeros = (jnp.zeros((x1.shape[1], k), x1.dtype), jnp.zeros((x2.shape[1], k), x1.dtype),
           jnp.zeros((k,), x1.dtype))
  (u, v, _), (iterations, converged) = jax.lax.scan(
      component, zeros, (jnp.arange(k), starts[0].T, starts[1].T))
  u, v = _sign_convention(u, v)
  return SparseCCAParams((mean1, mean2), (u, v), _correlations(x1c @ u, x2c @ v, rows),
                         converged, iterations, (c1, c2))


# ---------------------------------------------------------------------- elastic-net CCA


def _elastic_net(matvec, rmatvec, target_N, start_D, n, lasso, ridge, lipschitz, tol,
                 max_iter):
  """argmin_w ||A w - y||^2 / (2 n) + ridge ||w||^2 / 2 + lasso ||w||_1 (scikit-learn's
  ElasticNet with lasso = alpha l1_ratio, ridge = alpha (1 - l1_ratio), no intercept).

  FISTA (Beck and Teboulle 2009) with step 1 / (||A||_2^2 / n + ridge) and adaptive restart
  (O'Donoghue and Candes 2015), from `start`, until the relative change of w is below tol.
  Returns (w, met tol within max_iter).
  """
  step = 1.0 / jnp.maximum(lipschitz + ridge, _TINY)

  def cond(state):
    _, _, _, iteration, change = state
    return (iteration < max_iter) & (change > tol)

  def body(state):
    w, y, t, iteration, _ = state
    gradient = rmatvec(matvec(y) - target_N) / n + ridge * y
    w_new = _soft_threshold(y - step * gradient, step * lasso)
    restart = jnp.vdot(y - w_new, w_new - w) > 0
    t_new = jnp.where(restart, 1.0, (1 + jnp.sqrt(1 + 4 * t * t)) / 2)
    y = jnp.where(restart, w_new, w_new + (t - 1) / t_new * (w_new - w))
    change = jnp.linalg.norm(w_new - w) / jnp.maximum(jnp.linalg.norm(w_new), _TINY)
    return w_new, y, t_new, iteration + 1, change

  one = jnp.ones((), start_D.dtype)
  state = (start_D, start_D, one, jnp.zeros((), jnp.int32), jnp.inf * one)
  w, _, _, _, change = jax.lax.while_loop(cond, body, state)
  return w, change <= tol


def _elastic_net_cca(x1, x2, rows, penalties, settings, k):
  """Elastic-net CCA on the selected rows, k components by deflating each view by its scores."""
  alphas, ratios = penalties[:2], penalties[2:]
  tol, max_iter, inner_max_iter = settings
  n = jnp.sum(rows)
  centred = [_centre(x1, rows), _centre(x2, rows)]
  xs = [x for x, _ in centred]
  lipschitz = [jnp.linalg.svd(x, compute_uv=False)[0] ** 2 / n for x in xs]
  starts = _leading_pairs(*_factored_cross_product(xs[0], xs[1]), k)

  def std(z):  # population standard deviation of a score (zero mean over the selected rows)
    return jnp.sqrt(jnp.sum(z * z) / n)

  def unit_variance(z):
    s = std(z)
    return jnp.where(s > _TINY, z / jnp.where(s > _TINY, s, 1.0), z)

  def component(found, start):
    bases, loadings, weights = found  # bases: orthonormal scores of earlier components

    def deflate(i, z):  # P_i z: z without its part along view i's earlier variates
      return z - bases[i] @ (bases[i].T @ z)

    def score(i, w):  # the variate of the deflated view i, P_i X_i w
      return deflate(i, xs[i] @ w)

    def update(w, scales):
      w, scales, ok = list(w), list(scales), jnp.asarray(True)
      for i in (0, 1):
        target = unit_variance(score(1 - i, w[1 - i]))
        # Warm start from the previous unscaled coefficients: w_i times its variate's scale.
        coefficients, met = _elastic_net(
            functools.partial(score, i), lambda z, i=i: xs[i].T @ deflate(i, z), target,
            w[i] * scales[i], n, alphas[i] * ratios[i], alphas[i] * (1 - ratios[i]),
            lipschitz[i], tol, inner_max_iter)
        scales[i] = std(score(i, coefficients))
        w[i] = coefficients / jnp.maximum(scales[i], _TINY)
        ok = ok & met
      return tuple(w), tuple(scales), ok

    j, w1, w2 = start
    one = jnp.ones((), x1.dtype)
    w, _, iterations, converged = _alternate(update, (w1, w2), (one, one), tol, max_iter)
    new_found = ([], [], [])
    for i in (0, 1):
      t = score(i, w[i])
      t_norm = jnp.linalg.norm(t)
      safe = jnp.where(t_norm > _TINY, t_norm, jnp.inf)  # an all-zero variate deflates nothing
      new_found[0].append(bases[i].at[:, j].set(t / safe))
      new_found[1].append(loadings[i].at[:, j].set(xs[i].T @ t / safe ** 2))
      new_found[2].append(weights[i].at[:, j].set(w[i]))
    return tuple(tuple(f) for f in new_found), (iterations, converged)

  zeros = (tuple(jnp.zeros((x1.shape[0], k), x1.dtype) for _ in xs),
           tuple(jnp.zeros((x.shape[1], k), x1.dtype) for x in xs),
           tuple(jnp.zeros((x.shape[1], k), x1.dtype) for x in xs))
  (_, loadings, weights), (iterations, converged) = jax.lax.scan(
      component, zeros, (jnp.arange(k), starts[0].T, starts[1].T))
  # Weights on the original views giving the deflated variates: W (P^T W)^+ (PLS rotations).
  weights = _sign_convention(*[w @ jnp.linalg.pinv(p.T @ w) for w, p in zip(weights, loadings)])
  return SparseCCAParams(tuple(mean for _, mean in centred), weights,
                         _correlations(xs[0] @ weights[0], xs[1] @ weights[1], rows),
                         converged, iterations, tuple(penalties))


# -------------------------------------------------------------- jitted fits, grids, folds


@functools.partial(jax.jit, static_argnames=('method', 'k'))
def _fit_one(x1, x2, rows, penalties, settings, *, method, k):
  return method(x1, x2, rows, penalties, settings, k)


@functools.partial(jax.jit, static_argnames=('method', 'k', 'shape'))
def _fit_grid(x1, x2, rows, penalties_G, settings, *, method, k, shape):
  """vmaps the fit over G = g1 g2 penalty settings; leaves get leading axes shape = (g1, g2)."""
  params = jax.vmap(lambda p: method(x1, x2, rows, p, settings, k))(penalties_G)
  return jax.tree.map(lambda a: a.reshape(*shape, *a.shape[1:]), params)


@jax.jit
def _held_out_scores(params_GxG, x1, x2, rows):
  """(g1, g2) total correlation of the variates over the rows left out (rows == 0)."""
  def total(params):
    z1, z2 = [(x - m) @ w for x, m, w in zip((x1, x2), params.means, params.weights)]
    return jnp.sum(_correlations(z1, z2, 1 - rows))
  return jax.vmap(jax.vmap(total))(params_GxG)


def _prepare(x1, x2, k, folds: int | None = None):
  """Validates the views (shapes, finite values), k and the number of folds of a search;
  returns views of one float dtype and k. k is limited by the smallest training split, and
  each held-out fold needs 2 rows for a correlation."""
  x1, x2 = linear.as_float(x1), linear.as_float(x2)
  n = objectives.check_views([x1, x2])
  training = n
  if folds is not None:
    if not isinstance(folds, (int, np.integer)) or not 2 <= folds <= n // 2:
      raise ValueError(f'folds must be an int in [2, n / 2 = {n // 2}] (each held-out fold '
                       f'needs 2 rows for a correlation), got {folds!r}')
    training = n - -(-n // folds)
  k = objectives.check_components(
      k, min(x1.shape[1], x2.shape[1], training - 1),
      'at most min(feature dimensions, training samples - 1) components')
  dtype = jnp.result_type(x1, x2)
  return x1.astype(dtype), x2.astype(dtype), k


def _check_count(value, name: str) -> None:
  if not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f'{name} must be a positive int, got {value!r}')


def _values(values, name: str) -> np.ndarray:
  values = np.atleast_1d(np.asarray(values, dtype=np.float64))
  if values.ndim != 1 or values.size == 0:
    raise ValueError(f'{name} must be a number or a non-empty 1-D sequence, got {values!r}')
  return values


def _check_l1_bounds(values, d: int, name: str) -> np.ndarray:
  values = _values(values, name)
  top = np.sqrt(d)
  bad = ~((values >= 1.0) & (values <= top * (1 + 1e-12)))  # NaN is bad too
  if bad.any():
    raise ValueError(f'{name} must lie in [1, sqrt({d}) = {top:.6g}] (1 keeps one feature, '
                     f'sqrt(d) imposes no sparsity), got {values[bad][0]}')
  return values


def _check_elastic_net(alphas, ratios, names) -> tuple[np.ndarray, np.ndarray]:
  alphas, ratios = _values(alphas, names[0]), _values(ratios, names[1])
  if not np.all((alphas >= 0) & np.isfinite(alphas)):
    raise ValueError(f'{names[0]} must be finite and >= 0, got {alphas}')
  if not np.all((ratios >= 0) & (ratios <= 1)):
    raise ValueError(f'{names[1]} must lie in [0, 1], got {ratios}')
  return alphas, ratios


def _settings(limits: dict, dtype) -> tuple[Array, ...]:
  """(tol, max_iter[, inner_max_iter]) as arrays (traced: changing them does not recompile)."""
  tol, *counts = limits.values()
  if not tol > 0:
    raise ValueError(f'tol must be > 0, got {tol}')
  for name, count in list(limits.items())[1:]:
    _check_count(count, name)
  return (jnp.asarray(tol, dtype), *[jnp.asarray(count, jnp.int32) for count in counts])


def _pairs(grid1, grid2, fixed, dtype) -> tuple[Array, ...]:
  """Flattened outer product of two grids (grid1 major), then the fixed penalties."""
  g = len(grid1) * len(grid2)
  columns = [np.repeat(grid1, len(grid2)), np.tile(grid2, len(grid1))]
  columns += [np.full(g, value) for value in fixed]
  return tuple(jnp.asarray(c, dtype) for c in columns)


def _warn_if_not_converged(params: SparseCCAParams, caller: str, limits: dict) -> None:
  """ConvergenceWarning naming the components (and how many grid points) whose alternation
  stopped at an iteration limit."""
  converged = np.asarray(params.converged)
  if converged.all():
    return
  k = converged.shape[-1]
  failed = ~converged.reshape(-1, k)
  components = sorted({int(j) + 1 for j in np.nonzero(failed)[1]})
  used = int(np.asarray(params.iterations).reshape(-1, k)[failed].max())
  where = ''
  if converged.ndim > 1:
    where = f' at {int(failed.any(axis=1).sum())} of {failed.shape[0]} penalty settings'
  settings = ', '.join(f'{name}={value}' for name, value in limits.items())
  warnings.warn(
      f'{caller}: component(s) {components} of {k} did not converge{where} after {used} '
      f'iterations ({settings}); raise max_iter (or tol), or standardise the views. The '
      'weights returned are the last iterates.', ConvergenceWarning, stacklevel=4)


def _fit(method: Callable, caller: str, x1, x2, k: int, penalties, limits: dict,
         grids=None, rows=None, warn: bool = True) -> SparseCCAParams:
  """One jitted fit at `penalties`, or, with grids, the vmapped fit at every pair of
  (grids[0] x grids[1]) with the fixed `penalties` after them (leaves get leading (g1, g2)
  axes); on the rows where rows == 1 (all by default). Warns about non-convergence (unless
  warn is False: the cross-validation reports its folds in one warning)."""
  rows = np.ones(x1.shape[0], x1.dtype) if rows is None else rows
  settings = _settings(limits, x1.dtype)
  if grids is None:
    params = _fit_one(x1, x2, rows, tuple(jnp.asarray(p, x1.dtype) for p in penalties),
                      settings, method=method, k=k)
  else:
    params = _fit_grid(x1, x2, rows, _pairs(*grids, penalties, x1.dtype), settings,
                       method=method, k=k, shape=(len(grids[0]), len(grids[1])))
  if warn:
    _warn_if_not_converged(params, caller, limits)
  return params


def _select(method: Callable, caller: str, x1, x2, k: int, grids, fixed, limits: dict,
            folds: int, seed: int) -> PenaltySelection:
  """K-fold search over grids[0] x grids[1] (the fixed penalties after them): each fold is one
  `_fit_grid` call on the other folds' rows, scored on its own; then a refit on all rows."""
  n = x1.shape[0]
  fold_of = np.empty(n, np.int64)
  fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
  fold_scores, fold_converged = [], []
  for fold in range(folds):
    rows = (fold_of != fold).astype(x1.dtype)
    params = _fit(method, caller, x1, x2, k, fixed, limits, grids, rows, warn=False)
    fold_scores.append(np.asarray(_held_out_scores(params, x1, x2, rows), np.float64))
    fold_converged.append(np.asarray(params.converged).all(axis=-1))
  fold_scores, fold_converged = np.stack(fold_scores), np.stack(fold_converged)
  cv_scores = fold_scores.mean(axis=0)
  a, b = np.unravel_index(np.argmax(np.nan_to_num(cv_scores, nan=-np.inf)), cv_scores.shape)
  if not fold_converged.all():
    settings = ', '.join(f'{name}={value}' for name, value in limits.items())
    warnings.warn(
        f'{caller}: the alternation stopped at its iteration limit ({settings}) in '
        f'{int((~fold_converged).sum())} of {fold_converged.size} (fold, penalty) fits of the '
        f'cross-validation, {int((~fold_converged[:, a, b]).sum())} of them at the chosen '
        'penalties; their held-out scores are those of the last iterates',
        ConvergenceWarning, stacklevel=3)
  chosen = (float(grids[0][a]), float(grids[1][b]), *[float(f) for f in fixed])
  return PenaltySelection(_fit(method, caller, x1, x2, k, chosen, limits), chosen,
                          tuple(grids), cv_scores, fold_scores)


# ------------------------------------------------------------------------------- public


def fit_pmd(x1_NxD, x2_NxE, k: int = 1, c1: float | None = None, c2: float | None = None, *,
            tol: float = 1e-6, max_iter: int = 500, grid_size: int = 10, folds: int = 5,
            seed: int = 0) -> SparseCCAParams:
  """Sparse CCA by the penalised matrix decomposition (Witten, Tibshirani and Hastie 2009).

  With C = X1c^T X2c (centred views), each component solves
    max_{u, v} u^T C v  s.t.  ||u||_2 <= 1, ||u||_1 <= c1, ||v||_2 <= 1, ||v||_1 <= c2,
  1 <= c_i <= sqrt(d_i) (1 keeps one feature, sqrt(d_i) none dropped), by the paper's
  alternation u <- S(C v, delta1) / ||.||_2, v <- S(C^T u, delta2) / ||.||_2 (soft
  thresholds delta_i >= 0 set exactly so that the L1 bound holds, see `_unit_soft_threshold`),
  from the leading singular pair of C (later components from the next pairs, as in PMA),
  until both weight vectors move less than tol (L2). Then C <- C - d u v^T, d = u^T C v, for
  the next component. The within-view covariances are treated as identity (the paper's
  diagonal CCA), so standardise features on different scales first. With c_i = sqrt(d_i),
  the components are PLS-SVD's: the singular vectors of C.

  A penalty left as None is chosen by `select_pmd_penalty` (grid_size, folds and seed go to
  it; call it directly for the CV scores); the result's `penalties` record the choice.
  A component that stops at max_iter raises a ConvergenceWarning.
  """
  if c1 is None or c2 is None:
    return select_pmd_penalty(x1_NxD, x2_NxE, k, grid_size, folds, seed,
                              None if c1 is None else [c1], None if c2 is None else [c2],
                              tol=tol, max_iter=max_iter).params
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k)
  penalties = (*_check_l1_bounds(c1, x1.shape[1], 'c1'), *_check_l1_bounds(c2, x2.shape[1], 'c2'))
  return _fit(_pmd, 'fit_pmd', x1, x2, k, penalties, dict(tol=tol, max_iter=max_iter))


def fit_pmd_grid(x1_NxD, x2_NxE, k: int, c1_grid: Sequence[float], c2_grid: Sequence[float],
                 *, tol: float = 1e-6, max_iter: int = 500) -> SparseCCAParams:
  """`fit_pmd` at every pair (c1_grid[a], c2_grid[b]) in one compiled, vmapped call.

  Every leaf has leading axes (len(c1_grid), len(c2_grid)): weights[0] is (g1, g2, d1, k).
  It compiles once per shape (of the views and the grid) and dtype; the work that does not
  depend on the penalties (centring, the factored cross-product, the starts) is done once.
  """
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k)
  grids = (_check_l1_bounds(c1_grid, x1.shape[1], 'c1_grid'),
           _check_l1_bounds(c2_grid, x2.shape[1], 'c2_grid'))
  return _fit(_pmd, 'fit_pmd_grid', x1, x2, k, (), dict(tol=tol, max_iter=max_iter), grids)


def select_pmd_penalty(x1_NxD, x2_NxE, k: int = 1, grid_size: int = 10, folds: int = 5,
                       seed: int = 0, c1_grid: Sequence[float] | None = None,
                       c2_grid: Sequence[float] | None = None, *, tol: float = 1e-6,
                       max_iter: int = 500) -> PenaltySelection:
  """Chooses PMD's (c1, c2) by K-fold held-out correlation, then refits on all rows.

  The candidates are c1_grid x c2_grid, by default grid_size values geometrically spaced in
  [1, sqrt(d_i)] per view. Row perm[i] goes to fold i mod folds, perm =
  np.random.default_rng(seed).permutation(n); for every fold, one call of `fit_pmd_grid`'s
  compiled function fits all pairs on the other folds, and a pair's held-out score is the sum
  over the k components of the correlation of its variates on the fold. The pair with the
  best mean score over folds is refitted on all rows.

  What it recovers (tests/test_sparse.py): n = 1000 samples, d = (40, 30) features, s = 5
  active features per view, one canonical correlation rho = 0.9, default 10 x 10 grid: the
  chosen fit keeps every active feature (recall 1) but adds some with small weights. Held-out
  correlation prefers a bound just above the window of bounds that select the support exactly
  (less shrinkage of the true weights outweighs a little noise), as cross-validated lasso
  does; a bound inside that window recovers the support (F1 = 1 in that test).
  """
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k, folds)
  _check_count(grid_size, 'grid_size')
  grids = tuple(_check_l1_bounds(np.geomspace(1.0, np.sqrt(x.shape[1]), grid_size)
                                 if grid is None else grid, x.shape[1], name)
                for x, grid, name in ((x1, c1_grid, 'c1_grid'), (x2, c2_grid, 'c2_grid')))
  return _select(_pmd, 'select_pmd_penalty', x1, x2, k, grids, (),
                 dict(tol=tol, max_iter=max_iter), folds, seed)


def fit_elastic_net_cca(x1_NxD, x2_NxE, k: int = 1,
                        alpha: float | Sequence[float] | None = None,
                        l1_ratio: float | Sequence[float] = 1.0, *, tol: float = 1e-6,
                        max_iter: int = 500, inner_max_iter: int = 5000, grid_size: int = 10,
                        folds: int = 5, seed: int = 0) -> SparseCCAParams:
  """Elastic-net CCA (Waaijenborg, Verselewel de Witt Hamer and Zwinderman 2008; with
  l1_ratio = 1, Mai and Zhang 2019's iterative penalised least squares).

  Alternating regressions of one view's variate on the other view: for view i, with the
  other view's current variate standardised, t = X_j w_j / std(X_j w_j),
    w_i <- argmin_w ||X_i w - t||^2 / (2 n) + alpha_i (l1_ratio_i ||w||_1
                                                       + (1 - l1_ratio_i) ||w||_2^2 / 2),
  rescaled to a unit-variance variate (scikit-learn's ElasticNet objective, solved by FISTA
  inside jit), until both weight vectors move less than tol (L2). Each view is then deflated
  by its variate, X_i <- X_i - t_i t_i^T X_i / ||t_i||^2, for the next component, and the
  weights are mapped back to the original views (W (P^T W)^+). `alpha` and `l1_ratio` are one
  value or one per view; alpha = 0 is least squares (CCA by alternating regressions when
  n > d). Each regression starts from the last one's solution and runs at most inner_max_iter
  FISTA steps, to a relative change below tol.

  With alpha=None the alphas are chosen by `select_elastic_net_penalty` (grid_size, folds and
  seed go to it). A component that stops at an iteration limit raises a ConvergenceWarning.
  """
  if alpha is None:
    return select_elastic_net_penalty(x1_NxD, x2_NxE, k, grid_size, folds, seed,
                                      l1_ratio=l1_ratio, tol=tol, max_iter=max_iter,
                                      inner_max_iter=inner_max_iter).params
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k)
  alphas, ratios = _check_elastic_net(objectives.per_view(alpha, 2),
                                      objectives.per_view(l1_ratio, 2), ('alpha', 'l1_ratio'))
  return _fit(_elastic_net_cca, 'fit_elastic_net_cca', x1, x2, k, (*alphas, *ratios),
              dict(tol=tol, max_iter=max_iter, inner_max_iter=inner_max_iter))


def fit_elastic_net_cca_grid(x1_NxD, x2_NxE, k: int, alpha1_grid: Sequence[float],
                             alpha2_grid: Sequence[float],
                             l1_ratio: float | Sequence[float] = 1.0, *, tol: float = 1e-6,
                             max_iter: int = 500,
                             inner_max_iter: int = 5000) -> SparseCCAParams:
  """`fit_elastic_net_cca` at every pair (alpha1_grid[a], alpha2_grid[b]), fixed l1_ratio, in
  one compiled, vmapped call; leaves have leading axes (len(alpha1_grid), len(alpha2_grid))."""
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k)
  grid1, ratios = _check_elastic_net(alpha1_grid, objectives.per_view(l1_ratio, 2),
                                     ('alpha1_grid', 'l1_ratio'))
  grid2, _ = _check_elastic_net(alpha2_grid, ratios, ('alpha2_grid', 'l1_ratio'))
  return _fit(_elastic_net_cca, 'fit_elastic_net_cca_grid', x1, x2, k, tuple(ratios),
              dict(tol=tol, max_iter=max_iter, inner_max_iter=inner_max_iter), (grid1, grid2))


def select_elastic_net_penalty(x1_NxD, x2_NxE, k: int = 1, grid_size: int = 10,
                               folds: int = 5, seed: int = 0,
                               alpha1_grid: Sequence[float] | None = None,
                               alpha2_grid: Sequence[float] | None = None,
                               l1_ratio: float | Sequence[float] = 1.0, *, tol: float = 1e-6,
                               max_iter: int = 500,
                               inner_max_iter: int = 5000) -> PenaltySelection:
  """Chooses elastic-net CCA's (alpha1, alpha2), at fixed l1_ratio, as `select_pmd_penalty`.

  The default alpha grid of view i is geometric over [1e-3, 1] times
  max_j std(x_ij) / max(l1_ratio_i, 0.01): for a unit-variance target, alpha l1_ratio at or
  above the largest feature standard deviation selects no feature (|x_j^T t| / n <= std(x_j)).
  """
  x1, x2, k = _prepare(x1_NxD, x2_NxE, k, folds)
  _check_count(grid_size, 'grid_size')
  _, ratios = _check_elastic_net(0.0, objectives.per_view(l1_ratio, 2), ('alpha', 'l1_ratio'))
  grids = []
  for x, grid, ratio, name in ((x1, alpha1_grid, ratios[0], 'alpha1_grid'),
                               (x2, alpha2_grid, ratios[1], 'alpha2_grid')):
    if grid is None:
      top = float(jnp.max(jnp.std(x, axis=0))) / max(ratio, 0.01)
      grid = np.geomspace(1e-3 * top, top, grid_size)
    grids.append(_check_elastic_net(grid, ratios, (name, 'l1_ratio'))[0])
  return _select(_elastic_net_cca, 'select_elastic_net_penalty', x1, x2, k, grids,
                 tuple(ratios), dict(tol=tol, max_iter=max_iter, inner_max_iter=inner_max_iter),
                 folds, seed)
