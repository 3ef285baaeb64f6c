"""Tests of crossjax.tensor (tensor CCA) against an explicit float64 covariance tensor."""

import jax
import numpy as np
import pytest
import scipy.linalg

from crossjax import data
from crossjax import tensor
from tests import reference


def _skewed_factors(rng, n, probabilities):
  """(n, k) independent standardised Bernoulli(p) factors: skewness (1 - 2p)/sqrt(p (1 - p))."""
  p = np.asarray(probabilities)
  return ((rng.random((n, len(p))) < p) - p) / np.sqrt(p * (1 - p))


def _whitening(view):
  """(n - 1) covariance^{-1/2} of a view, by scipy's eigh."""
  values, vectors = scipy.linalg.eigh(np.cov(view, rowvar=False))
  return (vectors / np.sqrt(values)) @ vectors.T


def _explicit_tensor(views):
  whitened = [(v - v.mean(axis=0)) @ _whitening(v) for v in views]
  return np.einsum('na,nb,nc->abc', *whitened) / (len(views[0]) - 1)


def _unfold(tensor_, mode):
  return np.moveaxis(tensor_, mode, 0).reshape(tensor_.shape[mode], -1)


def _khatri_rao(factors):
  """Column-wise Kronecker product, rows in the order of `_unfold`'s columns."""
  product = factors[0]
  for factor in factors[1:]:
    product = np.einsum('ak,bk->abk', product, factor).reshape(-1, product.shape[1])
  return product


def _textbook_als(tensor_, k, tol=1e-13, max_iterations=10000):
  """CP-ALS on the explicit tensor (Kolda and Bader 2009, Fig. 3.3), started from the leading
  left singular vectors of each unfolding (HOSVD, tensorly's 'svd' initialisation)."""
  modes = range(tensor_.ndim)
  factors = [np.linalg.svd(_unfold(tensor_, i))[0][:, :k] for i in modes]
  for _ in range(max_iterations):
    previous = [f.copy() for f in factors]
    for i in modes:
      others = [factors[j] for j in modes if j != i]
      gram = np.prod([f.T @ f for f in others], axis=0)
      u = _unfold(tensor_, i) @ _khatri_rao(others) @ np.linalg.inv(gram)
      weights = np.linalg.norm(u, axis=0)
      factors[i] = u / weights
    if max(np.abs(a - b).max() for a, b in zip(factors, previous)) < tol:
      return weights, factors
  raise AssertionError('the reference ALS did not converge')


def _unit_factors(views, weights):
  """The whitened unit-norm factors u_i = S_ii^{1/2} w_i / ||.|| of fitted weights."""
  factors = []
  for view, w in zip(views, weights):
    u = np.linalg.inv(_whitening(view)) @ np.asarray(w)
    factors.append(u / np.linalg.norm(u, axis=0))
  return factors


def _signs_match(actual, expected, atol):
  signs = np.sign(np.sum(actual * expected, axis=0))
  np.testing.assert_allclose(actual * signs, expected, atol=atol)


def _planted_views(n, dims, probabilities, seed):
  """x_i = f A_i^T + e_i: skewed factors f, loadings A_i (d_i, k), and noise e_i from the
  independent AR(1) views of `data.simulate` (its null). Returns the views, the population
  weights' directions C_i^{-1} a_ij (C_i = S_ii + A_i A_i^T) and the population CP weights
  skewness_j prod_i ||C_i^{-1/2} a_ij||: M = sum_j skewness_j o_i C_i^{-1/2} a_ij exactly."""
  a = 0.5
  noise = data.simulate(n, dims, [0.0], within_view_correlation=a, seed=seed)
  rng = np.random.default_rng(seed)
  p = np.asarray(probabilities)
  latent = _skewed_factors(rng, n, p)
  loadings = [rng.standard_normal((d, len(p))) for d in dims]
  views = [e + latent @ l.T for e, l in zip(noise.views, loadings)]
  covariances = [scipy.linalg.toeplitz(a ** np.arange(d)) + l @ l.T
                 for d, l in zip(dims, loadings)]
  directions = [np.linalg.solve(c, l) for c, l in zip(covariances, loadings)]
  norms = np.prod([np.sqrt(np.sum(l * w, axis=0)) for l, w in zip(loadings, directions)], axis=0)
  return views, directions, (1 - 2 * p) / np.sqrt(p * (1 - p)) * norms


