"""Inference for two-view linear CCA: the statistics researchers publish with it.

* `permutation_test`: which canonical components are significant, with the family-wise error
  rate controlled, by the stepwise permutation test of Winkler, Renaud, Smith and Nichols
  (2020), "Permutation inference for canonical correlation analysis", NeuroImage 220, 117065;
  valid beyond the first component (a plain permutation test of the k-th correlation is not).
  Exchangeability blocks restrict the permutations (`permutation_indices`); thousands of
  permutations run in chunks through one jitted function batched over them.
* `bootstrap`: percentile confidence intervals for the canonical correlations, loadings and
  cross-loadings, each resample's solution aligned to the original one.
* `loadings`, `cross_loadings`, `redundancy`: structure coefficients and the redundancy index
  of Stewart and Love (1968), pure functions of the views and a `linear.LinearCCAParams`.

Everything works on centred views. The permutation test and the bootstrap take the ridges
r1, r2 and the pseudo-inverse cut-off rcond of `linear.fit_cca` and test or resample exactly
that model. Nuisance variables are not supported: regressing them out before a permutation
test breaks exchangeability (the paper's first point); its remedy, the Huh-Jhun projection to
n - R exchangeable rows, is left out.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from crossjax import linear, objectives

Array = jax.Array

# Device memory a chunk of permutations or resamples may take (see `_chunk_size`).
CHUNK_BYTES = 256 * 2**20
BLOCK_SHUFFLES = ('within', 'whole', 'both')


# ---------------------------------------------------------- loadings, redundancy


def _correlation(cov_DxK: Array, var_D: Array, var_K: Array) -> Array:
  """cov / sqrt(var_D var_K) per entry; 0 where either variance is 0 (a constant column)."""
  scale = jnp.outer(var_D, var_K)
  return jnp.where(scale > 0, cov_DxK * jax.lax.rsqrt(jnp.where(scale > 0, scale, 1.0)), 0.0)


class _Structure(NamedTuple):
  loadings: tuple[Array, ...]
  cross_loadings: tuple[Array, ...]  # (corr(X1, Z2), corr(X2, Z1)) for two views, else ()
  adequacy: tuple[Array, ...]
  redundancy: tuple[Array, ...]  # adequacy * corr(Z1, Z2)^2 for two views, else ()
  finite: tuple[Array, ...]


@jax.jit
def _structure(params: linear.LinearCCAParams, views) -> _Structure:
  """Everything `loadings`, `cross_loadings` and `redundancy` report, from centred products.

  Constant columns (all values equal, found exactly: rounding leaves their centred values
  near, not at, zero) get variance 0, hence loadings 0, and are left out of the adequacy mean.
  """
  n = views[0].shape[0]
  centred = [objectives.centre(v) for v in views]
  variates = [objectives.centre(c @ w) for c, w in zip(centred, params.weights)]
  varying = [jnp.any(v != v[:1], axis=0) for v in views]
  var_x = [jnp.where(m, jnp.sum(c * c, axis=0) / (n - 1), 0.0) for m, c in zip(varying, centred)]
  var_z = [jnp.sum(z * z, axis=0) / (n - 1) for z in variates]

  def corr(i, j):  # corr(columns of X_i, columns of Z_j)
    return _correlation(centred[i].T @ variates[j] / (n - 1), var_x[i], var_z[j])

  own = tuple(corr(i, i) for i in range(len(views)))
  adequacy = tuple(jnp.sum(load * load, axis=0) / jnp.maximum(jnp.sum(m), 1)
                   for load, m in zip(own, varying))
  two = len(views) == 2
  rho = jnp.diag(_correlation(variates[0].T @ variates[-1] / (n - 1), var_z[0], var_z[-1]))
  return _Structure(
      loadings=own, cross_loadings=(corr(0, 1), corr(1, 0)) if two else (), adequacy=adequacy,
      redundancy=tuple(a * rho**2 for a in adequacy) if two else (),
      finite=tuple(objectives.all_finite(jnp.mean(v, axis=0)) for v in views))


def _structure_of(params: linear.LinearCCAParams, views, two_views: str = '') -> _Structure:
  """`_structure` after checks: the model's view count (two where `two_views` names the
  statistic) and widths, >= 2 samples, finite values."""
  if two_views and len(params.weights) != 2:
    raise ValueError(f'{two_views} need a two-view model, got {len(params.weights)} views')
  if len(views) != len(params.weights):
    raise ValueError(f'the model was fitted on {len(params.weights)} views, got {len(views)}')
  views = [linear.as_float(v) for v in views]
  objectives.check_views(views, check_values=False)  # values: in the jitted pass
  for i, (view, w) in enumerate(zip(views, params.weights), start=1):
    if view.shape[1] != w.shape[0]:
      raise ValueError(
          f'view {i} has {view.shape[1]} features, the model was fitted on {w.shape[0]}')
  structure = _structure(params, tuple(views))
  objectives.raise_if_not_finite(structure.finite, views)
  return structure


def loadings(params: linear.LinearCCAParams, *views) -> tuple[Array, ...]:
  """Structure coefficients: per view i, the (d_i, k) correlations corr(X_i[:, j], Z_i[:, c])
  of each variable with each of its own view's canonical variates Z_i = X_i W_i.

  Unlike the weights, loadings do not change sign or size when variables within a view are
  correlated, which is why papers report them (e.g. Sherry and Henson 2005). A constant
  variable has loading 0. Any number of views (MCCA and GCCA fits too).
  """
  return _structure_of(params, views).loadings


def cross_loadings(params: linear.LinearCCAParams, x1_NxD, x2_NxE) -> tuple[Array, Array]:
  """Cross-loadings (inter-set structure coefficients): corr(X1[:, j], Z2[:, c]), shape
  (D, k), and corr(X2[:, j], Z1[:, c]), shape (E, k). For CCA on its training data they equal
  the loadings times the canonical correlation rho_c."""
  return _structure_of(params, (x1_NxD, x2_NxE), 'cross-loadings').cross_loadings


class Redundancy(NamedTuple):
  """The redundancy analysis of Stewart and Love (1968), per view i (a pair of (k,) arrays).

  adequacy: mean over the variables of view i of the squared loading on its own variate c:
    the share of view i's standardised variance that Z_i[:, c] extracts.
  redundancy: adequacy times rho_c^2: the share of view i's standardised variance explained
    by the other view's variate c (for CCA, also its mean squared cross-loading).
  cumulative: the running sum of redundancy over components 1..c.
  """
  adequacy: tuple[Array, Array]
  redundancy: tuple[Array, Array]
  cumulative: tuple[Array, Array]


def redundancy(params: linear.LinearCCAParams, x1_NxD, x2_NxE) -> Redundancy:
  """Stewart-Love redundancy of each view given the other, per component and cumulative.

  Rd_{i,c} = (1 / d_i) sum_j corr(X_i[:, j], Z_i[:, c])^2 * rho_c^2 (Stewart and Love 1968,
  "A general canonical correlation index", Psychological Bulletin 70), rho_c the correlation
  of the c-th pair of variates on the given data. Constant variables, which have no variance
  to explain, are left out of the mean (d_i counts the others). Not symmetric: view 1 given
  view 2 and view 2 given view 1 differ. Two views only.
  """
  structure = _structure_of(params, (x1_NxD, x2_NxE), 'redundancy indices')
  return Redundancy(structure.adequacy, structure.redundancy,
                    tuple(jnp.asarray(np.cumsum(np.asarray(r))) for r in structure.redundancy))


# ------------------------------------------------------------------- permutations


class _Blocks(NamedTuple):
  """Exchangeability blocks in the arrays `_draw_permutations` needs (numpy, shape (n,)).

  labels: each row's block, 0..B-1. grouped: the rows sorted by block (stable): the slots.
  slot_offset: each slot's position inside its block. starts: the first slot of each block
  (padded to n). count: B.
  """
  labels: np.ndarray
  grouped: np.ndarray
  slot_offset: np.ndarray
  starts: np.ndarray
  count: int


def _block_layout(n: int, blocks, block_shuffle: str) -> _Blocks:
  """The blocks of `permutation_indices` after checks (no blocks: one block of n rows)."""
  if block_shuffle not in BLOCK_SHUFFLES:
    raise ValueError(f'block_shuffle must be one of {BLOCK_SHUFFLES}, got {block_shuffle!r}')
  if blocks is None:
    if block_shuffle != 'within':
      raise ValueError(f'block_shuffle={block_shuffle!r} needs blocks')
    blocks = np.zeros(n, np.int32)
  blocks = np.asarray(blocks)
  if blocks.shape != (n,):
    raise ValueError(f'blocks must hold one label per sample, shape ({n},), got {blocks.shape}')
  if not np.issubdtype(blocks.dtype, np.integer):
    raise ValueError(f'blocks must be integer labels, got dtype {blocks.dtype}')
  _, labels, sizes = np.unique(blocks, return_inverse=True, return_counts=True)
  if block_shuffle != 'within' and np.any(sizes != sizes[0]):
    raise ValueError(f'block_shuffle={block_shuffle!r} swaps whole blocks, which needs blocks '
                     f'of one size; got sizes {sorted(set(sizes.tolist()))}')
  starts = np.zeros(n, np.int32)
  starts[:len(sizes)] = np.cumsum(sizes) - sizes
  grouped = np.argsort(labels, kind='stable').astype(np.int32)
  slot_offset = (np.arange(n) - starts[labels[grouped]]).astype(np.int32)
  return _Blocks(labels.astype(np.int32), grouped, slot_offset, starts, len(sizes))


def _key_words(seed: int) -> np.ndarray:
  """The Threefry key (seed // 2^32, seed mod 2^32): the words of jax.random.key(seed)."""
  _check_count(seed, 'seed', 0)
  if seed >= 2**64:
    raise ValueError(f'seed must be below 2**64, got {seed}')
  return np.array([int(seed) >> 32, int(seed) & 0xFFFFFFFF], np.uint32)


def _random_words(key_words: Array, stream: Array, m: int) -> Array:
  """(2, m) uint32: 64 random bits for each counter (stream, 0), ..., (stream, m - 1).

  The Threefry-2x32 hash (Salmon et al. 2011, JAX's default generator) of those counters
  under the key: counter-based, so permutation or resample number `stream` gets the same bits
  whatever the chunking, from one hash call (fold_in + a draw would be two, and each costs
  about a second of compilation on a CPU).
  """
  count = jnp.concatenate([jnp.full(m, stream, jnp.uint32), jnp.arange(m, dtype=jnp.uint32)])
  return jax.extend.random.threefry_2x32((key_words[0], key_words[1]), count).reshape(2, m)


@functools.partial(jax.jit, static_argnames=('whole', 'one_block'))
def _draw_permutations(key_words, positions, blocks: _Blocks, within, *, whole: bool,
                       one_block: bool):
  """The permutation of each position p >= 0 (from `_random_words(key_words, p, ...)`); the
  identity where p < 0.

  Row i of the permuted view is row pi[i] of the original. within (traced): the rows of each
  block in uniformly random order (sorted by block, then by 64 random bits each: ties have
  probability below n^2 / 2^65). whole (static): the B blocks in a random order, slot j of
  block b taking slot j of block sigma(b) (equal sizes). Both, or one of them. one_block
  (static): the block key is left out of the sort (the same order; 8 sorts of 10,000 rows
  took 32 ms instead of 45 on 2 cores).
  """
  n = blocks.labels.shape[0]

  def one(position):
    words = _random_words(key_words, jnp.maximum(position, 0).astype(jnp.uint32),
                          2 * n if whole else n)
    keys = (words[1, :n], words[0, :n]) + (() if one_block else (blocks.labels,))
    shuffled = jnp.lexsort(keys).astype(jnp.int32)
    source = jnp.where(within, shuffled, blocks.grouped)  # the row each slot takes
    if whole:
      absent = jnp.arange(n) >= blocks.count  # blocks beyond B sort last
      sigma = jnp.lexsort((words[1, n:], words[0, n:], absent))
      slot_block = blocks.labels[blocks.grouped]
      source = source[blocks.starts[sigma[slot_block]] + blocks.slot_offset]
    pi = jnp.zeros(n, jnp.int32).at[blocks.grouped].set(source)
    return jnp.where(position < 0, jnp.arange(n, dtype=jnp.int32), pi)

  return jax.vmap(one)(positions)


def _draw(key_words, positions: np.ndarray, blocks: _Blocks, block_shuffle: str) -> Array:
  return _draw_permutations(key_words, positions.astype(np.int32), blocks,
                            block_shuffle != 'whole', whole=block_shuffle != 'within',
                            one_block=blocks.count == 1)


def permutation_indices(n_samples: int, num_permutations: int, *, blocks=None,
                        block_shuffle: str = 'within', seed: int = 0) -> Array:
  """The (num_permutations, n_samples) int32 permutations `permutation_test` draws.

  Row p is a function of (seed, p) only (counter-based Threefry bits), so it does not depend
  on the chunk size. Row i of a permuted view is row pi[i] of the original. With blocks (one
  integer label per sample), rows only move inside their block (block_shuffle='within': the
  exchangeability blocks of Winkler et al. 2015, "Multi-level block permutation", NeuroImage
  125), or blocks of one size move as wholes with their inner order kept ('whole'), or both.
  """
  _check_count(n_samples, 'n_samples', 1)
  _check_count(num_permutations, 'num_permutations', 1)
  return _draw(_key_words(seed), np.arange(num_permutations),
               _block_layout(n_samples, blocks, block_shuffle), block_shuffle)


def _check_count(value, name: str, minimum: int) -> None:
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')


def _chunk_size(chunk, total: int, bytes_per_item: int) -> int:
  """chunk if given, else as many items as fit in CHUNK_BYTES; never more than total."""
  if chunk is None:
    chunk = max(1, CHUNK_BYTES // max(bytes_per_item, 1))
  else:
    _check_count(chunk, 'chunk', 1)
  return int(min(chunk, total))


# --------------------------------------------------------------- permutation test


class PermutationTestResult(NamedTuple):
  """The step-down permutation test of the first k canonical components.

  correlations: (k,) the canonical correlations of the data (those of `linear.fit_cca`).
  statistics: (k,) Wilks' statistic of stage c, -sum_{j >= c} log(1 - r_j^2) over the
    canonical correlations left after removing the first c - 1 components.
  p_values_uncorrected: (k,) (1 + #{permutations with statistic >= the observed}) / (B + 1).
  p_values_fwer: (k,) family-wise error rate adjusted p-values: the running maximum of the
    uncorrected ones (closed testing); reject components 1..c where p_values_fwer[c] <= alpha.
  null_distribution: (B, k) the statistics of the B permuted data sets.
  num_permutations: B (the identity, which `statistics` are, not counted).
  """
  correlations: Array
  statistics: Array
  p_values_uncorrected: Array
  p_values_fwer: Array
  null_distribution: Array
  num_permutations: int


@functools.partial(jax.jit, static_argnames='rcond')
def _canonical_bases(x1, x2, r1, r2, rcond):
  """Whitened views rotated to canonical coordinates: U (n, D), V (n, E), correlations.

  Each view is whitened in the eigenbasis of Sigma_ii + r_i I, eigenvalues descending, with
  directions at or below rcond times the largest dropped (zero columns, last), as
  `objectives.inverse_sqrt_psd` drops them. Then T = X1w^T X2w / (n - 1) and the rotations
  L, M: the eigenvectors of T T^T and T^T T, descending, with the dropped directions pushed
  below every other eigenvalue (-2 < 0 <= r^2), so that column c < min(D, E) of U = X1w L and
  of V = X2w M is the c-th pair of canonical variates, the columns after them span the rest of
  each (whitened) view and the dropped directions come last. U^T V / (n - 1) = L^T T M is
  diagonal (the correlations), and U^T U / (n - 1) = I for r = 0.
  A view wider than the sample (D > n) is whitened in the sample space instead
  (`linear._whitened_scores`): its whitened rows X C^{-1/2} = Y V^T span the same subspace of
  R^n as the n columns of Y, so U is (n, n) with the same statistics, and each permutation
  costs an (n, n) x (n, E) product instead of (n, D) x (n, E).
  """
  n = x1.shape[0]

  def whiten(x, r):
    centred = objectives.centre(x)
    if centred.shape[1] > n:
      view = linear._whitened_scores(centred, r, 0.0, rcond)  # pylint: disable=protected-access
      return view.scores, jnp.diag(view.regularised) > 0
    sigma = centred.T @ centred / (n - 1)
    values, vectors = jnp.linalg.eigh(sigma + r * jnp.eye(sigma.shape[0], dtype=sigma.dtype))
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > rcond * values[0]
    scale = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, values, 1.0)), 0.0)
    return centred @ (vectors * scale), keep

  (x1w, keep1), (x2w, keep2) = whiten(x1, r1), whiten(x2, r2)
  t = x1w.T @ x2w / (n - 1)

  def rotation(gram, keep):
    shifted = gram - 2.0 * jnp.diag(jnp.where(keep, 0.0, 1.0).astype(gram.dtype))
    return jnp.linalg.eigh(shifted)[1][:, ::-1]

  u, v = x1w @ rotation(t @ t.T, keep1), x2w @ rotation(t.T @ t, keep2)
  correlations = jnp.linalg.svd(t, compute_uv=False)
  ranks = jnp.sum(keep1), jnp.sum(keep2)
  return u, v, correlations, ranks, (objectives.all_finite(u), objectives.all_finite(v))


