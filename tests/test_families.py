"""Every model family through the one engine, in-process on tiny data (the generic configs'
smoke variants on scikit-learn's digits halves), and the settings that cannot work."""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from crossjax import data, evaluators, families, files, linear
from crossjax.configs import cca, cgan, dcca, dccae, kcca, mae, scca, splitae, vcca
from crossjax.families import cgan as cgan_family
from crossjax.train import loop

ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERIC = {'cca': cca, 'mcca': cca, 'gcca': cca, 'pls': cca, 'tcca': cca, 'scca': scca,
           'kcca': kcca, 'dcca': dcca, 'dccae': dccae, 'mae': mae, 'splitae': splitae,
           'vcca': vcca, 'cgan': cgan}


def smoke(model):
  config = GENERIC[model].get_config('smoke')
  config.model = model
  config.num_devices = 1  # a config end to end; the sharded steps have tests on 4 devices
  if model == 'vcca':  # VCCA-private: VCCA and the private latents, end to end
    config.variational.private_dim = 2
  return config


# The fast tier runs the closed forms without penalty or kernel searches and Deep CCA through
# the engine; sparse and kernel CCA (cross-validated penalties, a tuned kernel) and the other
# deep families (tens of seconds of compiling each) run in the slow tier, here and as paper
# configs in test_experiments.py.
SLOW_FAMILIES = ('scca', 'kcca', 'cgan', 'dccae', 'mae', 'splitae', 'vcca')


@pytest.mark.parametrize('model', [pytest.param(model, marks=pytest.mark.slow)
                                   if model in SLOW_FAMILIES else model
                                   for model in sorted(GENERIC)])
def test_generic_config_trains_and_evaluates(model, tmp_path):
  results = loop.train_and_evaluate(smoke(model), str(tmp_path))
  assert json.loads((tmp_path / 'results.json').read_text())['model'] == model
  assert (tmp_path / 'config.json').exists()
  if model in ('cca', 'kcca', 'dcca', 'dccae'):
    # Left and right halves of a digit share a lot: far above the ~0 of unrelated views.
    assert sum(results['correlations']['test'][:5]) > 2.5
  elif model in ('mcca', 'gcca', 'tcca'):
    assert np.all(np.isfinite(results['correlations']['test']))
  elif model == 'pls':  # covariance, not correlation, is maximised: still well above 0
    assert min(results['correlations']['test'][:3]) > 0.5
  elif model == 'scca':  # one component (the default k), its L1 bounds chosen by CV
    assert results['correlations']['test'][0] > 0.6  # (CCA's first: 0.82; unrelated: ~0)
    assert len(results['penalties']) == 2
  elif model == 'mae':
    assert results['code_accuracy']['all'] > 60.0  # 10 classes: chance is 10 %
  elif model in ('splitae', 'vcca'):  # view-1 codes after 20 steps: far from chance (90 % error)
    assert results['svm_view1']['test_error'] < 60.0
  else:
    assert np.isfinite(results['frechet_distance_raw'])
    # The generator draws varied right halves that follow the left half it is given: a
    # generator of zeros (or of one image) fails.
    state, splits = loop.restore(smoke(model), str(tmp_path))
    left = np.asarray(splits['test']['x1'][:200])
    generated = cgan_family.generate(state, left, jax.random.PRNGKey(0), 100)
    other = cgan_family.generate(state, left[::-1], jax.random.PRNGKey(0), 100)
    real = np.asarray(splits['test']['x2'][:200])
    assert generated.shape == real.shape
    assert generated.std(axis=0).mean() > 0.1 * real.std(axis=0).mean()
    assert np.abs(generated - other).mean() > 0.05 * np.abs(real).mean()
  if not families.is_closed_form(families.get(model)):
    assert results['steps'] == 20


@pytest.mark.slow
def test_sizes_left_to_the_data_are_filled_in(tmp_path):
  config = dcca.get_config('smoke')
  config.num_steps = 2
  run = loop.train(config, str(tmp_path))
  # 1078 training rows over 4 shards; 32 features per half.
  assert run.config.batch_size == 512 and run.config.output_dim == 10
  assert run.config.evaluation.k == 10
  assert json.loads((tmp_path / 'config.json').read_text())['batch_size'] == 512