def test_against_explicit_tensor_and_planted_factors():
  """One compiled fit (k = 2, views 4, 5, 5 wide) for every check: the explicit-tensor ALS
  reference, stationarity, the planted factors, invariances, transform and score, the
  non-convergence warning and non-finite input."""
  n, dims = 2000, (4, 5, 5)
  views, directions, population = _planted_views(n, dims, [0.15, 0.3], seed=2)
  with jax.enable_x64(True):
    params = tensor.fit_tcca(views, k=2, tol=1e-12, max_iterations=5000)
    assert bool(params.converged) and 1 < int(params.iterations) < 5000
    m_tensor = _explicit_tensor(views)
    lam, expected = _textbook_als(m_tensor, 2)
    order = np.argsort(-lam)
    np.testing.assert_allclose(params.cp_weights, lam[order], rtol=1e-9)
    factors = _unit_factors(views, params.cca.weights)
    for u, u_ref in zip(factors, expected):
      _signs_match(u, u_ref[:, order], atol=1e-8)
    # Stationarity on the explicit tensor: every mode solves its least-squares problem. The
    # oriented factors carry signs s_j: the CP term j is s_j lambda_j u_1j o u_2j o u_3j.
    signs = np.sign(np.einsum('abc,aj,bj,cj->j', m_tensor, *factors))
    for i in range(3):
      others = [factors[j] for j in range(3) if j != i]
      np.testing.assert_allclose(
          _unfold(m_tensor, i) @ _khatri_rao(others),
          factors[i] * signs * params.cp_weights @ np.prod([f.T @ f for f in others], axis=0),
          atol=1e-10)

    # The planted factors, within sampling error (a ~ sqrt(d / n) angle; lambda: see below).
    for w, direction in zip(params.cca.weights, directions):
      w = np.asarray(w)
      cosines = np.abs(np.sum(w * direction, axis=0)) / np.linalg.norm(w, axis=0) \
          / np.linalg.norm(direction, axis=0)
      assert np.all(np.sqrt(1 - cosines ** 2) < 5 * np.sqrt(5 / n)), cosines
    z = [(v - v.mean(axis=0)) @ d for v, d in zip(views, directions)]
    z = [zi / zi.std(axis=0, ddof=1) for zi in z]
    error = np.std(np.prod(z, axis=0), axis=0, ddof=1) / np.sqrt(n)
    np.testing.assert_allclose(params.cp_weights, population, atol=4 * np.max(error))

    # Held-out quantities on the training data: <M, u_1j o u_2j o u_3j> and the orientation.
    np.testing.assert_allclose(tensor.high_order_correlations(params, *views),
                               np.einsum('abc,aj,bj,cj->j', m_tensor, *factors), atol=1e-10)
    z = [(v - v.mean(axis=0)) @ np.asarray(w) for v, w in zip(views, params.cca.weights)]
    for zi, ti in zip(z, tensor.transform(params, *views)):
      np.testing.assert_allclose(ti, zi, atol=1e-10)
    assert np.all(np.sum(z[0] * z[1], axis=0) >= 0) and np.all(np.sum(z[0] * z[2], axis=0) >= 0)
    assert np.all(signs > 0)  # odd m: oriented to a non-negative high-order correlation
    pairwise = [reference.correlations_of(z[i], z[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(params.cca.correlations, np.mean(pairwise, axis=0), atol=1e-10)
    np.testing.assert_allclose(tensor.score(params, *views), np.sum(pairwise) / 3, atol=1e-10)

    # Sample order does not matter; swapping views permutes the outputs.
    permutation = np.random.default_rng(0).permutation(n)
    shuffled = tensor.fit_tcca([v[permutation] for v in views], k=2, tol=1e-12)
    swapped = tensor.fit_tcca([views[0], views[2], views[1]], k=2, tol=1e-12)
    w = params.cca.weights
    for fitted, expected_weights in ((shuffled, w), (swapped, (w[0], w[2], w[1]))):
      np.testing.assert_allclose(fitted.cp_weights, params.cp_weights, rtol=1e-9)
      for a, b in zip(fitted.cca.weights, expected_weights):
        np.testing.assert_allclose(a, b, atol=1e-8)

    # Not converged: said in the result and by a warning.
    with pytest.warns(RuntimeWarning, match='did not converge in 1 sweeps'):
      early = tensor.fit_tcca(views, k=2, max_iterations=1)
    assert not bool(early.converged) and int(early.iterations) == 1
    with pytest.raises(ValueError, match='view 2 contains NaN'):
      tensor.fit_tcca([views[0], np.where(views[1] > 3, np.nan, views[1]), views[2]], k=2)


def test_two_views_is_cca():
  """m = 2: M is the whitened cross-covariance; rank 1 is CCA's first pair (scipy's eigh)."""
  rng = np.random.default_rng(3)
  x1 = rng.standard_normal((300, 4))
  x2 = x1[:, :3] @ rng.standard_normal((3, 5)) + 2 * rng.standard_normal((300, 5))
  with jax.enable_x64(True):
    params = tensor.fit_tcca([x1, x2], k=1, tol=1e-12)
  correlation, w1, w2 = reference.cca(x1, x2, 1)
  np.testing.assert_allclose(params.cp_weights, correlation, rtol=1e-9)
  sign = np.sign(np.sum(np.asarray(params.cca.weights[0]) * w1))
  np.testing.assert_allclose(np.asarray(params.cca.weights[0]) * sign, w1, atol=1e-9)
  np.testing.assert_allclose(np.asarray(params.cca.weights[1]) * sign, w2, atol=1e-9)


@pytest.mark.parametrize('views, kwargs, message', [
    ([(20, 3)], {}, 'at least 2 views'),
    ([(20, 3), (20, 4)], dict(k=4), 'k=4 must be between 1 and 3'),
    ([(20, 3), (20, 4)], dict(k=0), 'k=0'),
    ([(20, 3), (19, 4)], {}, 'different sample counts'),
    ([(20, 3), (20, 4)], dict(r=-1.0), 'regulariser r1'),
    ([(20, 3), (20, 4)], dict(r=[0.1]), '1 regularisers for 2 views'),
    ([(20, 3), (20, 4)], dict(shrinkage=1.5), 'shrinkage of view 1'),
    ([(20, 3), (20, 4)], dict(max_iterations=0), 'max_iterations'),
    ([(20, 3), (20, 4)], dict(tol=0.0), 'tol'),
    ([(20, 3), (20, 4)], dict(tol=float('nan')), 'tol'),
])
def test_bad_input(views, kwargs, message):
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match=message):
    tensor.fit_tcca([rng.standard_normal(shape) for shape in views], **kwargs)