def _permuted_products_xla(u_NxD: Array, v_NxE: Array, permutations_BxN: Array) -> Array:
  """[U[pi_1], ..., U[pi_B]]^T V: (B D, E), all B products as one matrix product. A gather of
  whole rows into the (n, B, D) layout needs no transpose of the n-row operands (on a CPU this
  beat gathering U^T's columns, or U[pi] followed by a batched product, by a quarter or more).
  """
  n = u_NxD.shape[0]
  permuted = u_NxD.at[permutations_BxN.T].get(mode='promise_in_bounds').reshape(n, -1)
  return jax.lax.dot_general(permuted, v_NxE, (((0,), (0,)), ((), ())))


def _words(x: Array) -> Array:
  """x's bits as uint32 (a trailing axis of 2 for 64-bit floats). JAX converts a callback's
  arguments and results under the x64 setting of the thread that runs it, which
  `jax.enable_x64` sets on the caller's thread only: float64 reached a callback run on XLA's
  worker thread as float32. Bits cross unchanged."""
  return jax.lax.bitcast_convert_type(x, jnp.uint32)


def _permuted_products_on_host(u_NxD: np.ndarray, v_NxE: np.ndarray,
                               permutations_BxN: np.ndarray) -> np.ndarray:
  """`_permuted_products_xla` in NumPy: its gather and BLAS product, (B D, E)."""
  permuted = np.take(u_NxD, np.asarray(permutations_BxN).T, axis=0)
  return permuted.reshape(u_NxD.shape[0], -1).T @ v_NxE


