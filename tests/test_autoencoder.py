"""Multimodal autoencoder: training on mfeat, missing modalities, the engine on this model."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossjax import data
from crossjax.models import autoencoder
from crossjax.train import parallel, tasks
from crossjax.train.state import create_state
from experiments.configs import mae_mfeat


@pytest.fixture(scope='module')
def mfeat_batch(data_dir):
  splits = data.standardize(data.mfeat(path=data_dir))
  return {key: value[:120] for key, value in splits['train'].items() if key != 'labels'}


def build(batch):
  config = mae_mfeat.get_config()
  config.encoder.widths = (32,)
  config.decoder.widths = (32,)
  task = tasks.get('mae')
  model, players = task.build(config, batch, jax.random.PRNGKey(0))
  return task, create_state(model, players, task.optimizers(config, 100), jax.random.PRNGKey(1))


def test_loss_falls_on_mfeat(mfeat_batch):
  task, state = build(mfeat_batch)
  step = jax.jit(task.train_step)
  evaluate = jax.jit(task.eval_step)
  before = float(evaluate(state, mfeat_batch)['loss'])
  for _ in range(25):
    state, metrics = step(state, mfeat_batch)
  after = float(evaluate(state, mfeat_batch)['loss'])
  assert after < 0.8 * before
  assert {f'reconstruction_{i}' for i in range(1, 7)} <= set(metrics)


def test_one_modality_gives_all_reconstructions_and_ignores_the_rest(mfeat_batch):
  _, state = build(mfeat_batch)
  model, params = state.model, {'params': state.params['model']}
  views = [mfeat_batch[f'x{i}'] for i in range(1, 7)]
  mask = jnp.zeros((120, 6)).at[:, 3].set(1.0)  # only 'pix'
  outputs = model.apply(params, views, mask)
  assert [o.shape for o in outputs] == [v.shape for v in views]
  # Changing an absent modality changes nothing ...
  noisy = list(views)
  noisy[0] = views[0] + 100.0 * np.random.default_rng(0).normal(size=views[0].shape)
  for a, b in zip(outputs, model.apply(params, noisy, mask)):
    np.testing.assert_array_equal(a, b)
  # ... and its gradient is exactly zero, while the present one's is not.
  grads = jax.grad(lambda vs: sum(jnp.sum(o) for o in model.apply(params, vs, mask)))(views)
  assert not np.any(grads[0]) and not np.any(grads[5])
  assert np.any(grads[3])


def test_augmentation_mask():
  mask = np.asarray(autoencoder.augmentation_mask(jax.random.PRNGKey(0), 4000, 3, 0.5))
  single = mask.sum(1) == 1
  assert set(mask.sum(1)) == {1.0, 3.0}
  assert 0.45 < single.mean() < 0.55
  np.testing.assert_allclose(mask[single].mean(0), 1 / 3, atol=0.04)


def test_sharded_step_equals_one_device_step(mfeat_batch):
  batch = {key: value[:120] for key, value in mfeat_batch.items()}
  task, state = build(batch)
  expected_state, expected = jax.jit(task.train_step)(state, batch)
  mesh = parallel.data_mesh()
  replicated = parallel.replicated(mesh)
  sharded_state, metrics = jax.jit(task.train_step, out_shardings=replicated)(
      jax.device_put(state, replicated), parallel.global_batch(batch, mesh, 120))
  for name in expected:
    np.testing.assert_allclose(metrics[name], expected[name], rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(sharded_state.params, expected_state.params, rtol=1e-5,
                              atol=1e-5)
