"""Closed-form CCA family against float64 references, scikit-learn, sharding and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import NamedSharding, PartitionSpec as P
import scipy.linalg
from sklearn.cross_decomposition import CCA as SklearnCCA, PLSCanonical, PLSSVD
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
  # (n, d) from a few shapes at both ends of the range: a non-finite value is found after
  # the jitted fits (on their means), which compile once per shape, 3 fits a shape.
  good = st.tuples(st.sampled_from((8, 20)), st.sampled_from((2, 3, 6)))

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



# ----------------------------------------------- ridge path, PLS, missing views, prediction
# Shapes and k follow the tests above (correlated_views with k = 3, three_views with k = 2,
# float64), so most fits reuse their compilations.


def pairwise_blocks(views):
  """Naive float64 loop: per-view means over the observed (not all-NaN) rows, and each S_ij
  summed row by row over the rows where views i and j are both observed, over (n_ij - 1)."""
  observed = [~np.all(np.isnan(v), axis=1) for v in views]
  means = [v[o].mean(axis=0) for v, o in zip(views, observed)]
  blocks = [[None] * len(views) for _ in views]
  for i, (a, ma) in enumerate(zip(views, means)):
    for j, (b, mb) in enumerate(zip(views, means)):
      total, count = np.zeros((a.shape[1], b.shape[1])), 0
      for row in range(len(a)):
        if observed[i][row] and observed[j][row]:
          total += np.outer(a[row] - ma, b[row] - mb)
          count += 1
      blocks[i][j] = total / (count - 1)
  return means, blocks


def gep_weights(blocks, k, ridges, shrinkages, regularised_diagonal=True):
  """Weights of the generalised eigenproblem A v = lambda B v (scipy.linalg.eigh), with
  C_i = (1 - c_i) S_ii + (c_i + r_i) I, B = blockdiag(C_i) and A the joint covariance whose
  diagonal blocks are C_i (MCCA; CCA for two views) or S_ii (GCCA). MCCA: each view scaled to
  unit C_i-variance; GCCA: v / sqrt(lambda), with scipy's v^T B v = 1."""
  regularised = [(1 - c) * blocks[i][i] + (c + r) * np.eye(len(blocks[i][i]))
                 for i, (r, c) in enumerate(zip(ridges, shrinkages))]
  a = np.block([[regularised[i] if i == j and regularised_diagonal else blocks[i][j]
                 for j in range(len(blocks))] for i in range(len(blocks))])
  values, vectors = scipy.linalg.eigh(a, scipy.linalg.block_diag(*regularised))
  order = np.argsort(values)[::-1][:k]
  values, vectors = values[order], vectors[:, order]
  parts = np.split(vectors, np.cumsum([len(b) for b in regularised])[:-1])
  if not regularised_diagonal:
    return [p / np.sqrt(values) for p in parts]
  return [p / np.sqrt(np.sum(p * (c @ p), axis=0)) for p, c in zip(parts, regularised)]


def assert_weights(params, expected, rtol=1e-7):
  for ours, theirs in zip(params.weights, expected):
    assert_same_up_to_sign(np.asarray(ours), theirs, rtol=rtol, atol=rtol * 1e-2)


def average_correlation(projections):
  pairs = [(i, j) for i in range(len(projections)) for j in range(i + 1, len(projections))]
  return np.mean([reference.correlations_of(np.asarray(projections[i]),
                                            np.asarray(projections[j])) for i, j in pairs],
                 axis=0)


