"""The training engine: steps, sharding, checkpoints, resume, signals, NaN stops, processes."""

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from crossjax import data, families
from crossjax.models import networks
from crossjax.train import checkpoint, loop, parallel
from crossjax.train.state import create_state, make_optimizer
from crossjax.configs import common, demo, dccae_noisy_mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]


def digits_batch(size=128):
  split = data.digits_halves()['train']
  return {key: split[key][:size] for key in ('x1', 'x2')}


def small_config(model='dcca', objective='dcca'):
  config = demo.get_config()
  config.model = model
  config.encoder = common.mlp((32,))
  config.output_dim = 6
  config.evaluation.k = 6
  config.objective.name = objective
  if model == 'dccae':
    config.decoder = common.mlp((32,))
    config.reconstruction = dccae_noisy_mnist.get_config().reconstruction
    config.reconstruction.loss = 'squared_error'
  return config


def initial_state(config, batch, total_steps=100):
  family = families.get(config.model)
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  return family, create_state(model, players, family.optimizers(config, total_steps),
                            jax.random.PRNGKey(1))


@pytest.mark.parametrize('model, objective', [
    ('dcca', 'dcca'), pytest.param('dcca', 'ey', marks=pytest.mark.slow),
    pytest.param('dcca', 'ey_unbiased', marks=pytest.mark.slow),
    pytest.param('dccae', 'dcca', marks=pytest.mark.slow)])
def test_step_lowers_loss_and_compiles_once(model, objective):
  chex.clear_trace_counter()
  batch = digits_batch()
  family, state = initial_state(small_config(model, objective), batch)
  step = jax.jit(chex.assert_max_traces(family.train_step, n=1))
  losses = []
  for _ in range(6):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  assert int(state.step) == 6
  assert losses[-1] < losses[0]
  assert {'loss', 'objective', 'batch_correlation', 'grad_norm', 'param_norm'} <= set(metrics)
  assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.slow