@pytest.mark.parametrize('override, message', [
    (dict(batch_size=4000), 'batch size 4000 is larger than the 1078 training rows'),
    (dict(batch_size=90), 'must be a multiple of 4'),
    (dict(num_epochs=0, num_steps=0), 'nothing to train'),
    (dict(num_steps=-3), 'nothing to train'),
    (dict(learning_rate=-1e-3), 'learning_rate must be positive'),
    (dict(widths=(0,)), 'widths must be positive'),
    (dict(output_dim=-2), 'output_dim must be positive'),
    (dict(k=50), 'evaluation.k = 50 components'),
    (dict(protocols=('svn',)), "unknown evaluation protocol 'svn'"),
    (dict(protocols=('svm,clustr',)), "unknown evaluation protocol 'clustr'"),
    (dict(num_devices=5), 'num_devices = 5, but this process has 4 devices'),
])
def test_settings_that_cannot_work_are_refused_before_anything_is_written(override, message,
                                                                          tmp_path):
  config = dcca.get_config('smoke')
  for key, value in override.items():
    section = {'learning_rate': config.optimizer, 'widths': config.encoder,
               'k': config.evaluation, 'protocols': config.evaluation}.get(key, config)
    setattr(section, key, value)
  workdir = tmp_path / 'run'
  with pytest.raises(ValueError, match=message):
    loop.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize('field, value, message', [
    ('private_dim', -1, 'variational.private_dim must be >= 0'),
    ('samples', 0, 'variational.samples must be >= 1')])
def test_vcca_settings_that_cannot_work_are_refused(field, value, message, tmp_path):
  config = smoke('vcca')
  config.variational[field] = value
  with pytest.raises(ValueError, match=message):
    loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_closed_form_components_beyond_the_views_are_refused(tmp_path):
  config = cca.get_config('smoke')
  config.linear.k = 40  # 32 features per half
  with pytest.raises(ValueError, match='at most'):
    loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_linear_models_use_samples_missing_a_view_and_the_others_refuse(tmp_path):
  rng = np.random.default_rng(0)
  latent = rng.normal(size=(300, 2))
  x1 = latent @ rng.normal(size=(2, 5)) + 0.5 * rng.normal(size=(300, 5))
  x2 = latent @ rng.normal(size=(2, 4)) + 0.5 * rng.normal(size=(300, 4))
  gone1, gone2 = np.arange(0, 300, 7), [i for i in range(3, 300, 11) if i % 7]
  x1[gone1], x2[gone2] = np.nan, np.nan  # 43 and 23 samples miss a view, none both
  labels = (latent[:, 0] > 0).astype(np.int64)
  for name, array in (('a', x1), ('b', x2), ('y', labels)):
    np.save(tmp_path / f'{name}.npy', array)

  def config(model, **data_settings):
    settings = cca.get_config()
    settings.model = model
    settings.linear.k = 2
    settings.data.views = f'{tmp_path}/a.npy,{tmp_path}/b.npy'
    settings.data.labels = f'{tmp_path}/y.npy'
    settings.evaluation.protocols = ('svm',)
    settings.data.update(data_settings)
    return settings

  results = loop.train_and_evaluate(config('cca'), str(tmp_path / 'cca'))
  splits = loop.load_splits(config('cca'))
  views = [np.asarray(splits['train'][key]) for key in ('x1', 'x2')]
  params = linear.fit_cca(*views, 2)  # pairwise moments (tested against float64 in test_linear)
  test = [np.asarray(splits['test'][key]) for key in ('x1', 'x2')]
  complete = ~(np.isnan(test[0][:, 0]) | np.isnan(test[1][:, 0]))
  np.testing.assert_allclose(
      results['correlations']['test'],
      np.asarray(linear.component_correlations(params, *(v[complete] for v in test))),
      rtol=1e-5)
  assert results['correlations']['test'][0] > 0.8
  assert sum(results['missing_rows']['test']) == (~complete).sum() > 0
  assert sum(map(sum, results['missing_rows'].values())) == 43 + 23
  assert results['svm_view1']['test_error'] < 30.0  # on the test rows with view 1
  with pytest.raises(files.DataError, match='66 of 300 samples are incomplete'):
    loop.train_and_evaluate(config('pls'), str(tmp_path / 'pls'))
  assert not (tmp_path / 'pls').exists()
  dropped = loop.load_splits(config('pls', drop_incomplete=True))  # for every model
  assert sum(len(split['x1']) for split in dropped.values()) == 300 - 66
  assert not any(files.missing_rows(split[key]).any() for split in dropped.values()
                 for key in ('x1', 'x2'))


