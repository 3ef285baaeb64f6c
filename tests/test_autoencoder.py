"""Multimodal autoencoder: training on mfeat, missing modalities, the engine on this model."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossjax import data, families
from crossjax.models import autoencoder
from crossjax.train import parallel
from crossjax.train.state import create_state
from crossjax.configs import mae_mfeat, splitae, vcca


@pytest.fixture(scope='module')
def mfeat_batch(data_dir):
  # Three of the six views keep the compiles short; the model is the same for any m.
  splits = data.standardize(data.mfeat(views=('fou', 'kar', 'pix'), path=data_dir))
  return {key: value[:120] for key, value in splits['train'].items() if key != 'labels'}


def build(batch):
  config = mae_mfeat.get_config()
  config.encoder.widths = (32,)
  config.decoder.widths = (32,)
  family = families.get('mae')
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  return family, create_state(model, players, family.optimizers(config, 100), jax.random.PRNGKey(1))


@pytest.mark.slow
def test_loss_falls_on_mfeat(mfeat_batch):
  family, state = build(mfeat_batch)
  step = jax.jit(family.train_step)
  evaluate = jax.jit(family.eval_step)
  before = float(evaluate(state, mfeat_batch)['loss'])
  for _ in range(25):
    state, metrics = step(state, mfeat_batch)
  after = float(evaluate(state, mfeat_batch)['loss'])
  assert after < 0.8 * before
  assert {f'reconstruction_{i}' for i in range(1, 4)} <= set(metrics)


@pytest.mark.slow
def test_one_modality_gives_all_reconstructions_and_ignores_the_rest(mfeat_batch):
  _, state = build(mfeat_batch)
  model, params = state.model, {'params': state.params['model']}
  views = [mfeat_batch[f'x{i}'] for i in range(1, 4)]
  mask = jnp.zeros((120, 3)).at[:, 2].set(1.0)  # only 'pix'
  apply = jax.jit(model.apply)
  outputs = apply(params, views, mask)
  assert [o.shape for o in outputs] == [v.shape for v in views]
  # Changing an absent modality changes nothing ...
  noisy = list(views)
  noisy[0] = views[0] + 100.0 * np.random.default_rng(0).normal(size=views[0].shape)
  for a, b in zip(outputs, apply(params, noisy, mask)):
    np.testing.assert_array_equal(a, b)
  # ... and its gradient is exactly zero, while the present one's is not.
  grads = jax.jit(jax.grad(lambda vs: sum(jnp.sum(o) for o in model.apply(params, vs, mask))))(
      views)
  assert not np.any(grads[0]) and not np.any(grads[1])
  assert np.any(grads[2])


def test_augmentation_mask():
  mask = np.asarray(autoencoder.augmentation_mask(jax.random.PRNGKey(0), jnp.ones((4000, 3)),
                                                  0.5))
  single = mask.sum(1) == 1
  assert set(mask.sum(1)) == {1.0, 3.0}
  assert 0.45 < single.mean() < 0.55
  np.testing.assert_allclose(mask[single].mean(0), 1 / 3, atol=0.04)


def test_augmentation_mask_stays_within_the_modalities_an_example_has():
  present = np.ones((4000, 3), np.float32)
  present[:2000, 1] = 0.0  # the first half lacks modality 2
  mask = np.asarray(autoencoder.augmentation_mask(jax.random.PRNGKey(0), jnp.asarray(present),
                                                  0.5))
  assert not np.any(mask[:2000, 1])
  assert np.all(mask <= present) and np.all(mask.sum(1) >= 1)
  single = mask[:2000].sum(1) == 1
  np.testing.assert_allclose(mask[:2000][single].mean(0), [0.5, 0.0, 0.5], atol=0.05)


@pytest.mark.slow
def test_missing_rows_are_masked_in_the_code_and_the_loss(mfeat_batch):
  """A NaN row (a view missing for that sample) acts as an absent modality: the code equals
  the code with that modality masked off, and its reconstruction is not scored."""
  family, state = build(mfeat_batch)
  model, params = state.model, {'params': state.params['model']}
  views = [np.array(mfeat_batch[f'x{i}']) for i in range(1, 4)]
  with_missing = [v.copy() for v in views]
  with_missing[1][:40] = np.nan  # samples 0..39 lack 'kar'
  mask = np.ones((120, 3), np.float32)
  mask[:40, 1] = 0.0
  encode = jax.jit(lambda views, mask: model.apply(params, views, mask, method='encode'))
  np.testing.assert_allclose(encode(with_missing, np.ones((1, 3), np.float32)),
                             encode(views, mask), atol=1e-6)
  batch = {f'x{i}': v for i, v in enumerate(with_missing, start=1)}
  metrics = jax.jit(family.eval_step)(state, batch)
  assert all(np.isfinite(float(value)) for value in metrics.values())
  # The 'kar' term is the mean over the 80 samples that have it.
  partial = {f'x{i}': v[40:] for i, v in enumerate(views, start=1)}
  np.testing.assert_allclose(metrics['reconstruction_2'],
                             jax.jit(family.eval_step)(state, partial)['reconstruction_2'],
                             rtol=1e-5)
  _, step_metrics = jax.jit(family.train_step)(state, batch)
  assert np.isfinite(float(step_metrics['loss'])) and np.isfinite(float(step_metrics['grad_norm']))


@pytest.mark.slow
@pytest.mark.parametrize('model', ['mae', 'splitae', 'vcca_private'])
def test_sharded_step_equals_one_device_step(mfeat_batch, model):
  batch = {key: value[:120] for key, value in mfeat_batch.items()}
  if model == 'mae':
    family, state = build(batch)
  elif model == 'splitae':
    family, state = split_autoencoder(batch, ('squared_error',) * 3)
  else:  # the latent noise is drawn for the global batch: the same on any number of devices
    family, state = variational_cca(batch, ('squared_error',) * 3, private_dim=2, samples=2)
  expected_state, expected = jax.jit(family.train_step)(state, batch)
  mesh = parallel.data_mesh()
  replicated = parallel.replicated(mesh)
  sharded_state, metrics = jax.jit(family.train_step, out_shardings=replicated)(
      jax.device_put(state, replicated), parallel.global_batch(batch, mesh, 120))
  for name in expected:
    np.testing.assert_allclose(metrics[name], expected[name], rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(sharded_state.params, expected_state.params, rtol=1e-5,
                              atol=1e-5)


def split_autoencoder(batch, losses):
  config = splitae.get_config()
  config.encoder.widths = config.decoder.widths = (16,)
  config.output_dim = 4
  config.reconstruction.losses = losses
  family = families.get('splitae')
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  return family, create_state(model, players, family.optimizers(config, 100),
                              jax.random.PRNGKey(1))


def test_split_autoencoder_reconstructs_every_view_from_view_1(mfeat_batch):
  """loss = sum_i rec_i(X_i, g_i(f(X_1))), against the same layers written out in NumPy."""
  losses = ('squared_error', 'sigmoid_squared_error', 'bernoulli')
  batch = {key: value[:32] for key, value in mfeat_batch.items()}
  family, state = split_autoencoder(batch, losses)
  params = jax.device_get(state.params['model'])

  def mlp(layers, x):
    hidden = np.maximum(x @ layers['Dense_0']['kernel'] + layers['Dense_0']['bias'], 0.0)
    return hidden @ layers['Dense_1']['kernel'] + layers['Dense_1']['bias']

  views = [np.asarray(batch[key], np.float64) for key in ('x1', 'x2', 'x3')]
  code = mlp(params['encoder'], views[0])
  expected = {}
  for i, (loss, view) in enumerate(zip(losses, views)):
    output = mlp(params[f'decoders_{i}'], code)
    if loss == 'bernoulli':
      per_row = np.sum(np.logaddexp(0.0, output) - view * output, axis=1)
    else:
      fitted = output if loss == 'squared_error' else 1 / (1 + np.exp(-output))
      per_row = np.sum((view - fitted) ** 2, axis=1)
    expected[f'reconstruction_{i + 1}'] = per_row.mean()
  metrics = jax.jit(family.eval_step)(state, batch)
  for name, value in expected.items():
    np.testing.assert_allclose(metrics[name], value, rtol=1e-4)
  np.testing.assert_allclose(metrics['loss'], sum(expected.values()), rtol=1e-4)



def variational_cca(batch, losses, private_dim=0, samples=1):
  config = vcca.get_config()
  config.encoder.widths = config.decoder.widths = config.private_encoder.widths = (16,)
  config.output_dim = 4
  config.variational.private_dim = private_dim
  config.variational.samples = samples
  config.reconstruction.losses = losses
  family = families.get('vcca')
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  return family, create_state(model, players, family.optimizers(config, 100),
                              jax.random.PRNGKey(1))


def test_gaussian_kl_matches_numerical_integration():
  """KL(N(m, s^2) || N(0, 1)) in closed form against quadrature of q log(q / p)."""
  from scipy import integrate, stats  # pylint: disable=import-outside-toplevel
  mean, log_variance = np.array([[0.0, 1.5, -0.7]]), np.array([[0.0, -1.2, 0.8]])
  expected = 0.0
  for m, s in zip(mean[0], np.exp(0.5 * log_variance[0])):
    q = stats.norm(m, s)
    expected += integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - stats.norm.logpdf(z)),
                               m - 12 * s, m + 12 * s)[0]
  np.testing.assert_allclose(autoencoder.gaussian_kl(mean, log_variance), [expected], rtol=1e-6)


@pytest.mark.slow  # three compiles of five networks
def test_vcca_private_loss_is_the_negative_elbo(mfeat_batch):
  """Without sampling (evaluation): the KL terms plus the reconstructions from the means,
  written out in NumPy (the Gaussian's log density from SciPy). With sampling: the
  reconstruction term is a Monte Carlo estimate of E_q[rec], which 2,000 draws in NumPy from
  the same posteriors estimate alike. VCCA is the same without the private latents."""
  from scipy import stats  # pylint: disable=import-outside-toplevel
  losses, private_dim = ('bernoulli', 'gaussian'), 2
  batch = {key: mfeat_batch[key][:8] for key in ('x1', 'x2')}
  family, state = variational_cca(batch, losses, private_dim, samples=2000)
  params = jax.device_get(state.params['model'])

  def mlp(layers, x):
    hidden = np.maximum(x @ layers['Dense_0']['kernel'] + layers['Dense_0']['bias'], 0.0)
    return hidden @ layers['Dense_1']['kernel'] + layers['Dense_1']['bias']

  def kl(output):
    mean, log_variance = np.split(output, 2, axis=1)
    return 0.5 * np.sum(mean ** 2 + np.exp(log_variance) - 1 - log_variance, axis=1)

  def rec(loss, view, output):
    if loss == 'bernoulli':
      return np.sum(np.logaddexp(0.0, output) - view * output, axis=-1)
    logits, log_variance = np.split(output, 2, axis=-1)
    return -np.sum(stats.norm.logpdf(view, 1 / (1 + np.exp(-logits)),
                                     np.exp(0.5 * log_variance)), axis=-1)

  views = [np.asarray(batch[key], np.float64) for key in ('x1', 'x2')]
  shared = mlp(params['encoder'], views[0])
  private = [mlp(params[f'private_encoders_{i}'], view) for i, view in enumerate(views)]

  def sample(output, noise):  # the means where there is no noise
    mean, log_variance = np.split(output, 2, axis=1)
    return mean if noise is None else mean + np.exp(0.5 * log_variance) * noise

  rng = np.random.default_rng(0)
  for train in (False, True):
    z = sample(shared, rng.standard_normal((2000, 8, 4)) if train else None)
    inputs = [np.concatenate([z, sample(p, rng.standard_normal((2000, 8, private_dim))
                                        if train else None)], axis=-1) for p in private]
    expected = {f'reconstruction_{i + 1}': np.mean(rec(loss, view, mlp(
        params[f'decoders_{i}'], x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1] + (-1,))))
                for i, (loss, view, x) in enumerate(zip(losses, views, inputs))}
    expected['kl_shared'] = kl(shared).mean()
    expected['kl_private'] = np.mean(sum(kl(p) for p in private))
    metrics = (jax.jit(family.train_step)(state, batch)[1] if train
               else jax.jit(family.eval_step)(state, batch))
    for name, value in expected.items():  # sampled: 2,000 draws of each of 8 rows
      np.testing.assert_allclose(metrics[name], value, rtol=0.02 if train else 1e-4)
    np.testing.assert_allclose(metrics['loss'], sum(expected.values()),
                               rtol=0.02 if train else 1e-4)