def test_ridge_path_between_cca_and_pls_matches_references():
  x1, x2 = correlated_views()
  views = three_views()
  two = reference.covariance_blocks([x1, x2], [0, 0])
  with jax.enable_x64(True):
    linear.fit_cca(x1, x2, 3)
    before = linear._fit_cca._cache_size()  # pylint: disable=protected-access
    for c in [(0.3, 0.7), (0.0, 0.5), (1.0, 1.0)]:
      params = linear.fit_cca(x1, x2, 3, shrinkage=c)
      assert_weights(params, gep_weights(two, 3, [0, 0], c), rtol=1e-8)
      # The plain training correlations of the variates, as cca_zoo's score averages.
      np.testing.assert_allclose(params.correlations,
                                 average_correlation(linear.transform(params, x1, x2)),
                                 rtol=1e-10)
      mcca = linear.fit_mcca([x1, x2], 3, shrinkage=list(c))
      np.testing.assert_allclose(mcca.correlations, params.correlations, rtol=1e-9)
      assert_weights(mcca, [np.asarray(w) for w in params.weights])
    # Ridge and shrinkage together; MCCA on two views keeps fit_cca's weights.
    both = linear.fit_cca(x1, x2, 3, 0.2, 0.1, shrinkage=0.4)
    assert_weights(both, gep_weights(two, 3, [0.2, 0.1], [0.4, 0.4]), rtol=1e-8)
    assert_weights(linear.fit_mcca([x1, x2], 3, [0.2, 0.1], shrinkage=0.4),
                   [np.asarray(w) for w in both.weights])
    # Penalties are traced: the whole grid reused one compilation.
    assert linear._fit_cca._cache_size() == before  # pylint: disable=protected-access
    # m views: MCCA and GCCA on the path.
    ridges, shrinkages = [0.1, 0.0, 0.0], [0.2, 0.5, 1.0]
    blocks = reference.covariance_blocks(views, [0, 0, 0])
    for fit, diagonal in ((linear.fit_mcca, True), (linear.fit_gcca, False)):
      params = fit(views, 2, ridges, shrinkage=shrinkages)
      assert_weights(params, gep_weights(blocks, 2, ridges, shrinkages, diagonal))
      np.testing.assert_allclose(params.correlations,
                                 average_correlation(linear.transform(params, *views)),
                                 rtol=1e-9)
  with pytest.raises(ValueError, match=r'shrinkage of view 2 must be in \[0, 1\]'):
    linear.fit_cca(x1, x2, 3, shrinkage=(0.5, 1.5))
  with pytest.raises(ValueError, match=r'shrinkage of view 3 must be in \[0, 1\]'):
    linear.fit_gcca(views, 2, shrinkage=[0.0, 0.0, -0.1])


