"""Tests of crossjax.data.simulate against float64 SciPy canonical correlations."""

import numpy as np
import pytest
import scipy.linalg

from crossjax import data


def _inv_sqrt(s):
  return scipy.linalg.fractional_matrix_power(s, -0.5).real


def _population_cca(covariance, features, i, j):
  """Canonical correlations and weights of views i, j from the joint covariance: whiten the
  diagonal blocks (scipy's fractional matrix power) and take the SVD of the cross block."""
  edges = np.concatenate([[0], np.cumsum(features)])
  block = lambda p, q: covariance[edges[p]:edges[p + 1], edges[q]:edges[q + 1]]
  wi, wj = _inv_sqrt(block(i, i)), _inv_sqrt(block(j, j))
  u, s, vt = np.linalg.svd(wi @ block(i, j) @ wj)
  return s, wi @ u, wj @ vt.T


def _sample_correlations(x1, x2):
  """Sample canonical correlations: singular values of Q1^T Q2 (QR of the centred views)."""
  q1, _ = np.linalg.qr(x1 - x1.mean(axis=0))
  q2, _ = np.linalg.qr(x2 - x2.mean(axis=0))
  return np.linalg.svd(q1.T @ q2, compute_uv=False)


@pytest.mark.parametrize('active, a', [(None, 0.0), (None, 0.6), (2, 0.0),
                                        (np.array([3, 4, 3]), 0.5)])
def test_population_ground_truth_is_exact(active, a):
  features, rho = [9, 12, 10], [0.9, 0.6, 0.3]
  sim = data.simulate(50, features, rho, active_features=active, within_view_correlation=a,
                      seed=3)
  assert [v.shape for v in sim.views] == [(50, d) for d in features]
  np.testing.assert_array_equal(sim.correlations, rho)
  edges = np.concatenate([[0], np.cumsum(features)])
  # The within-view blocks are AR(1) Toeplitz matrices, built here independently.
  for i, d in enumerate(features):
    expected = scipy.linalg.toeplitz(a ** np.arange(d))
    np.testing.assert_allclose(sim.covariance[edges[i]:edges[i + 1], edges[i]:edges[i + 1]],
                               expected, atol=1e-15)
    w = sim.weights[i]
    np.testing.assert_allclose(w.T @ expected @ w, np.eye(3), atol=1e-12)
  assert np.linalg.eigvalsh(sim.covariance).min() > 0
  for i in range(3):
    for j in range(i + 1, 3):
      s, wi, wj = _population_cca(sim.covariance, features, i, j)
      np.testing.assert_allclose(s[:3], rho, atol=1e-12)
      np.testing.assert_allclose(s[3:], 0.0, atol=1e-12)
      # Distinct correlations: the weights are the planted ones up to sign.
      for w_true, w_ref in ((sim.weights[i], wi[:, :3]), (sim.weights[j], wj[:, :3])):
        signs = np.sign(np.sum(w_true * w_ref, axis=0))
        np.testing.assert_allclose(w_ref * signs, w_true, atol=1e-10)
  if active is not None:
    for w, s in zip(sim.weights, np.broadcast_to(active, 3)):
      supports = [set(np.flatnonzero(column)) for column in w.T]
      assert [len(support) for support in supports] == [s] * 3
      assert not set.intersection(*supports[:2]) and not supports[0] & supports[2] \
          and not supports[1] & supports[2]


def test_whitened_joint_eigenvalues():
  """1 + (m - 1) rho, 1 - rho (m - 1 times) and 1: the docstring's exactness argument."""
  features, rho = [4, 5, 6], np.array([0.8, 0.4])
  sim = data.simulate(10, features, rho, within_view_correlation=0.3, seed=1)
  edges = np.concatenate([[0], np.cumsum(features)])
  whitening = scipy.linalg.block_diag(*[
      _inv_sqrt(sim.covariance[edges[i]:edges[i + 1], edges[i]:edges[i + 1]])
      for i in range(3)])
  eigenvalues = np.linalg.eigvalsh(whitening @ sim.covariance @ whitening)
  expected = np.sort(np.concatenate([1 + 2 * rho, 1 - rho, 1 - rho,
                                     np.ones(sum(features) - 3 * 2)]))
  np.testing.assert_allclose(eigenvalues, expected, atol=1e-12)


def test_sample_correlations_and_reproducibility():
  n, rho = 20000, [0.8, 0.5, 0.0]
  sim = data.simulate(n, [5, 4], rho, active_features=1, seed=7, dtype=np.float32)
  assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in sim.views)
  # Sampling error of a canonical correlation ~ (1 - rho^2) / sqrt(n); the null one is biased
  # upward by about sqrt(d1 d2 / n).
  np.testing.assert_allclose(_sample_correlations(*sim.views)[:3], rho, atol=3 / np.sqrt(n))
  # The sample covariance matches the population one within its sampling error.
  sample = np.cov(np.concatenate(sim.views, axis=1).astype(np.float64), rowvar=False)
  np.testing.assert_allclose(sample, sim.covariance, atol=5 / np.sqrt(n))
  again = data.simulate(n, [5, 4], rho, active_features=1, seed=7, dtype=np.float32)
  other = data.simulate(n, [5, 4], rho, active_features=1, seed=8, dtype=np.float32)
  for field in ('views', 'weights'):
    for x, y in zip(getattr(sim, field), getattr(again, field)):
      np.testing.assert_array_equal(x, y)
  assert not np.array_equal(sim.views[0], other.views[0])


def test_independent_views():
  sim = data.simulate(30, [3, 4], [0.0])
  np.testing.assert_array_equal(sim.covariance[:3, 3:], 0.0)


@pytest.mark.parametrize('kwargs, message', [
    (dict(view_features=[4]), 'at least 2 views'),
    (dict(view_features=[4, 0]), 'view 2'),
    (dict(correlations=[1.0]), r'\[0, 1\)'),
    (dict(correlations=[-0.1]), r'\[0, 1\)'),
    (dict(correlations=[]), 'non-empty'),
    (dict(correlations=[0.5] * 5), 'at least 5 features'),
    (dict(n_samples=0), 'n_samples'),
    (dict(within_view_correlation=1.0), 'within_view_correlation'),
    (dict(within_view_correlation=float('nan')), 'within_view_correlation'),
    (dict(correlations=[0.5, 0.4], active_features=3), 'need 6 features'),
    (dict(correlations=[0.5, 0.4], active_features=1, within_view_correlation=0.2),
     'active_features >= 2'),
    (dict(active_features=[1, 2, 3]), '3 active_features for 2 views'),
    (dict(active_features=0), 'active_features must be'),
    (dict(dtype=np.int32), 'floating'),
])
def test_bad_input(kwargs, message):
  arguments = dict(n_samples=10, view_features=[4, 5], correlations=[0.5]) | kwargs
  with pytest.raises(ValueError, match=message):
    data.simulate(**arguments)
