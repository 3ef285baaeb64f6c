"""Conditional GAN on the engine: both players step, shard, compile once; Parzen estimate."""

import chex
import jax
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

from crossjax import data, evaluate, families
from crossjax.models import gan
from crossjax.train import parallel, steps
from crossjax.train.state import create_state
from crossjax.configs import cgan_halves, cgan_mnist, cgan_mnist_paper_generator


def digits_batch(size=64):
  """Digits halves: left half as the target (pixels in [0, 1]), labels or the right half as
  the condition."""
  split = data.digits_halves()['train']
  return {key: split[key][:size] for key in ('x1', 'x2', 'labels')}


def build(condition='labels', loss='non_saturating'):
  config = (cgan_mnist if condition == 'labels' else cgan_halves).get_config('smoke')
  config.gan.condition, config.gan.target, config.gan.loss = condition, 'x1', loss
  config.generator.widths = (32,)
  config.discriminator.widths = (32,)
  config.gan.noise_dim = 8
  family = families.get('cgan')
  batch = digits_batch()
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  return family, create_state(model, players, family.optimizers(config, 100),
                            jax.random.PRNGKey(1)), batch


def adam_counts(state):
  """Each player's update count (every counter in its optimizer state agrees)."""
  counts = {}
  for player in (gan.GENERATOR, gan.DISCRIMINATOR):
    found = {int(value) for _, value in
             optax.tree_utils.tree_get_all_with_path(state.opt_state[player], 'count')}
    assert len(found) == 1, found
    counts[player] = found.pop()
  return counts


@pytest.mark.slow
@pytest.mark.parametrize('condition, loss', [('labels', 'non_saturating'), ('x2', 'hinge')])
def test_step_changes_both_players_and_advances_both_optimizers(condition, loss):
  chex.clear_trace_counter()
  family, state, batch = build(condition, loss)
  before = jax.device_get(state.params)
  step = jax.jit(chex.assert_max_traces(family.train_step, n=1))
  for done in (1, 2, 3):
    state, metrics = step(state, batch)
    assert adam_counts(state) == {gan.GENERATOR: done, gan.DISCRIMINATOR: done}
  assert int(state.step) == 3
  for player in (gan.GENERATOR, gan.DISCRIMINATOR):
    # Every weight matrix of both players moves. (A bias may rightly stay: under the hinge
    # loss D's output bias gets -P(d_real < 1) + P(d_fake > -1) = 0 while all are in margin.)
    changed = jax.tree_util.tree_map_with_path(
        lambda path, a, b: path[-1].key != 'kernel' or not np.array_equal(a, b),
        before[player], jax.device_get(state.params[player]))
    assert all(jax.tree.leaves(changed)), (player, changed)
  assert {'d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm'} <= set(metrics)
  assert all(np.isfinite(float(value)) for value in metrics.values())
  samples = state.model.apply({'params': state.params}, batch[condition], method='generate',
                              rngs={'noise': jax.random.PRNGKey(2)})
  assert samples.shape == batch['x1'].shape
  assert float(samples.min()) >= 0 and float(samples.max()) <= 1


@pytest.mark.slow  # the cGAN is a slow-tier family (test_families)
def test_generator_uses_the_condition():
  _, state, batch = build('labels')
  z = jax.random.normal(jax.random.PRNGKey(0), (10, state.model.noise_dim))
  apply = lambda labels: state.model.apply({'params': state.params}, labels, z,
                                           method='generate')
  assert not np.allclose(apply(np.zeros(10, int)), apply(np.ones(10, int)))


