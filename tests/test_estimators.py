"""scikit-learn estimators: equal to crossjax.linear and to the command line, sklearn's protocol
(clone, Pipeline, GridSearchCV), own Flax modules, resume from a workdir, bad input, missing
views, and the cGAN's samples."""

import json
import pickle

import chex
import flax.linen as nn
import jax
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crossjax import data, estimators, files, kernel, linear, sparse, tensor
from crossjax.configs import dcca as dcca_config
from crossjax.families import autoencoder
from crossjax.train import loop
from tests.test_linear import three_views
from tests.test_objectives import correlated_views
from tests.test_train import final_params

# Tiny trained models: 200 training rows, batches of 40, 5 steps an epoch.
# One device: the estimators train on every device of the process by default (4 fake ones in
# the tests, about twice the time on 2 cores); the sharded steps have tests of their own.
TINY = dict(hidden_widths=(16,), batch_size=40, epochs=2, num_devices=1)


@pytest.fixture(scope='module')
def digits():
  """(left halves, right halves, labels) of the first 300 digits, pixels in [0, 1]."""
  splits = data.digits_halves()
  return tuple(np.concatenate([splits[name][key] for name in ('train', 'tune', 'test')])[:300]
               for key in ('x1', 'x2', 'labels'))


@pytest.mark.parametrize('estimator, fit, views', [
    (estimators.CCA(n_components=3, r1=0.1, r2=0.2),
     lambda views: linear.fit_cca(*views, 3, 0.1, 0.2), correlated_views()),
    (estimators.MCCA(n_components=2, r=0.1), lambda views: linear.fit_mcca(views, 2, 0.1),
     three_views()),
    (estimators.GCCA(n_components=2, r=0.1), lambda views: linear.fit_gcca(views, 2, 0.1),
     three_views()),
    (estimators.CCA(n_components=3, shrinkage=(0.2, 0.5)),
     lambda views: linear.fit_cca(*views, 3, shrinkage=(0.2, 0.5)), correlated_views()),
    (estimators.PLS(n_components=2, mode='canonical'),
     lambda views: linear.fit_pls(*views, 2, 'canonical'), correlated_views()),
    (estimators.TCCA(n_components=1, r=0.1), lambda views: tensor.fit_tcca(views, 1, 0.1).cca,
     three_views()),
    (estimators.SparseCCA(n_components=1, c1=1.5, c2=1.5),
     lambda views: sparse.fit_pmd(*views, 1, 1.5, 1.5), correlated_views()),
])
def test_linear_estimators_equal_crossjax_linear(estimator, fit, views):
  train, test = [v[:100] for v in views], [v[100:] for v in views]
  params = fit(train)  # float64 views, cast to float32 by JAX: what the estimator reads
  estimator.fit(train)
  for ours, theirs in zip(estimator.weights_, params.weights):
    np.testing.assert_array_equal(ours, theirs)
  for ours, theirs in zip(estimator.transform(test), linear.transform(params, *test)):
    np.testing.assert_array_equal(ours, theirs)
  assert estimator.score(test) == pytest.approx(float(linear.score(params, *test)), rel=1e-6)
  # One array of the views side by side, cut by view_sizes: the same model, outputs side by side.
  sizes = tuple(v.shape[1] for v in views)
  side_by_side = clone(estimator).set_params(view_sizes=sizes).fit(np.hstack(train))
  np.testing.assert_array_equal(side_by_side.transform(np.hstack(test)),
                                np.hstack(estimator.transform(test)))


def test_linear_estimators_missing_rows_inverse_transform_and_predict():
  """CCA and MCCA fit with samples missing a view (pairwise moments, as linear.fit_cca), PLS
  refuses them; inverse_transform and predict are linear's, as lists and side by side."""
  x1, x2 = (v.astype(np.float32) for v in correlated_views())
  x1_missing = x1.copy()
  x1_missing[:20] = np.nan
  cca = estimators.CCA(n_components=2).fit([x1_missing, x2])
  params = linear.fit_cca(x1_missing, x2, 2)
  np.testing.assert_allclose(cca.params_.correlations, params.correlations, rtol=1e-6)
  z1, z2 = cca.transform([x1_missing, x2])
  assert np.isnan(z1[:20]).all() and not np.isnan(z1[20:]).any() and not np.isnan(z2).any()
  with pytest.raises(files.DataError, match='20'):
    estimators.PLS(n_components=2).fit([x1_missing, x2])

  cca = estimators.CCA(n_components=2).fit([x1, x2])
  variates = cca.transform([x1, x2])
  rebuilt = cca.inverse_transform(variates)
  for i, (ours, z) in enumerate(zip(rebuilt, variates)):
    np.testing.assert_allclose(ours, linear.inverse_transform(cca.params_, z, i), rtol=1e-6)
  side_by_side = clone(cca).set_params(view_sizes=(6, 5)).fit(np.hstack([x1, x2]))
  np.testing.assert_allclose(side_by_side.inverse_transform(np.hstack(variates)),
                             np.hstack(rebuilt), rtol=1e-5, atol=1e-6)
  given, predicted = cca.predict([x1, None])
  assert given is not None and np.array_equal(given, x1)
  np.testing.assert_allclose(predicted, linear.predict(cca.params_, [x1, None], 1), rtol=1e-6)
  with pytest.raises(ValueError, match='at least one view'):
    cca.predict([None, None])
  with pytest.raises(ValueError, match='2 arrays of 2 variates'):
    cca.inverse_transform([variates[0]])