def _permuted_products_numpy(dtype, u_words, v_words, permutations_BxN) -> np.ndarray:
  """`_permuted_products_on_host` on `_words`, for `jax.pure_callback`."""
  u_NxD, v_NxE = (np.asarray(w).view(dtype).reshape(w.shape[:2]) for w in (u_words, v_words))
  product = _permuted_products_on_host(u_NxD, v_NxE, permutations_BxN)
  return product.view(np.uint32).reshape(product.shape + u_words.shape[2:])


def _permuted_products(u_NxD: Array, v_NxE: Array, permutations_BxN: Array) -> Array:
  """[U[pi_1], ..., U[pi_B]]^T V: (B D, E), the permutation test's cost (2 n D E B flops).

  On a CPU, NumPy's gather and BLAS product through `jax.pure_callback`: for 8 permutations of
  10,000 x (300, 300) on 2 cores, 415 ms against XLA's 531 ms in float64 and 226 against 301
  ms in float32 (XLA's CPU dot is Eigen's in float64, jax-ml/jax#3832). Elsewhere XLA's.
  (Covariances for the closed forms stay XLA's: there the callbacks, inside the chunked scan,
  made ridge CCA of 5000 x (200, 150) 2x slower.)
  """
  dtype = jnp.result_type(u_NxD, v_NxE)
  u_NxD, v_NxE = u_NxD.astype(dtype), v_NxE.astype(dtype)
  if dtype.itemsize not in (4, 8):
    return _permuted_products_xla(u_NxD, v_NxE, permutations_BxN)

  def on_host(u, v, permutations):
    u_words, v_words = _words(u), _words(v)
    product = (permutations.shape[0] * u.shape[1], v.shape[1])
    words = jax.ShapeDtypeStruct(product + u_words.shape[2:], jnp.uint32)
    return jax.lax.bitcast_convert_type(
        jax.pure_callback(functools.partial(_permuted_products_numpy, np.dtype(dtype)), words,
                          u_words, v_words, permutations, vmap_method='sequential'), dtype)

  return jax.lax.platform_dependent(u_NxD, v_NxE, permutations_BxN, cpu=on_host,
                                    default=_permuted_products_xla)


