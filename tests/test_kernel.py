"""Approximate RBF kernel CCA (Nystrom + ridge CCA) against an exact dual float64 reference."""

import jax
import numpy as np
import pytest

from crossjax import kernel, linear
from tests import reference


def nonlinear_views(n, seed=0):
  """x2 depends on x1 only through even functions (x^2, cos 3x): no linear correlation to find."""
  rng = np.random.default_rng(seed)
  x1 = rng.uniform(-1, 1, size=(n, 2))
  x2 = np.stack([x1[:, 0] ** 2, np.cos(3 * x1[:, 1])], axis=1) + 0.05 * rng.normal(size=(n, 2))
  return x1, x2


def test_nystrom_on_all_rows_reproduces_the_kernel():
  x, _ = nonlinear_views(60)
  with jax.enable_x64(True):
    feature_map = kernel.nystrom_map(x, num_landmarks=60, width=0.3, rcond=1e-14)
    phi = np.asarray(kernel.nystrom_features(feature_map, x))
    squared = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    np.testing.assert_allclose(phi @ phi.T, np.exp(-squared / (2 * 0.3 ** 2)), atol=1e-8)


def test_kernel_cca_on_all_rows_equals_exact_dual_kernel_cca():
  x1, x2 = nonlinear_views(50)
  widths, r = (0.4, 0.3), 0.05
  with jax.enable_x64(True):
    params = kernel.fit_kernel_cca(x1, x2, 5, widths, r, r, num_landmarks=50, rcond=1e-14)
    np.testing.assert_allclose(params.cca.correlations,
                               reference.kernel_cca_dual(x1, x2, widths, r, 5), rtol=1e-6)


def test_ridge_path_shares_the_features_and_equals_separate_fits():
  x1, x2 = nonlinear_views(200)
  ridges = [(1e-3, 1e-2), (0.1, 0.05)]
  path = kernel.fit_kernel_cca_path(x1, x2, 3, (0.5, 0.4), ridges, num_landmarks=80)
  assert path[0].maps is path[1].maps
  for (r1, r2), params in zip(ridges, path):
    alone = kernel.fit_kernel_cca(x1, x2, 3, (0.5, 0.4), r1, r2, num_landmarks=80)
    np.testing.assert_allclose(params.cca.correlations, alone.cca.correlations, rtol=1e-6)
  assert not np.allclose(path[0].cca.correlations, path[1].cca.correlations)


@pytest.mark.slow
def test_kernel_cca_finds_the_nonlinear_relation_that_linear_cca_misses():
  x1, x2 = nonlinear_views(1500)
  t1, t2 = nonlinear_views(500, seed=1)
  linear_total = float(linear.score(linear.fit_cca(x1[:1000], x2[:1000], 2), t1, t2))
  params = kernel.fit_kernel_cca(x1[:1000], x2[:1000], 2, (0.5, 0.5), 1e-3, 1e-3,
                                 num_landmarks=200)
  kernel_correlations = np.asarray(kernel.component_correlations(params, t1, t2))
  assert linear_total < 0.3
  assert kernel_correlations.min() > 0.85, kernel_correlations


def test_bad_input_gets_a_clear_error():
  x1, x2 = nonlinear_views(30)
  with pytest.raises(ValueError, match='num_landmarks'):
    kernel.fit_kernel_cca(x1, x2, 2, (1.0, 1.0), 0.1, 0.1, num_landmarks=31)
  with pytest.raises(ValueError, match='width'):
    kernel.fit_kernel_cca(x1, x2, 2, (0.0, 1.0), 0.1, 0.1, num_landmarks=10)
  with pytest.raises(ValueError, match='sample'):
    kernel.fit_kernel_cca(x1, x2[:20], 2, (1.0, 1.0), 0.1, 0.1, num_landmarks=10)
  with pytest.raises(ValueError, match='NaN|finite'):
    kernel.fit_kernel_cca(np.where(x1 > 0.9, np.nan, x1), x2, 2, (1.0, 1.0), 0.1, 0.1,
                          num_landmarks=10)
  params = kernel.fit_kernel_cca(x1, x2, 2, (1.0, 1.0), 0.1, 0.1, num_landmarks=10)
  with pytest.raises(ValueError, match='features'):
    kernel.transform(params, x1[:, :1], x2)