@pytest.mark.slow
def test_sparse_cca_chooses_its_penalties_by_cross_validation():
  """SparseCCA with no penalty given: the pair `sparse.select_pmd_penalty` chooses, refitted."""
  x1, x2 = (v.astype(np.float32) for v in correlated_views())
  chosen = sparse.select_pmd_penalty(x1, x2, 1, grid_size=3, folds=2, seed=4)
  model = estimators.SparseCCA(n_components=1, grid_size=3, folds=2, random_state=4).fit(
      [x1, x2])
  np.testing.assert_allclose(model.penalties_, chosen.penalties, rtol=1e-6)
  np.testing.assert_allclose(model.weights_[0], chosen.params.weights[0], rtol=1e-5, atol=1e-7)
  assert model.converged_.all()
  with pytest.raises(ValueError, match="'pmd' or 'elastic_net'"):
    estimators.SparseCCA(method='lasso').fit([x1, x2])


@pytest.mark.slow  # kernel CCA is a slow-tier family (test_families)
def test_kernel_cca_equals_crossjax_kernel():
  x1, x2 = correlated_views(n=160, dtype=np.float32)  # the estimators read float32
  estimator = estimators.KernelCCA(n_components=2, width_scale=2.0, ridge=0.1,
                                   num_landmarks=50, random_state=3).fit([x1[:120], x2[:120]])
  widths = tuple(2.0 * kernel.median_distance(x[:120], seed=3) for x in (x1, x2))
  params = kernel.fit_kernel_cca(x1[:120], x2[:120], 2, widths, 0.1, 0.1, 50, seed=3)
  for ours, theirs in zip(estimator.transform([x1[120:], x2[120:]]),
                          kernel.transform(params, x1[120:], x2[120:])):
    np.testing.assert_array_equal(ours, theirs)
  assert estimator.score([x1[120:], x2[120:]]) == pytest.approx(
      float(np.sum(kernel.component_correlations(params, x1[120:], x2[120:]))), rel=1e-6)


class TinyEncoder(nn.Module):
  """A user's own encoder: one tanh layer of 8 units, then `features` outputs."""
  features: int

  @nn.compact
  def __call__(self, x, train=False):
    del train
    return nn.Dense(self.features)(nn.tanh(nn.Dense(8)(x)))


ALL = [estimators.CCA(r1=0.5), estimators.MCCA(r=0.5), estimators.GCCA(r=0.5),
       estimators.PLS(mode='canonical'), estimators.TCCA(shrinkage=0.5),
       estimators.SparseCCA(c1=2.0), estimators.KernelCCA(ridge=0.5),
       estimators.DCCA(encoders=[TinyEncoder(2)] * 2),
       estimators.DCCAE(reconstruction_weight=0.5), estimators.MultimodalAutoencoder(),
       estimators.SplitAE(n_components=3), estimators.VCCA(private_components=2),
       estimators.ConditionalGAN(loss='hinge')]


@pytest.mark.parametrize('estimator', ALL, ids=lambda e: type(e).__name__)
def test_clone_get_params_and_set_params(estimator):
  copy = clone(estimator)
  assert type(copy) is type(estimator)
  assert copy.get_params().keys() == estimator.get_params().keys()
  for name, value in estimator.get_params().items():
    assert repr(copy.get_params()[name]) == repr(value), name
  name = sorted(copy.get_params())[0]
  copy.set_params(**{name: 'changed'})
  assert copy.get_params()[name] == 'changed' != estimator.get_params()[name]
  with pytest.raises(NotFittedError):
    (estimator.sample if hasattr(estimator, 'sample') else estimator.transform)(
        [np.zeros((3, 2))] * 2)