def test_sharded_step_equals_one_device_step():
  chex.clear_trace_counter()
  assert jax.device_count() == 4
  batch = digits_batch(128)
  family, state = initial_state(small_config('dccae'), batch)
  one_device = jax.jit(family.train_step)
  expected_state, expected_metrics = one_device(state, batch)
  expected_state, expected_metrics = one_device(expected_state, batch)

  mesh = parallel.data_mesh()
  replicated = parallel.replicated(mesh)
  sharded_step = jax.jit(chex.assert_max_traces(family.train_step, n=1), donate_argnums=0,
                         out_shardings=replicated)
  sharded_state = jax.device_put(state, replicated)
  sharded_batch = parallel.global_batch(batch, mesh, 128)
  assert len(sharded_batch['x1'].sharding.device_set) == 4
  for _ in range(2):
    sharded_state, metrics = sharded_step(sharded_state, sharded_batch)
  # The objective is computed on the global batch: equal to the one-device value.
  for name in expected_metrics:
    np.testing.assert_allclose(metrics[name], expected_metrics[name], rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(sharded_state.params, expected_state.params, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_truncated_latest_checkpoint_is_skipped(tmp_path, caplog):
  batch = digits_batch()
  family, state = initial_state(small_config(), batch)
  step = jax.jit(family.train_step)
  manager = checkpoint.Checkpointer(str(tmp_path), max_to_keep=3)
  saved = {}
  for _ in range(2):
    state, _ = step(state, batch)
    manager.save(state)
    manager.wait()
    saved[int(state.step)] = jax.device_get(state.params)
  latest = tmp_path / 'latest' / '2'
  for path in latest.rglob('*'):
    if path.is_file() and path.stat().st_size > 0 and 'ocdbt.process' in str(path):
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  _, fresh = initial_state(small_config(), batch)
  with caplog.at_level('WARNING'):
    restored = checkpoint.Checkpointer(str(tmp_path), max_to_keep=3).restore_latest(fresh)
  assert int(restored.step) == 1
  assert 'step 2 cannot be read' in caplog.text
  chex.assert_trees_all_equal(jax.device_get(restored.params), saved[1])


def test_nan_in_a_batch_stops_the_run_with_a_clear_message(tmp_path, monkeypatch):
  original = data.load_dataset

  def with_nan(*args, **kwargs):
    splits = original(*args, **kwargs)
    splits['train']['x1'][900, 3] = np.nan  # not in the init batch (the first 256 rows)
    return splits

  monkeypatch.setattr(data, 'load_dataset', with_nan)
  config = small_config()
  config.num_steps = 12
  config.log_every = 3
  config.checkpoint_every = 6
  config.progress_bar = False
  with pytest.raises(loop.NonFiniteError, match=r'non-finite loss=nan.* at step [1-9]'):
    loop.train_and_evaluate(config, str(tmp_path))


# ------------------------------------------------------------ whole runs in subprocesses


def run_args(workdir, steps=40, extra=(), config='demo.py', widths=('encoder',)):
  return [sys.executable, '-m', 'crossjax.main', f'--config=crossjax/configs/{config}',
          f'--workdir={workdir}', f'--config.num_steps={steps}', '--config.log_every=1',
          '--config.checkpoint_every=10', *(f'--config.{name}.widths=(64,)' for name in widths),
          '--config.progress_bar=False', *extra]


def cgan_run_args():
  """The modality-conditioned cGAN (two players, two optimizers) on digits halves, in the
  same harness."""
  return dict(config='cgan.py:smoke', widths=('generator', 'discriminator'))


def final_params(workdir, step):
  restored = ocp.StandardCheckpointer().restore(
      pathlib.Path(workdir).resolve() / 'checkpoints' / 'latest' / str(step) / 'default')
  return restored['params']


def wait_for_step(workdir, step, process, timeout=120):
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  deadline = time.time() + timeout
  while time.time() < deadline:
    if path.exists():
      steps = [json.loads(line)['step'] for line in path.read_text().splitlines() if line]
      if steps and max(steps) >= step:
        return max(steps)
    assert process.poll() is None, process.communicate()
    time.sleep(0.05)
  raise TimeoutError(f'step {step} not reached')


@pytest.mark.slow
@pytest.mark.extended
# The cGAN: its two players' states, and half-written checkpoints; Deep CCA's bitwise resume
# is checked after SIGTERM and SIGINT in test_preemption.py.
@pytest.mark.parametrize('model', ['cgan'])
def test_sigkill_and_resume_equals_unbroken_run(model, tmp_path):
  options = cgan_run_args() if model == 'cgan' else {}
  unbroken = tmp_path / 'unbroken'
  subprocess.run(run_args(unbroken, **options), cwd=ROOT, check=True, capture_output=True,
                 timeout=300)
  killed = tmp_path / 'killed'
  kill_at = random.Random(os.getpid()).randint(12, 35)
  process = subprocess.Popen(run_args(killed, **options), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  wait_for_step(killed, kill_at, process)
  process.send_signal(signal.SIGKILL)
  process.wait()
  left = [p.name for p in (killed / 'checkpoints' / 'latest').iterdir()]
  complete = sorted(int(name) for name in left if name.isdigit())
  resumed = subprocess.run(run_args(killed, **options), cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  if complete:
    assert f'Resuming from the checkpoint at step {complete[-1]}' in resumed.stdout
  if any('tmp' in name for name in left):  # killed while saving
    assert 'skipping half-written checkpoints' in resumed.stderr
  chex.assert_trees_all_equal(final_params(killed, 40), final_params(unbroken, 40))
  # metrics.jsonl holds each step once, as an unbroken run's would.
  rows = [json.loads(line) for line in (killed / 'metrics.jsonl').read_text().splitlines()]
  train_steps = [row['step'] for row in rows if row['split'] == 'train']
  assert train_steps == list(range(1, 41))


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
  process = subprocess.Popen(run_args(tmp_path, steps=400), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  reached = wait_for_step(tmp_path, 13, process)
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 128 + signal.SIGTERM, stderr
  assert 'stopped by SIGTERM' in stderr
  steps = sorted(int(p.name) for p in (tmp_path / 'checkpoints' / 'latest').iterdir()
                 if p.name.isdigit())
  assert steps[-1] >= reached  # saved where it stopped, not only at the last multiple of 10


# Two processes against one process: test_preemption.py, beside its unbroken run.


@pytest.mark.slow
def test_a_process_that_never_joins_is_a_clear_error(tmp_path):
  started = time.time()
  alone = subprocess.run(
      [*run_args(tmp_path), '--coordinator_address=127.0.0.1:47813', '--num_processes=2',
       '--process_id=0', '--join_timeout=5'], cwd=ROOT, capture_output=True, text=True,
      timeout=200)
  assert alone.returncode != 0
  assert 'process 0 could not join 2 processes at 127.0.0.1:47813 within 5 s' in alone.stderr
  assert time.time() - started < 120


@pytest.mark.slow
def test_resuming_under_another_config_is_refused(tmp_path):
  config = small_config()
  config.num_steps, config.log_every, config.checkpoint_every = 2, 1, 2
  config.progress_bar = False
  loop.train(config, str(tmp_path))
  # Logging, checkpointing and evaluation settings may change: the finished run is restored.
  config.log_every, config.evaluation.k = 2, 3
  assert int(loop.train(config, str(tmp_path)).state.step) == 2
  config.optimizer.learning_rate *= 10
  config.encoder.widths = (16,)  # the checkpoint no longer fits: the config check comes first
  with pytest.raises(ValueError, match=r'another config \(encoder.widths: \[32\] -> \[16\]; '
                     r'optimizer.learning_rate: .*use another --workdir'):
    loop.train(config, str(tmp_path))


def test_sgd_weight_decay_is_the_authors_update():
  """Wang et al.'s DCCAE_train.m: delta = m delta - eta (g + 2 l2 w); w = w + delta, every
  weight and bias; weight_decay = 2 l2 here."""
  config = common.optimizer_config(name='sgd', learning_rate=0.01, momentum=0.99,
                                   weight_decay=2e-4)
  optimizer = make_optimizer(config, 10)
  weights = {'w': np.array([1.0, -2.0, 0.5]), 'b': np.array([0.3])}
  state = optimizer.init(weights)
  expected, delta = dict(weights), {key: np.zeros_like(value) for key, value in weights.items()}
  for step in range(3):
    grads = {key: np.cos(value + step) for key, value in weights.items()}
    reference = {key: np.cos(value + step) for key, value in expected.items()}
    updates, state = optimizer.update(grads, state, weights)
    weights = optax.apply_updates(weights, updates)
    for key in weights:
      delta[key] = 0.99 * delta[key] - 0.01 * (reference[key] + 2 * 1e-4 * expected[key])
      expected[key] = expected[key] + delta[key]
  chex.assert_trees_all_close(weights, expected, rtol=1e-6)


@pytest.mark.slow
def test_dccae_reconstructs_every_kth_row_in_training_and_every_row_in_evaluation():
  """reconstruction.batch_size = b: the squared error of sigmoid outputs on rows 0, B/b, 2B/b,
  ... of a training batch (the authors' 100 beside 800); evaluation scores every row."""
  config = small_config('dccae')
  config.reconstruction.loss = 'sigmoid_squared_error'
  batch = digits_batch(128)
  _, state = initial_state(config, batch)
  model, params = state.model, state.params['model']
  codes = model.apply({'params': params}, [batch['x1'], batch['x2']], False, method='encode')
  outputs = model.apply({'params': params}, codes, False, method='decode')
  per_row = sum(np.sum((np.asarray(view) - 1 / (1 + np.exp(-np.asarray(output)))) ** 2, axis=1)
                for view, output in zip((batch['x1'], batch['x2']), outputs))
  every_row = model.apply({'params': params}, batch, False, method='loss')[1]['reconstruction']
  np.testing.assert_allclose(every_row, per_row.mean(), rtol=1e-5)
  strided = model.clone(reconstruction_batch=16)
  trained = strided.apply({'params': params}, batch, True, method='loss')[1]['reconstruction']
  np.testing.assert_allclose(trained, per_row[::8].mean(), rtol=1e-5)
  evaluated = strided.apply({'params': params}, batch, False, method='loss')[1]['reconstruction']
  np.testing.assert_allclose(evaluated, per_row.mean(), rtol=1e-5)
  with pytest.raises(ValueError, match='reconstruction batch 48 does not divide the batch of '
                                       '128'):
    model.clone(reconstruction_batch=48).apply({'params': params}, batch, True, method='loss')


def test_best_checkpoint_is_the_state_of_the_best_validation_metric(tmp_path):
  """evaluate_checkpoint='best' evaluates this state (early stopping)."""
  _, state = initial_state(small_config(), digits_batch())
  checkpoints = checkpoint.Checkpointer(str(tmp_path), best_metric='loss', best_mode='min')
  assert checkpoints.restore_best(state) is None
  saved = {}
  for step, loss in ((1, 3.0), (2, 1.0), (3, 2.0)):
    saved[step] = state.replace(step=jax.numpy.asarray(step, state.step.dtype),
                                params=jax.tree.map(lambda x, s=step: x + s, state.params))
    checkpoints.save_best(saved[step], {'loss': loss})
  checkpoints.wait()
  best = checkpoints.restore_best(state)
  checkpoints.close()
  assert int(best.step) == 2
  chex.assert_trees_all_equal(best.params, saved[2].params)


def test_mlp_initialisations_follow_the_authors_bounds():
  """deepnetinit.m: uniform +-4 sqrt(6 / (fan_in + fan_out)) into sigmoid units, +-1 /
  sqrt(fan_in) into linear ones, zero biases; the default stays Flax's (LeCun normal)."""
  x = np.zeros((2, 300), np.float32)
  mlp = networks.MLP(widths=(500,), features=40, activation='sigmoid',
                     kernel_init='glorot_uniform_x4', output_kernel_init='uniform_fan_in')
  params = mlp.init(jax.random.PRNGKey(0), x)['params']
  for layer, bound in (('Dense_0', 4 * np.sqrt(6 / 800)), ('Dense_1', 1 / np.sqrt(500))):
    kernel = np.asarray(params[layer]['kernel'])
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.99 * bound
    np.testing.assert_allclose(kernel.std(), bound / np.sqrt(3), rtol=0.02)
    assert not np.any(params[layer]['bias'])
  default = networks.MLP(widths=(500,), features=40).init(jax.random.PRNGKey(0), x)['params']
  np.testing.assert_allclose(np.asarray(default['Dense_0']['kernel']).std(), 1 / np.sqrt(300),
                             rtol=0.05)
  with pytest.raises(ValueError, match="unknown initialisation 'glorot'"):
    networks.MLP(widths=(5,), features=2, kernel_init='glorot').init(jax.random.PRNGKey(0), x)
