"""Kernel CCA with a Gaussian (RBF) kernel, through the Nystrom approximation.

Kernel CCA (Lai and Fyfe 2000; Bach and Jordan 2002) is linear CCA between the feature maps of
two reproducing-kernel Hilbert spaces, regularised by the RKHS norm. Exact KCCA needs the
n x n kernel matrices (54k x 54k for MNIST halves); with M landmarks L (a seeded sample of the
training rows) the Nystrom method (Williams and Seeger 2001) gives explicit features

  phi(x) = k(x, L) K_LL^{+1/2},   k(x, y) = exp(-||x - y||^2 / (2 width^2)),

whose inner products phi(x)^T phi(y) approximate k(x, y) (exactly when x, y are landmarks).
Ridge CCA (`linear.fit_cca`) on phi with ridge r is then approximate KCCA with regulariser r:
the large-scale route of Wang and Livescu 2016 ("Large-scale approximate kernel canonical
correlation analysis"). Andrew et al. 2013 report 33.0 for KCCA (RBF) on MNIST halves (top-50
test total correlation).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.distance import pdist

from crossjax import linear, objectives

Array = jax.Array


class NystromMap(NamedTuple):
  """phi(x) = exp(-gamma ||x - L||^2) @ projection, gamma = 1 / (2 width^2).

  landmarks: (M, d) rows of the training view; projection: (M, M) K_LL^{+1/2}."""
  landmarks: Array
  gamma: Array
  projection: Array


class KernelCCAParams(NamedTuple):
  """A fitted approximate kernel CCA: a Nystrom map per view and linear CCA on the features."""
  maps: tuple[NystromMap, ...]
  cca: linear.LinearCCAParams


@jax.jit
def rbf_kernel(x_NxD: Array, y_MxD: Array, gamma: Array) -> Array:
  """(N, M) Gaussian kernel exp(-gamma ||x_i - y_j||^2); distances clamped at 0 (rounding)."""
  squared = (jnp.sum(x_NxD * x_NxD, axis=1)[:, None] + jnp.sum(y_MxD * y_MxD, axis=1)[None, :]
             - 2.0 * x_NxD @ y_MxD.T)
  return jnp.exp(-gamma * jnp.maximum(squared, 0.0))


def median_distance(x_NxD, sample: int = 2000, seed: int = 0) -> float:
  """The median Euclidean distance between distinct rows of a seeded sample of x: the usual
  scale for an RBF kernel's width (Scholkopf and Smola 2002)."""
  x = np.asarray(x_NxD, dtype=np.float64)
  rows = x[np.random.default_rng(seed).permutation(len(x))[:sample]]
  return float(np.median(pdist(rows)))


@functools.partial(jax.jit, static_argnames=('rcond',))
def _nystrom_map(landmarks, gamma, *, rcond):
  projection = objectives.inverse_sqrt_psd(rbf_kernel(landmarks, landmarks, gamma), rcond)
  return NystromMap(landmarks, gamma, projection)


def nystrom_map(x_NxD, num_landmarks: int, width: float, seed: int = 0,
                rcond: float = objectives.DEFAULT_RCOND) -> NystromMap:
  """The Nystrom map of an RBF kernel of `width` on `num_landmarks` seeded rows of x."""
  x = linear.as_float(x_NxD)
  n = objectives.check_views([x], min_samples=2)
  if not 1 <= num_landmarks <= n:
    raise ValueError(f'num_landmarks must be in [1, {n}] (the training rows), got {num_landmarks}')
  if not width > 0 or not np.isfinite(width):
    raise ValueError(f'the kernel width must be a positive number, got {width}')
  chosen = np.sort(np.random.default_rng(seed).permutation(n)[:num_landmarks])
  gamma = jnp.asarray(0.5 / width ** 2, x.dtype)
  return _nystrom_map(x[chosen], gamma, rcond=rcond)


@jax.jit
def nystrom_features(feature_map: NystromMap, x_NxD: Array) -> Array:
  """(N, M) features phi(x) of the rows of x."""
  return rbf_kernel(x_NxD, feature_map.landmarks, feature_map.gamma) @ feature_map.projection


def features(params: KernelCCAParams, *views) -> list[Array]:
  """The Nystrom features (n, M) of each view under the fitted maps."""
  if len(views) != len(params.maps):
    raise ValueError(f'the model was fitted on {len(params.maps)} views, got {len(views)}')
  views = [linear.as_float(v) for v in views]
  objectives.check_views(views, min_samples=1)
  for i, (view, feature_map) in enumerate(zip(views, params.maps), start=1):
    if view.shape[1] != feature_map.landmarks.shape[1]:
      raise ValueError(f'view {i} has {view.shape[1]} features, the model was fitted on '
                       f'{feature_map.landmarks.shape[1]}')
  return [nystrom_features(m, v) for m, v in zip(params.maps, views)]


def fit_kernel_cca_path(x1_NxD, x2_NxE, k: int, widths: tuple[float, float],
                        ridges: Sequence[tuple[float, float]], num_landmarks: int, seed: int = 0,
                        rcond: float = objectives.DEFAULT_RCOND) -> list[KernelCCAParams]:
  """Approximate RBF kernel CCA for each (r1, r2) in `ridges`: the Nystrom features of each
  view (`num_landmarks` rows, seeded; the same rows for both views, as they are paired) are
  computed once and shared by a ridge CCA per pair, so a regularisation path costs one
  feature map."""
  x1, x2 = (linear.as_float(x) for x in (x1_NxD, x2_NxE))
  objectives.check_views([x1, x2])  # shapes, and NaN or Inf in the (concrete) values
  maps = tuple(nystrom_map(x, num_landmarks, width, seed, rcond)
               for x, width in zip((x1, x2), widths))
  phi = [nystrom_features(m, x) for m, x in zip(maps, (x1, x2))]
  return [KernelCCAParams(maps, linear.fit_cca(*phi, k, r1, r2, rcond)) for r1, r2 in ridges]


def fit_kernel_cca(x1_NxD, x2_NxE, k: int, widths: tuple[float, float], r1: float, r2: float,
                   num_landmarks: int, seed: int = 0,
                   rcond: float = objectives.DEFAULT_RCOND) -> KernelCCAParams:
  """Approximate RBF kernel CCA with ridges r1, r2 (`fit_kernel_cca_path` for one pair)."""
  return fit_kernel_cca_path(x1_NxD, x2_NxE, k, widths, [(r1, r2)], num_landmarks, seed,
                             rcond)[0]


def transform(params: KernelCCAParams, *views) -> tuple[Array, ...]:
  """The canonical variates (n, k) of each view."""
  return linear.transform(params.cca, *features(params, *views))


def component_correlations(params: KernelCCAParams, *views) -> Array:
  """(k,) correlation of each kernel canonical component on the given data."""
  return linear.component_correlations(params.cca, *features(params, *views))