@pytest.mark.slow  # test_linear keeps a grid search in the fast tier
def test_grid_search_over_views_side_by_side():
  views = three_views(n=150)
  sizes = tuple(v.shape[1] for v in views)
  search = GridSearchCV(make_pipeline(StandardScaler(),
                                      estimators.MCCA(n_components=2, view_sizes=sizes)),
                        {'mcca__r': [0.0, 0.1, 1e3]}, cv=3)
  search.fit(np.hstack(views))
  scores = search.cv_results_['mean_test_score']
  assert search.best_params_['mcca__r'] == [0.0, 0.1, 1e3][int(np.argmax(scores))]
  assert 0 < scores[2] < max(scores[:2]) <= 2  # a huge ridge costs held-out correlation
  assert search.transform(np.hstack(views)).shape == (150, 3 * 2)


def test_bad_input_raises_the_messages_of_files():
  x1, x2 = correlated_views()
  nan = x1.copy()
  nan[3, 1] = np.nan
  missing = x2.copy()
  missing[5] = np.nan
  for views in ([x1, x2[:-1]], [nan, x2], [x1, missing]):
    with pytest.raises(files.DataError) as expected:
      files.from_arrays(views)
    for estimator in (estimators.PLS(), estimators.DCCA()):  # refused before any training
      with pytest.raises(files.DataError) as raised:
        estimator.fit(views)
      assert str(raised.value) == str(expected.value)
  with pytest.raises(files.DataError, match='view 2: every column is constant'):
    estimators.DCCA().fit([x1, np.ones((200, 3))])
  with pytest.raises(files.DataError, match='labels: 199 labels for 200 rows'):
    estimators.CCA().fit([x1, x2], np.zeros(199, int))
  with pytest.raises(ValueError, match=r'view_sizes \(6, 4\) add up to 10 columns'):
    estimators.CCA(view_sizes=(6, 4)).fit(np.hstack([x1, x2]))
  cca = estimators.CCA().fit([x1, x2])
  with pytest.raises(ValueError, match=r'widths \(6, 4\); the model was fitted on \(6, 5\)'):
    cca.transform([x1, x2[:, :4]])


@pytest.mark.slow
def test_dcca_estimator_equals_the_command_line(digits, tmp_path):
  """Same settings, same training rows in the same order: the same final parameters and the
  same test total correlation. The tune splits differ (they only pick a best checkpoint)."""
  x1, x2, _ = digits
  order = np.random.default_rng(1).permutation(300)
  parts = {'train': order[:200], 'tune': order[200:250], 'test': order[250:]}
  np.save(tmp_path / 'left.npy', x1)
  np.save(tmp_path / 'right.npy', x2)
  np.savez(tmp_path / 'splits.npz', **parts)
  config = dcca_config.get_config()
  config.data.views = f'{tmp_path / "left.npy"},{tmp_path / "right.npy"}'
  config.data.splits = str(tmp_path / 'splits.npz')
  config.encoder.widths = (16,)
  config.output_dim = config.evaluation.k = 3
  config.objective.name = 'ey'
  config.batch_size, config.num_epochs, config.progress_bar = 40, 2, False
  config.num_devices = 1
  config.optimizer.learning_rate = 3e-3
  results = loop.train_and_evaluate(config, str(tmp_path / 'cli'))

  estimator = estimators.DCCA(n_components=3, objective='ey', learning_rate=3e-3, **TINY)
  estimator.fit([x1[parts['train']], x2[parts['train']]])
  assert results['steps'] == int(estimator.state_.step) == 10
  chex.assert_trees_all_equal(estimator.state_.params, final_params(tmp_path / 'cli', 10))
  test = [x1[parts['test']], x2[parts['test']]]
  assert estimator.score(test) == pytest.approx(results['total_correlation']['test'], abs=1e-5)
  assert all(z.shape == (50, 3) for z in estimator.transform(test))


@pytest.mark.slow
def test_own_encoders_and_resume_from_workdir(digits, tmp_path):
  x1, x2, _ = digits
  views = [x1[:200], x2[:200]]

  def make():
    return estimators.DCCA(n_components=2, encoders=[TinyEncoder(2), TinyEncoder(2)],
                           workdir=str(tmp_path), **TINY)

  first = make().fit(views)
  shapes = {leaf.shape for leaf in jax.tree.leaves(first.state_.params['model']['encoders_0'])}
  assert shapes == {(32, 8), (8,), (8, 2), (2,)}  # TinyEncoder's, not an MLP of hidden_widths
  metrics = (tmp_path / 'metrics.jsonl').read_text()
  assert max(json.loads(line)['step'] for line in metrics.splitlines()) == 10
  second = make().fit(views)  # restores the finished run: no step trained again
  assert int(second.state_.step) == 10
  assert (tmp_path / 'metrics.jsonl').read_text() == metrics
  chex.assert_trees_all_equal(second.state_.params, first.state_.params)
  for a, b in zip(second.transform(views), first.transform(views)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match=r'another config \(data.fingerprint'):
    make().fit([x1[:200], x2[100:300]])