def _stage_statistics(u_NxD: Array, v_NxE: Array, permutations_BxN: Array,
                      k: int) -> Array:
  """Wilks' statistic of stages 1..k for each permutation of the rows of U: (B, k).

  G = U[pi]^T V / (n - 1); stage c's statistic is -log det(I - G_c^T G_c) with G_c = G[c:, c:]
  (U and V have identity covariance for r = 0, so these are -sum log(1 - r^2) over the
  canonical correlations of U[pi][:, c:] and V[:, c:]). det(I - G_c^T G_c) = det(H_c), H_c the
  principal submatrix [[I, G_c], [G_c^T, I]] of H = [[I, G], [G^T, I]]. In the order
  (u_k, ..., u_{D-1}), (v_k, ..., v_{E-1}), then the pairs (u_{k-1}, v_{k-1}), ...,
  (u_0, v_0), every H_c is a leading block, so one Cholesky factor of H gives every log det
  (2 sum log of its diagonal over the block's rows). It is built block by block: the u block
  is I; the v block's Schur complement is S = I - G_k^T G_k (G_k = G[k:, k:], the side with
  fewer columns; H's determinants do not change when U and V trade places), factored
  S = L L^T; the 2k pair rows' complement is then a (2k, 2k) matrix from triangular solves
  with L. (The earlier way, one Cholesky of all D + E rows of H with every pair in the
  interleaved part: 8 permutations of 10,000 x (300, 300), k 10, on 2 busy cores took 588 ms
  per chunk in float64 and 237 in float32, against 493 and 223 this way.) Cost per
  permutation: the (n, D) x (n, E) product (2 n D E flops), then G_k^T G_k and a Cholesky of
  min(D, E) - k rows.
  """
  products = _permuted_products(u_NxD, v_NxE, permutations_BxN)
  return _statistics_of_products(products.reshape(-1, u_NxD.shape[1], v_NxE.shape[1]),
                                 u_NxD.shape[0], k)


def _statistics_of_products(products_BxDxE: Array, n: int, k: int) -> Array:
  """`_stage_statistics` from the products U[pi]^T V of n rows."""
  g = products_BxDxE / (n - 1)
  b, d, e = g.shape
  if d < e:  # the v block: the side with fewer columns
    g, d, e = jnp.swapaxes(g, 1, 2), e, d
  pairs_uv = g[:, :k, :k]  # u_j against v_j' (j, j' < k)
  pairs_u = g[:, :k, k:]  # u_j against the v block
  pairs_v = g[:, k:, :k]  # the u block against v_j
  kept = g[:, k:, k:]  # the u block against the v block: G_k
  eye = functools.partial(jnp.eye, dtype=g.dtype)
  factor = jnp.linalg.cholesky(eye(e - k) - jnp.einsum('bij,bik->bjk', kept, kept))
  # The pair rows against the v block, less their part through the u block, through L^-T:
  # u_j: G[j, k:]; v_j: -G[k:, j]^T G_k (v_j meets the u block in G[k:, j]).
  crossing = jnp.concatenate([pairs_u, -jnp.einsum('bij,bik->bjk', pairs_v, kept)], axis=1)
  solved = jax.scipy.linalg.solve_triangular(factor, jnp.swapaxes(crossing, 1, 2), lower=True)
  identity = jnp.broadcast_to(eye(k), (b, k, k))
  pairs_block = jnp.concatenate([  # H's pair rows: [[I, G[:k, :k]], [G[:k, :k]^T, I]]
      jnp.concatenate([identity, pairs_uv], axis=2),
      jnp.concatenate([jnp.swapaxes(pairs_uv, 1, 2), identity], axis=2)], axis=1)
  schur = pairs_block - jnp.einsum('bij,bik->bjk', solved, solved)
  schur = schur.at[:, k:, k:].add(-jnp.einsum('bij,bik->bjk', pairs_v, pairs_v))
  order = np.ravel([(j, k + j) for j in range(k - 1, -1, -1)])  # (u_j, v_j), j = k-1 .. 0
  pair_factor = jnp.linalg.cholesky(schur[:, order][:, :, order])
  base = 2.0 * jnp.sum(jnp.log(jnp.diagonal(factor, axis1=1, axis2=2)), axis=1, keepdims=True)
  log_det = base + jnp.cumsum(2.0 * jnp.log(jnp.diagonal(pair_factor, axis1=1, axis2=2)), axis=1)
  ends = 2 * (k - np.arange(k)) - 1  # stage c: through pair c
  return 0.0 - log_det[:, ends]  # 0.0 - : +0 where nothing is left (not -0)