@pytest.mark.slow
def test_mfeat_through_files_gives_the_numbers_of_the_built_in_loader(data_dir, tmp_path):
  arrays = np.load(data_dir / 'mfeat.npz')
  views = []
  for name in data.MFEAT_VIEWS:
    views.append(str(tmp_path / f'{name}.npy'))
    np.save(views[-1], arrays[name])
  np.save(tmp_path / 'labels.npy', arrays['labels'])
  results = {}
  for source in ('mfeat', 'files'):
    config = cca.get_config()
    config.model = 'mcca'
    config.linear.k = 5
    config.linear.r = 1e-3
    config.data.name = source
    config.data.path = str(data_dir)
    config.data.views = ','.join(views)
    config.data.labels = str(tmp_path / 'labels.npy')
    config.data.fractions = (0.6, 0.2, 0.2)  # the built-in split's
    config.evaluation.protocols = ('svm',)
    results[source] = loop.train_and_evaluate(config, str(tmp_path / source))
  for key in ('correlations', 'svm_view1'):
    assert results['files'][key] == results['mfeat'][key]


@pytest.mark.slow
def test_command_line_refuses_bad_data_in_one_line_before_writing(tmp_path):
  np.save(tmp_path / 'a.npy', np.random.default_rng(0).normal(size=(50, 3)))
  np.save(tmp_path / 'b.npy', np.random.default_rng(1).normal(size=(40, 2)))
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'crossjax.main', '--config=crossjax/configs/dcca.py',
       f'--workdir={workdir}', f'--config.data.views={tmp_path}/a.npy,{tmp_path}/b.npy'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and 'a.npy' in lines[0] and '50' in lines[0] and '40' in lines[0], lines
  assert not workdir.exists()


MY_NETS = '''
import flax.linen as nn


class Tower(nn.Module):
  features: int
  widths: tuple = (16,)

  @nn.compact
  def __call__(self, x, train: bool = False):
    for width in self.widths:
      x = nn.gelu(nn.LayerNorm()(nn.Dense(width)(x)))
    return nn.Dense(self.features)(x)
'''


@pytest.mark.slow
def test_an_encoder_from_outside_crossjax_by_name(tmp_path, monkeypatch):
  (tmp_path / 'my_nets.py').write_text(MY_NETS)
  monkeypatch.syspath_prepend(str(tmp_path))
  config = dcca.get_config('smoke')
  config.num_steps = 4
  config.encoder.kind = 'my_nets:Tower'
  config.encoder.widths = (24,)
  run = loop.train(config, str(tmp_path / 'run'))
  params = run.state.params['model']
  assert params['encoders_0']['LayerNorm_0']['scale'].shape == (24,)
  config.encoder.kind = 'my_nets:Missing'
  with pytest.raises(ValueError, match="my_nets has no 'Missing'"):
    loop.train(config, str(tmp_path / 'other'))


def test_protocols_given_as_on_the_command_line_run_each():
  rng = np.random.default_rng(0)
  labels = {name: np.repeat(np.arange(3), 20) for name in ('train', 'tune', 'test')}
  view1 = {name: rng.normal(size=(60, 4)) + labels[name][:, None] for name in labels}
  pair = lambda: (view1['test'], view1['test'] + 0.01 * rng.normal(size=(60, 4)))
  results = evaluators.run(('svm, retrieval',), view1, labels, pair, seed=0)
  assert set(results) == {'svm_view1', 'retrieval_view1_to_view2'}
  assert results['retrieval_view1_to_view2']['recall@1'] > 90.0
  assert evaluators.run(('svm',), view1, None, pair, seed=0) == {}  # no labels: skipped