@pytest.mark.slow
def test_dccae_in_a_pipeline(digits):
  x1, x2, _ = digits
  pipeline = make_pipeline(StandardScaler(), estimators.DCCAE(
      n_components=2, objective='ey_unbiased', view_sizes=(32, 32), **TINY))
  pipeline.fit(np.hstack([x1[:200], x2[:200]]))
  held_out = np.hstack([x1[200:], x2[200:]])
  assert pipeline.transform(held_out).shape == (100, 4)
  assert -2 <= pipeline.score(held_out) <= 2  # 10 steps: any held-out correlation
  loaded = pickle.loads(pickle.dumps(pipeline))  # joblib.dump's way: all but the optimizer
  np.testing.assert_array_equal(loaded.transform(held_out), pipeline.transform(held_out))


@pytest.mark.slow
def test_autoencoder_with_missing_rows(digits):
  x1, x2, labels = digits
  x2 = x2.copy()
  x2[::10] = np.nan  # every tenth sample lacks its right half
  mae = estimators.MultimodalAutoencoder(n_components=4, hidden_dim=8, **TINY)
  mae.fit([x1[:200], x2[:200]], labels[:200])
  codes = mae.transform([x1, x2])
  assert codes.shape == (300, 4) and np.all(np.isfinite(codes))
  # A missing half is masked: its sample's code is the code of the left half alone.
  alone = autoencoder.encoder(mae.state_)([x1[::10], x2[::10]], np.array([1.0, 0.0]), 100)
  np.testing.assert_allclose(codes[::10], alone, rtol=1e-5, atol=1e-6)
  left, right = mae.inverse_transform(codes)
  assert left.shape == right.shape == (300, 32)
  assert -np.inf < mae.score([x1[200:], x2[200:]]) < 0  # minus a squared error
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(mae)).transform([x1, x2]), codes)


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['splitae', 'vcca_private'])
def test_split_autoencoder_and_vcca_encode_decode_and_score(digits, kind):
  x1, x2, labels = digits
  settings = dict(n_components=4, **TINY)
  model = (estimators.SplitAE(**settings) if kind == 'splitae' else
           estimators.VCCA(private_components=2, samples=2, **settings))
  model.fit([x1[:200], x2[:200]], labels[:200])
  held_out = [x1[200:], x2[200:]]
  codes = model.transform(held_out)
  assert codes.shape == (100, 4) and np.all(np.isfinite(codes))
  # The codes come from view 1 alone: another view 2 leaves them as they are.
  np.testing.assert_array_equal(model.transform([x1[200:], x2[:100]]), codes)
  decoded = model.inverse_transform(codes)
  assert [view.shape for view in decoded] == [(100, 32), (100, 32)]
  # Squared error summed over features and views, averaged over rows (NumPy, float64).
  error = sum(((x.astype(np.float64) - d) ** 2).sum(axis=1).mean()
              for x, d in zip(held_out, decoded))
  if kind == 'splitae':
    np.testing.assert_allclose(model.score(held_out), -error, rtol=1e-5)
  else:  # minus the negative ELBO, private latents at their posterior means (at 0 above)
    assert -np.inf < model.score(held_out) < 0
  encoder = model._functions['encoder']  # pylint: disable=protected-access
  model.transform(held_out)  # the encoder jitted at the first transform serves every one
  assert model._functions['encoder'] is encoder  # pylint: disable=protected-access
  loaded = pickle.loads(pickle.dumps(model))
  np.testing.assert_array_equal(loaded.transform(held_out), codes)
  assert loaded.score(held_out) == model.score(held_out)


@pytest.mark.slow
@pytest.mark.parametrize('by_label, settings', [
    (False, {}), (True, dict(output='sigmoid', loss='hinge'))])
def test_conditional_gan_samples_depend_on_the_condition(digits, by_label, settings):
  x1, x2, labels = digits
  condition = labels if by_label else x2
  # No R1 penalty: its second-order gradient costs the most compile time, and no estimator code.
  gan = estimators.ConditionalGAN(noise_dim=4, r1_weight=0.0, **settings, **TINY)
  gan.fit(condition[:200], x1[:200])
  first, second = gan.sample(condition[200:210]), gan.sample(condition[210:220])
  assert first.shape == (10, 32) and np.all(np.isfinite(first))
  if by_label:
    assert np.all((first >= 0) & (first <= 1))  # a sigmoid's
  np.testing.assert_array_equal(gan.sample(condition[200:210]), first)  # seeded noise
  assert not np.allclose(first, second, atol=1e-3)  # same noise, other conditions
  assert not np.allclose(gan.sample(condition[200:210], random_state=1), first, atol=1e-3)
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(gan)).sample(condition[200:210]),
                                first)