_stage_statistics_jit = jax.jit(_stage_statistics, static_argnames='k')
_statistics_of_products_jit = jax.jit(_statistics_of_products, static_argnames=('n', 'k'))


@functools.partial(jax.jit, static_argnames=('k', 'rcond'))
def stepdown_statistics(x1_NxD: Array, x2_NxE: Array, permutations_BxN: Array,
                        k: int | None = None, r1: float | Array = 0.0,
                        r2: float | Array = 0.0,
                        rcond: float = objectives.DEFAULT_RCOND) -> Array:
  """Stage statistics of the step-down test for given permutations: (B, k). Pure, jit- and
  vmap-safe (e.g. over simulated data sets); `permutation_test` is this plus checks, chunking
  and p-values.

  Winkler et al. (2020), Algorithm 1 (the authors' permcca.m): fit CCA once; for stage c,
  remove the first c - 1 canonical variates from both views and compute Wilks' statistic
  -sum log(1 - r_j^2) of the CCA between the rest of view 1, rows permuted, and the rest of
  view 2. "The rest" is the part of each whitened view orthogonal to its first c - 1
  variates (canonical coordinates, `_canonical_bases`): the sample-space residualisation the
  paper describes ("removing at each iteration the variance already explained"). permcca.m
  completes the weights A with null(A^T), in the coefficients of the raw variables: where
  D = E there is nothing to complete and the statistics agree to rounding (tested against a
  port of its loop); where D != E its complement, and so its permuted statistics, change
  when a variable is rescaled, while these, like CCA, are invariant to invertible linear
  maps of each view. The observed statistics agree in every case.
  With ridges r > 0, stage c tests the ridge CCA restricted, as its successive components
  are, to directions (Sigma_ii + r_i I)-orthogonal to the first c - 1 weights; its
  "correlations" are the singular values of the trailing block of L^T T_pi M. Only view 1's
  rows are permuted (permcca.m permutes both views independently: the same distribution).
  Where the stage has no correlation left (a rank-deficient view), the statistic is 0.
  Row b of `permutations_BxN` maps row i of view 1 to row permutations_BxN[b, i]; give the
  identity to get the observed statistics.
  """
  objectives.check_views([x1_NxD, x2_NxE], check_values=False)
  k = objectives.check_components(k, min(x1_NxD.shape[1], x2_NxE.shape[1]),
                                  'the stages are the min(D, E) canonical components')
  u, v, _, _, _ = _canonical_bases(linear.as_float(x1_NxD), linear.as_float(x2_NxE), r1, r2,
                                   rcond)
  return _stage_statistics(u, v, jnp.asarray(permutations_BxN), k)


@jax.jit
def stepdown_p_values(observed_K: Array, null_BxK: Array) -> tuple[Array, Array]:
  """(uncorrected, FWER-adjusted) p-values of the step-down test, each (K,).

  p_c = (1 + #{b: null[b, c] >= observed[c]}) / (B + 1): the observed data count as one
  permutation, which makes the test exact (never below 1 / (B + 1)). The stage-c hypothesis
  (rho_c = ... = 0) implies those of later stages, so closed testing rejects it at level alpha
  only if every earlier stage is rejected too: the adjusted p-values are the running maximum
  (Winkler et al. 2020, section 2.6; permcca.m's cummax).
  """
  count = jnp.sum(null_BxK >= observed_K, axis=0)
  uncorrected = (1.0 + count) / (null_BxK.shape[0] + 1.0)
  return uncorrected, jax.lax.cummax(uncorrected, axis=0)


def _prepare_two(x1, x2, k, r1, r2):
  """Validated float views and k (at most min(D, E, n - 1)), as `linear.fit_cca` checks."""
  x1, x2 = linear.as_float(x1), linear.as_float(x2)
  n = objectives.check_views([x1, x2], check_values=False)  # values: in the jitted passes
  objectives.check_regulariser(r1, 'r1')
  objectives.check_regulariser(r2, 'r2')
  k = objectives.check_components(
      k, min(x1.shape[1], x2.shape[1], n - 1),
      'at most min(feature dimensions, n - 1) components are identifiable')
  return x1, x2, n, k


def _check_permutations(permutations, n: int) -> np.ndarray:
  permutations = np.asarray(permutations)
  if permutations.ndim != 2 or permutations.shape[1] != n or permutations.shape[0] < 1:
    raise ValueError(f'permutations must have shape (B >= 1, {n}), got {permutations.shape}')
  if not np.issubdtype(permutations.dtype, np.integer):
    raise ValueError(f'permutations must be integer indices, got dtype {permutations.dtype}')
  if not np.array_equal(np.sort(permutations, axis=1),
                        np.broadcast_to(np.arange(n), permutations.shape)):
    raise ValueError(f'every row of permutations must be a permutation of 0..{n - 1}')
  return permutations.astype(np.int32)