@pytest.mark.slow
def test_sharded_step_equals_one_device_step():
  family, state, batch = build('labels')
  expected_state, expected = jax.jit(family.train_step)(state, batch)
  mesh = parallel.data_mesh()
  replicated = parallel.replicated(mesh)
  sharded_batch = parallel.global_batch(batch, mesh, len(batch['x1']))
  assert len(sharded_batch['labels'].sharding.device_set) == 4
  sharded_state, metrics = jax.jit(family.train_step, out_shardings=replicated)(
      jax.device_put(state, replicated), sharded_batch)
  for name in expected:
    np.testing.assert_allclose(metrics[name], expected[name], rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(sharded_state.params, expected_state.params, rtol=1e-5,
                              atol=1e-5)
  chex.assert_trees_all_equal(adam_counts(sharded_state), adam_counts(expected_state))


@pytest.mark.slow
def test_paper_generator_and_the_validation_parzen_estimate():
  # Mirza and Osindero's generator: z -> 200 ReLU and the label -> 1000 ReLU, joined in 1200
  # (smoke: 32, 64, 128); z uniform with unit variance.
  config = cgan_mnist_paper_generator.get_config('smoke')
  family = families.get('cgan')
  batch = digits_batch()
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  kernels = [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(
      players[gan.GENERATOR]) if path[-1].key == 'kernel']
  assert sorted(kernels) == sorted([(100, 32), (10, 64), (96, 128), (128, 32)]), kernels
  z = np.asarray(gan.draw_noise(jax.random.PRNGKey(3), (20000, 5), model.noise_distribution))
  assert np.abs(z).max() <= 3 ** 0.5 and np.abs(z).max() > 1.7  # uniform, not normal
  np.testing.assert_allclose(z.var(axis=0), 1.0, atol=0.03)
  # The checkpoint-ranking metric: the best-width mean Parzen log-likelihood of the tune
  # targets under 100 samples per class drawn with the eval noise.
  state = create_state(model, players, family.optimizers(config, 100), jax.random.PRNGKey(1))
  metrics = jax.jit(family.validation_step(config))(state, batch)
  labels = np.repeat(np.arange(10), config.evaluation.samples_per_class)
  samples = state.model.apply({'params': state.params}, labels, method='generate', rngs={
      'noise': jax.random.fold_in(state.key, steps.EVAL_NOISE_SALT)})
  assert samples.shape == (1000, 32)
  # Evaluation draws z from the model's own (uniform) noise too.
  key = jax.random.PRNGKey(5)
  np.testing.assert_allclose(
      family.generate(state, labels[:50], key, 25),
      state.model.apply({'params': state.params}, labels[:50],
                        gan.draw_noise(key, (50, 100), 'uniform'), method='generate'),
      rtol=1e-5, atol=1e-6)
  expected = max(evaluate.parzen_log_likelihood(samples, batch['x1'], batch['x1'], [sigma])[
      'test_mean'] for sigma in config.evaluation.parzen_sigmas)
  np.testing.assert_allclose(metrics['parzen'], expected, rtol=1e-5)
  assert {'d_loss', 'g_loss'} <= set(metrics)


def test_unknown_loss_and_condition_equal_to_target_are_refused():
  with pytest.raises(ValueError, match='unknown GAN loss'):
    build('labels', loss='wasserstein')
  with pytest.raises(ValueError, match='both'):
    build('x1')


def test_parzen_log_likelihood_matches_direct_float64_sum():
  rng = np.random.default_rng(0)
  samples = rng.uniform(size=(300, 20)).astype(np.float32)
  tune, test = (rng.uniform(size=(n, 20)).astype(np.float32) for n in (120, 150))
  sigmas = (0.05, 0.2, 0.5, 2.0)

  def direct(points, sigma):
    squared = ((points[:, None, :].astype(np.float64) - samples[None].astype(np.float64)) ** 2
               ).sum(-1)
    return (logsumexp(-squared / (2 * sigma ** 2), axis=1) - np.log(len(samples))
            - 10 * np.log(2 * np.pi * sigma ** 2))

  best = max(sigmas, key=lambda sigma: direct(tune, sigma).mean())
  result = evaluate.parzen_log_likelihood(samples, tune, test, sigmas)
  assert result['sigma'] == best and best not in (sigmas[0], sigmas[-1])
  expected = direct(test, best)
  np.testing.assert_allclose(result['test_mean'], expected.mean(), rtol=1e-4)
  np.testing.assert_allclose(result['test_standard_error'],
                             expected.std() / np.sqrt(len(test)), rtol=1e-3)


def test_an_unknown_transfer_evaluation_is_refused_before_training():
  config = cgan_halves.get_config('smoke')
  config.evaluation.transfer = 'halfs'
  with pytest.raises(ValueError, match="unknown evaluation.transfer 'halfs'"):
    families.get('cgan').build(config, digits_batch(), jax.random.PRNGKey(0))