def test_pls_svd_and_canonical_match_sklearn():
  x1, x2 = correlated_views()
  with jax.enable_x64(True):
    fits = {mode: linear.fit_pls(x1, x2, 3, mode) for mode in ('svd', 'canonical')}
    scores = {mode: [np.asarray(z) for z in linear.transform(params, x1, x2)]
              for mode, params in fits.items()}
  theirs = {'svd': PLSSVD(n_components=3, scale=False).fit(x1, x2),
            'canonical': PLSCanonical(n_components=3, scale=False, algorithm='svd').fit(x1, x2)}
  weights = {'svd': (theirs['svd'].x_weights_, theirs['svd'].y_weights_),
             'canonical': (theirs['canonical'].x_rotations_, theirs['canonical'].y_rotations_)}
  for mode, params in fits.items():
    assert_weights(params, weights[mode], rtol=1e-8)
    for ours, expected in zip(scores[mode], theirs[mode].transform(x1, x2)):
      assert_same_up_to_sign(ours, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(params.correlations, reference.correlations_of(*scores[mode]),
                               rtol=1e-10)
  # Canonical PLS's scores are uncorrelated within each view; PLS-SVD's are not.
  for mode, uncorrelated in (('canonical', True), ('svd', False)):
    gram = np.corrcoef(scores[mode][0].T)
    assert np.allclose(gram, np.eye(3), atol=1e-8) == uncorrelated
  with pytest.raises(ValueError, match="mode must be 'svd' or 'canonical'"):
    linear.fit_pls(x1, x2, 3, mode='nipals')


def planted_missing(views, seed=0, rate=0.25):
  """Copies of the views with whole rows set to NaN, independently in each view (MCAR)."""
  rng = np.random.default_rng(seed)
  out = []
  for view in views:
    view = view.copy()
    view[rng.random(len(view)) < rate] = np.nan
    out.append(view)
  return out


@pytest.mark.slow  # compile-bound (two fits, masked moments): the slow tier
def test_missing_views_use_pairwise_moments():
  pair = planted_missing(correlated_views(), seed=1)
  views = planted_missing(three_views(), seed=2)
  means, blocks = pairwise_blocks(pair)
  with jax.enable_x64(True):
    cca = linear.fit_cca(*pair, 3, 0.05, 0.0, shrinkage=(0.0, 0.3))
    assert_weights(cca, gep_weights(blocks, 3, [0.05, 0.0], [0.0, 0.3]))
    for ours, mean in zip(cca.means, means):
      np.testing.assert_allclose(ours, mean, rtol=1e-12)
    transformed = [np.asarray(z) for z in linear.transform(cca, *pair)]
    # MCCA (GCCA, which shares its moments and eigenproblem, in the slow test).
    means, blocks = pairwise_blocks(views)
    mcca = linear.fit_mcca(views, 2, 0.01)
    assert_weights(mcca, gep_weights(blocks, 2, [0.01] * 3, [0.0] * 3))
    for ours, mean in zip(mcca.means, means):
      np.testing.assert_allclose(ours, mean, rtol=1e-12)
  for z, view in zip(transformed, pair):
    missing = np.isnan(view[:, 0])
    assert 0 < missing.sum() < 100
    assert np.all(np.isnan(z[missing])) and np.all(np.isfinite(z[~missing]))
  # Bad missingness gets a clear error naming the view and row, or the views.
  x1, x2 = correlated_views()
  partial = three_views()
  partial[2][7, 1] = np.nan
  infinite = x2.copy()
  infinite[7, 1] = np.inf
  rows = np.arange(200)[:, None]
  with jax.enable_x64(True):
    with pytest.raises(ValueError, match='view 3 contains NaN or Inf values in row 7'):
      linear.fit_mcca(partial, 2, 0.01)
    with pytest.raises(ValueError, match='view 2 contains NaN or Inf values in row 7'):
      linear.transform(cca, x1, infinite)
    with pytest.raises(ValueError, match='view 1 contains NaN or Inf'):
      linear.component_correlations(cca, *pair)
    with pytest.raises(ValueError, match='view 2 is observed in 1 rows'):
      linear.fit_cca(x1, np.where(rows == 5, x2, np.nan), 3)
    with pytest.raises(ValueError, match='views 1 and 2 are both observed in only 1 rows'):
      linear.fit_cca(np.where(rows < 100, x1, np.nan), np.where(rows >= 99, x2, np.nan), 3)

def population_agreement(params, truth):
  """Mean over views and components of |population correlation| between the fitted and the
  true canonical variates, from the simulation's joint covariance."""
  starts = np.concatenate([[0], np.cumsum([len(w) for w in truth.weights])])
  total = []
  for i, (w, t) in enumerate(zip(params.weights, truth.weights)):
    s = truth.covariance[starts[i]:starts[i + 1], starts[i]:starts[i + 1]]
    w = np.asarray(w)
    total.append(np.abs(np.sum(w * (s @ t), axis=0))
                 / np.sqrt(np.sum(w * (s @ w), axis=0) * np.sum(t * (s @ t), axis=0)))
  return float(np.mean(total))


@pytest.mark.slow  # the fast tier fits missing rows in test_estimators
def test_pairwise_missing_fit_beats_dropping_incomplete_rows():
  # MCAR, each of 3 views missing 30% of the rows: pairwise moments use ~49% of the rows for
  # each pair of views, dropping the incomplete rows ~34%. Averaged over 40 seeded draws.
  gains = []
  with jax.enable_x64(True):
    for seed in range(40):
      truth = data.simulate(120, (4, 3, 5), (0.7, 0.4), seed=seed)
      views = planted_missing(truth.views, seed=seed + 100, rate=0.3)
      incomplete = np.any([np.isnan(v[:, 0]) for v in views], axis=0)
      dropped = [np.where(incomplete[:, None], np.nan, v) for v in views]
      gains.append(population_agreement(linear.fit_mcca(views, 2, 0.01), truth)
                   - population_agreement(linear.fit_mcca(dropped, 2, 0.01), truth))
  assert np.mean(gains) > 0.01 and np.mean(np.asarray(gains) > 0) > 0.6, gains


def test_inverse_transform_and_predict_match_least_squares():
  truth = data.simulate(200, (6, 5), (0.9, 0.6, 0.3), seed=0)
  x1, x2 = truth.views
  views = three_views()

  def fitted(design, target, at=None):
    """The least-squares fit (with intercept) of target on design, evaluated at `at`."""
    def with_intercept(a):
      return np.hstack([np.ones((len(a), 1)), a])
    coefficients = np.linalg.lstsq(with_intercept(design), target, rcond=None)[0]
    return with_intercept(design if at is None else at) @ coefficients

  with jax.enable_x64(True):
    cca = linear.fit_cca(x1, x2, 3)
    for params in (cca, linear.fit_cca(x1, x2, 3, shrinkage=0.5)):
      z1, _ = (np.asarray(z) for z in linear.transform(params, x1, x2))
      np.testing.assert_allclose(linear.inverse_transform(params, z1, 0), fitted(z1, x1),
                                 rtol=1e-9, atol=1e-10)
    predicted = np.asarray(linear.predict(cca, [x1, None], 1))
    mcca = linear.fit_mcca(views, 2, 0.01)
    z = [np.asarray(v) for v in linear.transform(mcca, *views)]
    from_two = np.asarray(linear.predict(mcca, [views[0], views[1], None], 2))
    with_missing = np.asarray(linear.predict(mcca, planted_missing(views[:2]) + [None], 2))
  # Two-view CCA: E[z2 | z1] = diag(rho) z1 mapped back is the regression of X2 on the k
  # variates of X1 (from the float64 reference weights).
  rho, w1, w2 = reference.cca(x1, x2, 3)
  np.testing.assert_allclose(predicted, fitted((x1 - x1.mean(0)) @ w1, x2), rtol=1e-8,
                             atol=1e-10)
  # Its R^2 is sum_j rho_j^2 ||S22 w2j||^2 / tr S22 on the training data, and near the
  # population's with the simulation's weights.
  r2 = 1 - np.sum((x2 - predicted) ** 2) / np.sum((x2 - x2.mean(0)) ** 2)
  s22 = np.cov(x2.T)
  np.testing.assert_allclose(r2, np.sum(rho ** 2 * np.sum((s22 @ w2) ** 2, 0)) / np.trace(s22),
                             rtol=1e-9)
  s22 = truth.covariance[6:, 6:]
  population = np.sum(truth.correlations ** 2 * np.sum((s22 @ truth.weights[1]) ** 2, 0))
  assert abs(r2 - population / np.trace(s22)) < 0.05
  # m views: the target's variates regressed on the given views', mapped back by the
  # regression of the target view on its own variates.
  variates = fitted(np.hstack(z[:2]), z[2])
  np.testing.assert_allclose(from_two, fitted(z[2], views[2], at=variates), rtol=1e-8,
                             atol=1e-10)
  missing = np.any([np.isnan(v[:, 0]) for v in planted_missing(views[:2])], axis=0)
  assert np.all(np.isnan(with_missing[missing])) and np.all(np.isfinite(with_missing[~missing]))
  # Bad input.
  with pytest.raises(ValueError, match=r'expected variates of shape \(n, 3\)'):
    linear.inverse_transform(cca, z[0], 0)
  with pytest.raises(ValueError, match=r'view must be a view index in \[0, 2\)'):
    linear.inverse_transform(cca, z1, 2)
  with pytest.raises(ValueError, match='at least one view other than the target 1'):
    linear.predict(cca, [None, x2], 1)
  with pytest.raises(ValueError, match='fitted on 2 views, got 3'):
    linear.predict(cca, [x1, None, None], 1)
  with pytest.raises(ValueError, match='view 1 has 5 features, the model was fitted on 6'):
    linear.predict(cca, [x2, None], 1)


@pytest.mark.slow
def test_missing_views_chunked_sharded_and_gcca_match_reference():
  # MCCA on more rows than two chunks (a ragged tail of 36) and on three_views sharded over 4
  # devices; GCCA, which shares MCCA's masked moments, on three_views.
  chunked = planted_missing(
      data.simulate(2 * linear.CHUNK_ROWS + 36, (4, 3, 5), (0.8, 0.5), seed=3).views, seed=4)
  small = planted_missing(three_views(), seed=2)
  mesh = jax.make_mesh((4,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  ridges, shrinkages = [0.01] * 3, [0.0] * 3
  with jax.enable_x64(True):
    sharded = [jax.device_put(v, NamedSharding(mesh, P('data'))) for v in small]
    for views, inputs in ((chunked, chunked), (small, sharded)):
      means, blocks = pairwise_blocks(views)
      mcca = linear.fit_mcca(inputs, 2, ridges)
      assert_weights(mcca, gep_weights(blocks, 2, ridges, shrinkages))
      for ours, mean in zip(mcca.means, means):
        np.testing.assert_allclose(ours, mean, rtol=1e-12)
      # PLS-SVD of the first two views: S12's singular vectors, and S_ii W_i from its own pass.
      pls = linear.fit_pls(*inputs[:2], 2)
      assert_weights(pls, gep_weights([row[:2] for row in blocks[:2]], 2, [0.0] * 2, [1.0] * 2))
      for i in range(2):
        np.testing.assert_allclose(pls.feature_covariances[i],
                                   blocks[i][i] @ np.asarray(pls.weights[i]), rtol=1e-10)
    assert_weights(linear.fit_gcca(small, 2, ridges),
                   gep_weights(blocks, 2, ridges, shrinkages, regularised_diagonal=False))


@pytest.mark.parametrize('widths', [(70, 50), (70, 20), (20, 70)])
def test_views_wider_than_the_sample_are_fitted_in_the_sample_space(widths):
  n = 40
  x1, x2 = data.simulate(n, list(widths), [0.9, 0.6], within_view_correlation=0.3,
                         seed=3).views
  blocks = reference.covariance_blocks([x1, x2], [0, 0])
  paths = ([0.0, 0.0], [0.2, 0.4]), ([0.1, 0.3], [0.0, 0.0]), ([0.05, 0.0], [0.3, 1.0])
  with jax.enable_x64(True):
    compiled = linear._fit_cca_in_sample_space._cache_size()  # pylint: disable=protected-access
    for ridges, shrinkages in paths:
      params = linear.fit_cca(x1, x2, 3, *ridges, shrinkage=shrinkages)
      assert_weights(params, gep_weights(blocks, 3, ridges, shrinkages), rtol=1e-8)
      weights = [np.asarray(w) for w in params.weights]
      for i, w in enumerate(weights):
        np.testing.assert_allclose(params.feature_covariances[i], blocks[i][i] @ w,
                                   rtol=1e-9, atol=1e-12)
      np.testing.assert_allclose(params.variate_covariance[0, 1],
                                 weights[0].T @ blocks[0][1] @ weights[1], atol=1e-12)
      if ridges == [0.0, 0.0]:
        np.testing.assert_allclose(params.correlations,
                                   average_correlation(linear.transform(params, x1, x2)),
                                   rtol=1e-10)
    assert_weights(linear.fit_pls(x1, x2, 3), gep_weights(blocks, 3, [0, 0], [1.0, 1.0]),
                   rtol=1e-8)
    # CCA without ridge: the centred rows span n - 1 < d_1 + d_2 dimensions, so the leading
    # correlations are 1, as the covariance path finds.
    np.testing.assert_allclose(linear.fit_cca(x1, x2, 3).correlations, 1.0, rtol=1e-9)
    # One compilation for the whole path, PLS and plain CCA included (penalties are traced).
    sample_space = linear._fit_cca_in_sample_space  # pylint: disable=protected-access
    assert sample_space._cache_size() == compiled + 1
  # float32, crossjax's default, against the float64 reference.
  params = linear.fit_cca(x1, x2, 3, 0.1, 0.3)
  assert params.weights[0].dtype == jnp.float32
  assert_weights(params, gep_weights(blocks, 3, [0.1, 0.3], [0.0, 0.0]), rtol=2e-3)


def test_mcca_and_gcca_of_views_wider_than_the_sample():
  views = data.simulate(40, [70, 50, 20], [0.9, 0.6], within_view_correlation=0.3,
                        seed=6).views
  blocks = reference.covariance_blocks(views, [0, 0, 0])
  ridges, shrinkages = [0.1, 0.0, 0.05], [0.2, 0.5, 0.0]
  with jax.enable_x64(True):
    for fit, diagonal in ((linear.fit_mcca, True), (linear.fit_gcca, False)):
      params = fit(views, 2, ridges, shrinkage=shrinkages)
      assert_weights(params, gep_weights(blocks, 2, ridges, shrinkages, diagonal), rtol=1e-8)
      np.testing.assert_allclose(params.correlations,
                                 average_correlation(linear.transform(params, *views)),
                                 rtol=1e-9)
    sample_space = (linear._fit_mcca_in_sample_space,  # pylint: disable=protected-access
                    linear._fit_gcca_in_sample_space)  # pylint: disable=protected-access
    assert all(fit._cache_size() >= 1 for fit in sample_space)


@pytest.mark.slow
def test_wide_views_with_missing_rows_take_the_pairwise_covariance_path():
  x1, x2 = planted_missing(data.simulate(40, [60, 30], [0.9, 0.6], seed=4).views, seed=5)
  means, blocks = pairwise_blocks([x1, x2])
  with jax.enable_x64(True):
    params = linear.fit_cca(x1, x2, 3, 0.1, 0.0, shrinkage=(0.0, 0.2))
  assert_weights(params, gep_weights(blocks, 3, [0.1, 0.0], [0.0, 0.2]))
  for ours, mean in zip(params.means, means):
    np.testing.assert_allclose(ours, mean, rtol=1e-12)