def permutation_test(x1_NxD, x2_NxE, k: int | None = None, num_permutations: int = 1000,
                     r1: float = 0.0, r2: float = 0.0, *, blocks=None,
                     block_shuffle: str = 'within', permutations=None, seed: int = 0,
                     chunk: int | None = None,
                     rcond: float = objectives.DEFAULT_RCOND) -> PermutationTestResult:
  """Step-down permutation test of the canonical correlations, FWER-controlled (Winkler,
  Renaud, Smith and Nichols 2020, NeuroImage 220; their permcca.m).

  For each component c = 1..k: remove the first c - 1 canonical variates from both views,
  compute Wilks' statistic lambda_c = -sum_{j >= c} log(1 - r_j^2) of the remaining
  correlations (not r_c alone: the paper's choice, and one Cholesky factor gives every stage,
  see `stepdown_statistics`), on the data and on B row-permutations of view 1; then the
  p-values of `stepdown_p_values`. A plain test of r_c against permuted data, as in cca_zoo,
  keeps the variance the earlier components explain and is valid for c = 1 only.

  Speed: permuting rows does not change a view's covariance, so each view is whitened and
  rotated once; a permutation then costs one (n, D) x (n, E) product and one Cholesky
  factor of min(D, E) - k rows (`_stage_statistics`). Permutations come in chunks (`chunk`,
  default: what fits in CHUNK_BYTES) through one jitted function batched over them (one
  matrix product for the chunk), compiled once (the last chunk is padded).

  Args:
    x1_NxD, x2_NxE: the views (n samples each).
    k: components to test (default min(D, E, n - 1)).
    num_permutations: B, drawn by `permutation_indices(n, B, blocks=..., seed=...)`.
    r1, r2: ridges, as in `linear.fit_cca` (the test is of that model).
    blocks: optional (n,) integer exchangeability-block labels; see `permutation_indices`.
    block_shuffle: 'within', 'whole' or 'both' (with blocks).
    permutations: optional (B, n) integer permutations to use instead of drawing them.
    seed: seed of the drawn permutations.
    chunk: permutations per jitted call.
    rcond: pseudo-inverse cut-off, as in `linear.fit_cca`.

  Returns:
    `PermutationTestResult`.
  """
  x1, x2, n, k = _prepare_two(x1_NxD, x2_NxE, k, r1, r2)
  if permutations is not None:
    if blocks is not None:
      raise ValueError('give either permutations or blocks (to draw them), not both')
    permutations = _check_permutations(permutations, n)
    num_permutations = permutations.shape[0]
  else:
    _check_count(num_permutations, 'num_permutations', 1)
    layout = _block_layout(n, blocks, block_shuffle)
  u, v, correlations, ranks, finite = _canonical_bases(x1, x2, jnp.asarray(r1, x1.dtype),
                                                       jnp.asarray(r2, x1.dtype), rcond)
  objectives.raise_if_not_finite(finite, [x1, x2])
  if float(r1) == float(r2) == 0.0 and int(ranks[0]) + int(ranks[1]) > n - 1:
    raise ValueError(
        f'the views span {int(ranks[0])} + {int(ranks[1])} dimensions, more than the n - 1 = '
        f'{n - 1} of centred data: some canonical correlations are 1 whatever the '
        'permutation, so the test has no power; pass r1 or r2 > 0 (ridge CCA)')
  d, e = u.shape[1], v.shape[1]
  total = num_permutations + 1  # the identity first: the observed statistics
  # Per permutation: view 1's permuted rows (n, D), then G (D, E) and the matrices of
  # `_stage_statistics`, each at most D x E.
  size = _chunk_size(chunk, total, x1.dtype.itemsize * (n * d + 3 * d * e))
  key_words = _key_words(seed)
  # On a CPU the products run here in NumPy: `_permuted_products`'s callback, less its
  # conversions of U and V to and from bits at every chunk; each chunk's statistics run in XLA
  # while the next chunk's product does. 200 permutations of 10,000 x (300, 300), k 10, on 2
  # busy cores: 16.4-18.3 -> 13.9-15.8 s in float64; float32 within noise (7.6-8.3, 8.2-8.5).
  on_host = {device.platform for device in u.devices()} == {'cpu'}
  u_host, v_host = (np.asarray(u), np.asarray(v)) if on_host else (None, None)
  statistics = []
  for start in range(0, total, size):
    positions = np.arange(start, start + size) - 1  # -1: the identity; past the end: padding
    if permutations is None:
      batch = _draw(key_words, positions, layout, block_shuffle)
    else:
      drawn = (positions >= 0) & (positions < num_permutations)
      batch = np.where(drawn[:, None], permutations[np.clip(positions, 0, num_permutations - 1)],
                       np.arange(n, dtype=np.int32))
    if on_host:
      products = _permuted_products_on_host(u_host, v_host, batch).reshape(-1, d, e)
      statistics.append(_statistics_of_products_jit(products, n, k))
    else:
      statistics.append(_stage_statistics_jit(u, v, batch, k))
  statistics = np.concatenate([np.asarray(chunk) for chunk in statistics])[:total]
  if not np.all(np.isfinite(statistics)):
    raise ValueError('a canonical correlation of permuted data reached 1 (the Cholesky factor '
                     'failed): the views are (nearly) collinear; pass r1 or r2 > 0')
  observed, null = jnp.asarray(statistics[0]), jnp.asarray(statistics[1:])
  uncorrected, fwer = stepdown_p_values(observed, null)
  return PermutationTestResult(correlations=jnp.asarray(np.asarray(correlations)[:k]),
                               statistics=observed,
                               p_values_uncorrected=uncorrected, p_values_fwer=fwer,
                               null_distribution=null, num_permutations=num_permutations)


# --------------------------------------------------------------------- bootstrap


class BootstrapResult(NamedTuple):
  """Percentile bootstrap intervals; `*_ci` arrays stack (lower, upper) on a first axis of 2.

  correlations: (k,) the canonical correlations of the data; correlations_ci: (2, k).
  loadings, cross_loadings: as `loadings` and `cross_loadings` on the data, (D, k) and
    (E, k); loadings_ci, cross_loadings_ci: (2, D, k) and (2, E, k).
  replicates: (B, k) the aligned canonical correlations of the resamples.
  num_resamples: B.
  confidence: the coverage of the intervals.
  """
  correlations: Array
  correlations_ci: Array
  loadings: tuple[Array, Array]
  loadings_ci: tuple[Array, Array]
  cross_loadings: tuple[Array, Array]
  cross_loadings_ci: tuple[Array, Array]
  replicates: Array
  num_resamples: int
  confidence: float


