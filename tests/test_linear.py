"""Closed-form CCA family against float64 references, scikit-learn, sharding and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import NamedSharding, PartitionSpec as P
from sklearn.cross_decomposition import CCA as SklearnCCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crossjax import data, estimators, linear, objectives
from tests import reference
from tests.test_objectives import correlated_views


def assert_same_up_to_sign(a, b, **tolerance):
  signs = np.sign(np.sum(a * b, axis=0))
  np.testing.assert_allclose(a * signs, b, **tolerance)


@pytest.mark.parametrize('r1, r2', [(0.0, 0.0), (0.05, 0.2)])
def test_fit_cca_matches_reference(r1, r2):
  x1, x2 = correlated_views()
  rho, w1, w2 = reference.cca(x1, x2, 4, r1, r2)
  with jax.enable_x64(True):
    params = linear.fit_cca(x1, x2, 4, r1, r2)
    np.testing.assert_allclose(params.correlations, rho, rtol=1e-10)
    assert_same_up_to_sign(np.asarray(params.weights[0]), w1, rtol=1e-8, atol=1e-10)
    assert_same_up_to_sign(np.asarray(params.weights[1]), w2, rtol=1e-8, atol=1e-10)
    z1, z2 = transform = linear.transform(params, x1, x2)
    assert transform[0].shape == (200, 4)
    # On the training data the projections have the training correlations.
    np.testing.assert_allclose(reference.correlations_of(np.asarray(z1), np.asarray(z2)),
                               linear.component_correlations(params, x1, x2), rtol=1e-10)
    if r1 == r2 == 0.0:
      np.testing.assert_allclose(linear.component_correlations(params, x1, x2), rho,
                                 rtol=1e-10)


@pytest.mark.slow
def test_ridge_with_zero_regulariser_is_cca_and_ridge_shrinks():
  x1, x2 = correlated_views()
  with jax.enable_x64(True):
    plain = np.asarray(linear.fit_cca(x1, x2, 3).correlations)
    tiny = np.asarray(linear.fit_cca(x1, x2, 3, 1e-12, 1e-12).correlations)
    ridge = np.asarray(linear.fit_cca(x1, x2, 3, 1.0, 1.0).correlations)
  np.testing.assert_allclose(tiny, plain, rtol=1e-9)
  np.testing.assert_allclose(plain, objectives.canonical_correlations(x1, x2, 3), rtol=1e-5)
  assert np.all(ridge < plain)


def test_float32_and_float64_agree_and_compile_once():
  x1, x2 = correlated_views(dtype=np.float32)
  before = linear._fit_cca._cache_size()  # pylint: disable=protected-access
  params32 = linear.fit_cca(x1, x2, 3)
  assert params32.weights[0].dtype == jnp.float32
  # Same shapes, other values and regularisers: no new compilation.
  linear.fit_cca(x2[:, :5] * 2, x1[:, :5] + 1, 3, 0.5, 0.1)
  linear.fit_cca(x1[::-1], x2[::-1], 3, 0.1, 0.0)
  assert linear._fit_cca._cache_size() - before == 2  # pylint: disable=protected-access
  with jax.enable_x64(True):
    params64 = linear.fit_cca(x1.astype(np.float64), x2.astype(np.float64), 3)
    assert params64.weights[0].dtype == jnp.float64
  np.testing.assert_allclose(params32.correlations, params64.correlations, atol=1e-5)


def test_fit_accepts_arrays_sharded_over_samples():
  assert jax.device_count() == 4
  x1, x2 = correlated_views(n=200, dtype=np.float32)
  mesh = jax.make_mesh((4,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  sharding = NamedSharding(mesh, P('data'))
  sharded = linear.fit_cca(jax.device_put(x1, sharding), jax.device_put(x2, sharding), 3, 0.1)
  local = linear.fit_cca(x1, x2, 3, 0.1)
  np.testing.assert_allclose(sharded.correlations, local.correlations, rtol=1e-5)
  assert_same_up_to_sign(np.asarray(sharded.weights[0]), np.asarray(local.weights[0]),
                         rtol=1e-3, atol=1e-5)


def test_pseudo_inverse_on_rank_deficient_views():
  x1, x2 = correlated_views()
  x1 = np.concatenate([x1, np.full((200, 2), 3.0), x1[:, :1] * 2], axis=1)  # rank 6 of 9
  rcond = 1e-10
  rho, w1, w2 = reference.cca_pinv(x1, x2, 4, rcond)
  with jax.enable_x64(True):
    params = linear.fit_cca(x1, x2, 4, rcond=rcond)
    np.testing.assert_allclose(params.correlations, rho, rtol=1e-8)
    assert_same_up_to_sign(np.asarray(params.weights[0]), w1, rtol=1e-6, atol=1e-8)
    # The answer is that of the full-rank view without the redundant columns.
    np.testing.assert_allclose(params.correlations,
                               reference.cca(x1[:, :6], x2, 4)[0], rtol=1e-8)


def test_mcca_on_two_views_is_cca():
  x1, x2 = correlated_views()
  with jax.enable_x64(True):
    cca = linear.fit_cca(x1, x2, 3)
    mcca = linear.fit_mcca([x1, x2], 3)
    np.testing.assert_allclose(mcca.correlations, cca.correlations, rtol=1e-9)
    for a, b in zip(mcca.weights, cca.weights):
      assert_same_up_to_sign(np.asarray(a), np.asarray(b), rtol=1e-7, atol=1e-9)


def three_views(n=120, seed=9):
  rng = np.random.default_rng(seed)
  latent = rng.normal(size=(n, 2))
  return [latent @ rng.normal(size=(2, d)) + rng.normal(size=(n, d)) for d in (4, 3, 5)]


@pytest.mark.slow
def test_mcca_eigenvalues_and_unit_variance():
  views = three_views()
  ridges = [0.1, 0.0, 0.3]
  with jax.enable_x64(True):
    params = linear.fit_mcca(views, 2, ridges)
    projections = [np.asarray(z) for z in linear.transform(params, *views)]
    eigen = np.asarray(objectives.mcca_eigenvalues(views, 2, ridges))
  np.testing.assert_allclose(eigen, reference.mcca_eigenvalues(views, 2, ridges), rtol=1e-9)
  blocks = reference.covariance_blocks(views, ridges)
  for i, (z, w) in enumerate(zip(projections, params.weights)):
    np.testing.assert_allclose(np.diag(np.asarray(w).T @ blocks[i][i] @ np.asarray(w)), 1.0,
                               rtol=1e-9)
  pairs = [(0, 1), (0, 2), (1, 2)]
  average = np.mean([reference.correlations_of(projections[i], projections[j])
                     for i, j in pairs], axis=0)
  np.testing.assert_allclose(params.correlations, average, rtol=1e-9)


def test_gcca_consensus_matches_n_by_n_reference():
  views = three_views()
  ridges = [0.2, 0.05, 0.1]
  _, consensus = reference.gcca_consensus(views, 2, ridges)
  with jax.enable_x64(True):
    params = linear.fit_gcca(views, 2, ridges)
    total = np.asarray(sum(linear.transform(params, *views)))
  assert_same_up_to_sign(total, consensus, rtol=1e-7, atol=1e-8)


def test_agrees_with_sklearn_on_digits_halves():
  digits = data.digits_halves()['train']
  x1, x2 = digits['x1'].astype(np.float64), digits['x2'].astype(np.float64)
  # Drop the always-blank columns: scikit-learn's NIPALS cannot handle them.
  x1, x2 = x1[:, x1.std(0) > 0], x2[:, x2.std(0) > 0]
  theirs = SklearnCCA(n_components=3, max_iter=5000, tol=1e-12).fit(x1, x2)
  t1, t2 = theirs.transform(x1, x2)
  with jax.enable_x64(True):
    ours = linear.fit_cca(x1, x2, 3, rcond=1e-12)  # sklearn drops no direction
    np.testing.assert_allclose(reference.correlations_of(t1, t2), ours.correlations, rtol=1e-4)
    z1, _ = linear.transform(ours, x1, x2)
  # Same directions: each of our variates is (up to sign) scikit-learn's.
  for j in range(3):
    assert abs(np.corrcoef(np.asarray(z1)[:, j], t1[:, j])[0, 1]) > 0.999


def test_estimator_in_pipeline_and_grid_search():
  digits = data.digits_halves()
  train, test = (np.hstack([split['x1'], split['x2']])
                 for split in (digits['train'], digits['test']))
  sizes = (digits['train']['x1'].shape[1], digits['train']['x2'].shape[1])
  pipeline = make_pipeline(StandardScaler(),
                           estimators.CCA(n_components=4, r1=0.1, r2=0.1, view_sizes=sizes))
  pipeline.fit(train)
  assert pipeline.transform(test).shape == (len(test), 2 * 4)
  assert 0 < pipeline.score(test) <= 4
  search = GridSearchCV(estimators.CCA(n_components=4, view_sizes=sizes),
                        {'r1': [0.0, 0.1, 10.0], 'r2': [0.1]}, cv=3)
  search.fit(train)
  scores = search.cv_results_['mean_test_score']
  assert search.best_params_['r1'] == [0.0, 0.1, 10.0][int(np.argmax(scores))]
  assert scores[2] < max(scores[:2])  # heavy ridge costs held-out correlation


def test_transform_checks_widths():
  x1, x2 = correlated_views()
  params = linear.fit_cca(x1, x2, 2)
  with pytest.raises(ValueError, match='view 2 has 4 features, the model was fitted on 5'):
    linear.transform(params, x1, x2[:, :4])
  with pytest.raises(ValueError, match='fitted on 2 views'):
    linear.transform(params, x1)


# ------------------------------------------------------------------------ bad input


def bad_inputs():
  """(description, x1, x2, kwargs) for every kind of bad input the fits must refuse."""
  good = st.integers(2, 6).flatmap(lambda d: st.tuples(st.integers(8, 20), st.just(d)))

  def build(kind, n_d, value, k):
    n, d = n_d
    rng = np.random.default_rng(n * 7 + d)
    x1, x2 = rng.normal(size=(n, d)), rng.normal(size=(n, d + 1))
    kwargs = {}
    if kind == 'samples':
      x2 = x2[:-1 - (value % 3)]
    elif kind == 'ndim':
      x1 = x1.reshape(-1) if value % 2 else x1[..., None]
    elif kind == 'nonfinite':
      x1[value % n, value % d] = [np.nan, np.inf, -np.inf][value % 3]
    elif kind == 'k':
      kwargs['k'] = d + 1 + k
    elif kind == 'few':
      x1, x2 = x1[:1], x2[:1]
    elif kind == 'ridge':
      kwargs['r2'] = -float(value + 1) / 7
    elif kind == 'k_nonpositive':
      kwargs['k'] = -k
    return kind, x1, x2, kwargs

  return st.builds(build, st.sampled_from(['samples', 'ndim', 'nonfinite', 'k', 'few', 'ridge',
                                           'k_nonpositive']),
                   good, st.integers(0, 1000), st.integers(0, 5))


MESSAGES = {'samples': 'different sample counts', 'ndim': '2-D', 'nonfinite': 'NaN or Inf',
            'k': 'k=', 'few': 'at least 2 samples', 'ridge': 'r2 must be',
            'k_nonpositive': 'k='}


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(bad_inputs())
def test_bad_input_always_gets_a_clear_error(case):
  kind, x1, x2, kwargs = case
  with pytest.raises(ValueError, match=MESSAGES[kind]):
    linear.fit_cca(x1, x2, **kwargs)
  with pytest.raises(ValueError, match=MESSAGES[kind]):
    objectives.canonical_correlations(x1, x2, **kwargs)
  if kind in ('samples', 'ndim', 'nonfinite', 'few'):
    for fit in (linear.fit_mcca, linear.fit_gcca):
      with pytest.raises(ValueError, match=MESSAGES[kind]):
        fit([x1, x2, x2])
    with pytest.raises(ValueError, match=MESSAGES[kind]):
      objectives.dcca_objective(x1, x2)


@pytest.mark.slow
def test_chunked_one_pass_covariances_match_reference():
  # More rows than two chunks, with a ragged tail and a large offset: the chunked accumulation
  # of centred products against the float64 reference, and non-finite values in any chunk.
  n = 2 * linear.CHUNK_ROWS + 37
  rng = np.random.default_rng(11)
  latent = rng.normal(size=(n, 2))
  x1 = latent @ rng.normal(size=(2, 5)) + rng.normal(size=(n, 5)) + 100.0
  x2 = latent @ rng.normal(size=(2, 4)) + rng.normal(size=(n, 4)) - 50.0
  with jax.enable_x64(True):
    params = linear.fit_cca(x1, x2, 3)
    np.testing.assert_allclose(params.correlations, reference.cca(x1, x2, 3)[0], rtol=1e-10)
    np.testing.assert_allclose(params.means[0], x1.mean(0), rtol=1e-12)
    mcca = linear.fit_mcca([x1, x2, x1[:, :2]], 2)
    np.testing.assert_allclose(mcca.means[2], x1[:, :2].mean(0), rtol=1e-12)
  bad = x1.copy()
  bad[n - 5, 2] = np.inf  # in the tail
  with pytest.raises(ValueError, match='view 1 contains NaN or Inf'):
    linear.fit_cca(bad, x2, 3)
  bad = x2.copy()
  bad[100, 1] = np.nan  # in the first chunk
  with pytest.raises(ValueError, match='view 2 contains NaN or Inf'):
    linear.fit_cca(x1, bad, 3)


def test_finite_values_whose_sums_overflow_are_told_apart_from_nan():
  # The fits check finiteness on the column means; values that are finite but sum past the
  # float32 range get their own message instead of 'NaN or Inf'.
  x1, x2 = correlated_views(200, 4, 3)
  huge = np.asarray(x1, np.float32).copy()
  huge[:, 0] = 1e37
  for fit in (lambda a, b: linear.fit_cca(a, b, 2), lambda a, b: linear.fit_mcca([a, b], 2)):
    with pytest.raises(ValueError, match='view 1: its column sums overflow float32'):
      fit(huge, x2)