@functools.partial(jax.jit, static_argnames='wide')
def _bootstrap_reference(x1, x2, weights, wide: bool):
  """The centred views side by side (n, D + E); what the refits compare with: the joint
  covariance of the data and the original weights (or, for views wider than the sample, the
  original variates X_i W_i in their stead), their variates' variances and which variables
  vary; whether each view is finite."""
  centred = jnp.concatenate([objectives.centre(x1), objectives.centre(x2)], axis=1)
  n, d = x1.shape
  varying = jnp.concatenate([jnp.any(x1 != x1[:1], axis=0), jnp.any(x2 != x2[:1], axis=0)])
  finite = objectives.all_finite(x1), objectives.all_finite(x2)
  if wide:
    variates = (centred[:, :d] @ weights[0], centred[:, d:] @ weights[1])
    variances = tuple(jnp.sum(z * z, axis=0) / (n - 1) for z in variates)
    return centred, (variates, variances, varying), finite
  sigma = centred.T @ centred / (n - 1)
  variances = tuple(jnp.sum(w * (s @ w), axis=0)
                    for w, s in zip(weights, (sigma[:d, :d], sigma[d:, d:])))
  return centred, (sigma, weights, variances, varying), finite


@functools.partial(jax.jit, static_argnames=('d', 'k', 'rcond'))
def _bootstrap_chunk(centred, reference, resamples_BxN, r1, r2, *, d, k, rcond):
  """Refits CCA on each resample: its rows, with repeats, weight the centred data by counts.

  Returns per resample: correlations (k,); the similarity (k, k) of each original component
  to each resampled one (the correlation of their variates on the original data, averaged
  over the two views); loadings (D, k), (E, k) and cross-loadings (D, k), (E, k) on the
  resample.
  """
  n = centred.shape[0]
  sigma, w_orig, var_orig, varying = reference

  def one(rows):
    counts = jnp.zeros(n, centred.dtype).at[rows].add(1.0)
    mean = counts @ centred / n
    s = (centred.T @ (centred * counts[:, None]) - n * jnp.outer(mean, mean)) / (n - 1)
    s11, s22, s12 = s[:d, :d], s[d:, d:], s[:d, d:]
    w1 = objectives.inverse_sqrt_psd(s11 + r1 * jnp.eye(d, dtype=s.dtype), rcond)
    w2 = objectives.inverse_sqrt_psd(s22 + r2 * jnp.eye(s22.shape[0], dtype=s.dtype), rcond)
    left, rho, right = jnp.linalg.svd(w1 @ s12 @ w2, full_matrices=False)
    a, b = w1 @ left[:, :k], w2 @ right[:k].T
    similarity = 0.0
    for weights, block, original, variance in ((a, sigma[:d, :d], w_orig[0], var_orig[0]),
                                                (b, sigma[d:, d:], w_orig[1], var_orig[1])):
      similarity += 0.5 * _correlation(original.T @ block @ weights, variance,
                                       jnp.sum(weights * (block @ weights), axis=0))
    var = jnp.where(varying, jnp.diag(s), 0.0)
    var_a, var_b = jnp.sum(a * (s11 @ a), axis=0), jnp.sum(b * (s22 @ b), axis=0)
    own = (_correlation(s11 @ a, var[:d], var_a), _correlation(s22 @ b, var[d:], var_b))
    cross = (_correlation(s12 @ b, var[:d], var_b), _correlation(s12.T @ a, var[d:], var_a))
    return rho[:k], similarity, own, cross

  return jax.lax.map(one, resamples_BxN)


@functools.partial(jax.jit, static_argnames=('d', 'k', 'rcond'))
def _bootstrap_chunk_in_sample_space(centred, reference, resamples_BxN, r1, r2, *, d, k, rcond):
  """`_bootstrap_chunk` for views wider than the sample (D or E > n). A resample's covariance
  is Z^T Z / (n - 1), Z = diag(sqrt(counts)) (X - mean_b) (n x (D + E); rows not drawn are
  zero), so each view is whitened in the sample space (`linear._whitened_scores`) and every
  covariance product goes through Z: n (D + E) k flops instead of a D x D block."""
  n = centred.shape[0]
  variates, var_orig, varying = reference

  def one(rows):
    counts = jnp.zeros(n, centred.dtype).at[rows].add(1.0)
    z = (centred - counts @ centred / n) * jnp.sqrt(counts)[:, None]
    z1, z2 = z[:, :d], z[:, d:]
    first, second = (linear._whitened_scores(v, r, 0.0, rcond)  # pylint: disable=protected-access
                     for v, r in ((z1, r1), (z2, r2)))
    left, rho, right = jnp.linalg.svd(first.scores.T @ second.scores / (n - 1),
                                      full_matrices=False)
    a, b = first.apply(left[:, :k]), second.apply(right[:k].T)
    similarity = 0.0
    for weights, view, original, variance in ((a, centred[:, :d], variates[0], var_orig[0]),
                                               (b, centred[:, d:], variates[1], var_orig[1])):
      projected = view @ weights  # the resampled weights' variates on the original data
      similarity += 0.5 * _correlation(original.T @ projected / (n - 1), variance,
                                       jnp.sum(projected * projected, axis=0) / (n - 1))
    var = jnp.where(varying, jnp.sum(z * z, axis=0) / (n - 1), 0.0)
    za, zb = z1 @ a, z2 @ b
    var_a, var_b = jnp.sum(za * za, axis=0) / (n - 1), jnp.sum(zb * zb, axis=0) / (n - 1)
    own = (_correlation(z1.T @ za / (n - 1), var[:d], var_a),
           _correlation(z2.T @ zb / (n - 1), var[d:], var_b))
    cross = (_correlation(z1.T @ zb / (n - 1), var[:d], var_b),
             _correlation(z2.T @ za / (n - 1), var[d:], var_a))
    return rho[:k], similarity, own, cross

  return jax.lax.map(one, resamples_BxN)


@functools.partial(jax.jit, static_argnames='n')
def _draw_resamples(key_words, positions, n):
  """n row indices in 0..n-1 per position: `_random_words` modulo n (bias below n / 2^32)."""
  return jax.vmap(lambda p: (_random_words(key_words, p, n)[0] % n).astype(jnp.int32))(positions)


def _aligned(similarity_BxKxK: np.ndarray, rho_BxK: np.ndarray, matrices):
  """Each resample's components matched to the original ones (see `bootstrap`): rho (B, k)
  and each (B, d, k) matrix reordered, the matrices' columns times the matched signs."""
  rho_BxK, matrices = rho_BxK.copy(), [m.copy() for m in matrices]
  for b, similarity in enumerate(similarity_BxKxK):
    _, order = scipy.optimize.linear_sum_assignment(-np.abs(similarity))
    signs = np.where(similarity[np.arange(len(order)), order] < 0, -1.0, 1.0)
    rho_BxK[b] = rho_BxK[b, order]
    for m in matrices:
      m[b] = m[b][:, order] * signs
  return rho_BxK, matrices


def bootstrap(x1_NxD, x2_NxE, k: int | None = None, num_resamples: int = 1000,
              r1: float = 0.0, r2: float = 0.0, *, confidence: float = 0.95, resamples=None,
              seed: int = 0, chunk: int | None = None,
              rcond: float = objectives.DEFAULT_RCOND) -> BootstrapResult:
  """Percentile bootstrap confidence intervals (Efron 1979) for the canonical correlations,
  loadings and cross-loadings of `linear.fit_cca` (the same k, r1, r2, rcond).

  Each resample draws n rows with replacement (resample b a function of (seed, b), as in
  `permutation_indices`, or the given `resamples`) and refits CCA.
  Resampled components come in any order and sign, so each is aligned to the original
  solution first: the similarity of original component c and resampled component c' is the
  correlation of their variates on the original data, averaged over the two views; the
  assignment maximising the summed |similarity| (Hungarian algorithm, scipy's
  linear_sum_assignment over the top k resampled components) matches them, and a negative
  similarity flips the resampled weights' signs (loadings and cross-loadings with them).
  The intervals are the (1 -+ confidence) / 2 quantiles of the aligned replicates (percentile
  method; no bias correction: BCa is left out). The correlation of component c in a resample
  is that of its matched component, so it can exceed the c-th largest.

  Resamples run in chunks of one jitted refit (`chunk`, default: what fits in CHUNK_BYTES),
  the resamples of a chunk one after another (`lax.map`), not vmapped: on XLA:CPU (jaxlib
  0.10.2, 2 cores) batched decompositions beside other work in one computation can deadlock,
  every thread idle and the result never ready. A jitted vmap of two independent eighs of
  60 x 60 over 50 resamples hung within 250 of 400 calls; the vmapped refits hung at 2000 x
  (50, 40) in 2 of 2 runs of 200 resamples, and at 60 x (120, 90) in the sample space within
  30 calls, while the unbatched decompositions ran 1000 fits without a hang; one after another,
  200 resamples of 2000 x (50, 40) take 0.34 s. The matching runs on the host. Views wider
  than the sample are refitted in the sample space (`_bootstrap_chunk_in_sample_space`).
  """
  x1, x2, n, k = _prepare_two(x1_NxD, x2_NxE, k, r1, r2)
  if not 0.0 < confidence < 1.0:
    raise ValueError(f'confidence must be in (0, 1), got {confidence}')
  if resamples is not None:
    resamples = np.asarray(resamples)
    if resamples.ndim != 2 or resamples.shape[1] != n or resamples.shape[0] < 1:
      raise ValueError(f'resamples must have shape (B >= 1, {n}), got {resamples.shape}')
    if not np.issubdtype(resamples.dtype, np.integer) or resamples.min() < 0 \
        or resamples.max() >= n:
      raise ValueError(f'resamples must be integer row indices in 0..{n - 1}')
    num_resamples = resamples.shape[0]
  else:
    _check_count(num_resamples, 'num_resamples', 1)
  params = linear.fit_cca(x1, x2, k, r1=r1, r2=r2, rcond=rcond)
  structure = _structure(params, (x1, x2))
  # NaN rows are missing views for fit_cca; the bootstrap needs complete data.
  wide = max(x1.shape[1], x2.shape[1]) > n
  centred, reference, finite = _bootstrap_reference(x1, x2, params.weights, wide)
  objectives.raise_if_not_finite(finite, [x1, x2])
  width = centred.shape[1]
  # Per resample: the weighted rows and products, and (wide) two n x n Gram matrices or
  # (narrow) the (D + E)^2 covariance and its whitened blocks.
  size = _chunk_size(chunk, num_resamples, x1.dtype.itemsize * (
      3 * n * width + 4 * n * n if wide else 2 * n * width + 4 * width**2))
  refit = _bootstrap_chunk_in_sample_space if wide else _bootstrap_chunk
  key_words = _key_words(seed)
  rho, matrices = [], []
  for start in range(0, num_resamples, size):
    positions = np.minimum(np.arange(start, start + size), num_resamples - 1)
    rows = (_draw_resamples(key_words, positions.astype(np.uint32), n) if resamples is None
            else resamples[positions].astype(np.int32))
    chunk_rho, similarity, own, cross = jax.device_get(refit(
        centred, reference, rows, jnp.asarray(r1, x1.dtype), jnp.asarray(r2, x1.dtype),
        d=x1.shape[1], k=k, rcond=rcond))
    keep = min(size, num_resamples - start)  # the last chunk is padded
    chunk_rho, chunk_matrices = _aligned(similarity[:keep], chunk_rho[:keep],
                                         [m[:keep] for m in (*own, *cross)])
    rho.append(chunk_rho)
    matrices.append(chunk_matrices)
  rho = np.concatenate(rho)
  quantiles = [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0]

  def interval(samples):
    return jnp.asarray(np.quantile(samples, quantiles, axis=0))

  intervals = [interval(np.concatenate([m[i] for m in matrices])) for i in range(4)]
  return BootstrapResult(
      correlations=params.correlations, correlations_ci=interval(rho),
      loadings=structure.loadings, loadings_ci=tuple(intervals[:2]),
      cross_loadings=structure.cross_loadings, cross_loadings_ci=tuple(intervals[2:]),
      replicates=jnp.asarray(rho), num_resamples=num_resamples, confidence=confidence)
