"""Conditional GAN (Mirza and Osindero 2014, "Conditional Generative Adversarial Nets").

A generator G(z, c) and a discriminator D(x, c), where the condition c is a class label (one-hot) or
another modality; each player passes c through its own condition encoder and joins it to its input.
The target x is a batch entry: pixels in [0, 1] (G's output a sigmoid, the default) or any real
values, e.g. standardised features (output 'linear'). The two players' parameters are the subtrees
'generator' and 'discriminator', so one train state holds them with an optimizer each.

Losses, with d = D(x, c) a logit and x~ = G(z, c), z ~ N(0, I) (or uniform):
  non-saturating (Goodfellow et al. 2014): L_D = softplus(-d(x)) + softplus(d(x~)),
                                            L_G = softplus(-d(x~));
  hinge (Lim and Ye 2017):                  L_D = relu(1 - d(x)) + relu(1 + d(x~)),
                                            L_G = -d(x~);
each averaged over the batch. With r1_weight = gamma > 0, D also pays the R1 penalty
(Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"):
(gamma / 2) E ||grad_x d(x, c)||^2 on real targets (`r1_penalty`), which keeps D from growing
sharp on the data and G from being starved of gradient.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from crossjax.models import networks

GENERATOR, DISCRIMINATOR = 'generator', 'discriminator'
GAN_LOSSES = ('non_saturating', 'hinge')
NOISE_DISTRIBUTIONS = ('normal', 'uniform')


def draw_noise(key: jax.Array, shape: tuple, distribution: str = 'normal') -> jax.Array:
  """z of zero mean and unit variance: N(0, I), or 'uniform' on [-sqrt 3, sqrt 3] (Goodfellow
  et al.'s released code, which Mirza and Osindero's uniform prior follows)."""
  if distribution == 'normal':
    return jax.random.normal(key, shape)
  return jax.random.uniform(key, shape, minval=-3 ** 0.5, maxval=3 ** 0.5)


class ConditionEncoder(nn.Module):
  """c -> activation(network(c)): labels are one-hot encoded first (`num_classes` > 0)."""
  network: nn.Module
  num_classes: int = 0
  activation: str = 'leaky_relu'

  def __call__(self, condition: jax.Array, train: bool = False) -> jax.Array:
    if self.num_classes:
      condition = jax.nn.one_hot(condition, self.num_classes)
    return networks.activation(self.activation)(self.network(condition, train))


GENERATOR_OUTPUTS = {'sigmoid': jax.nn.sigmoid, 'linear': lambda x: x}


class Generator(nn.Module):
  """G(z, c) = output(network([noise_encoder(z), condition_encoder(c)])), output 'sigmoid'
  (pixels in [0, 1]) or 'linear' (real-valued targets); z joins as it is without a noise
  encoder (Mirza and Osindero map z to 200 ReLU units and c to 1000 before a joint layer)."""
  network: nn.Module
  condition_encoder: ConditionEncoder
  output: str = 'sigmoid'
  noise_encoder: ConditionEncoder | None = None

  def __call__(self, z: jax.Array, condition: jax.Array, train: bool = False) -> jax.Array:
    if self.output not in GENERATOR_OUTPUTS:
      raise ValueError(f'unknown generator output {self.output!r}; known: '
                       f'{", ".join(GENERATOR_OUTPUTS)}')
    if self.noise_encoder is not None:
      z = self.noise_encoder(z, train)
    hidden = jnp.concatenate([z, self.condition_encoder(condition, train)], axis=-1)
    return GENERATOR_OUTPUTS[self.output](self.network(hidden, train).astype(jnp.float32))


class Discriminator(nn.Module):
  """D(x, c): one logit per example, 'real' when large. Two ways to bring in c:

  'concat' (Mirza and Osindero 2014): D = network([x, e(c)]), network ending in one unit;
  'projection' (Miyato and Koyama 2018): phi = act(network(x)), D = w^T phi + <e(c), phi>,
  network ending in as many units as the condition code e(c).
  """
  network: nn.Module
  condition_encoder: ConditionEncoder
  conditioning: str = 'concat'
  activation: str = 'leaky_relu'

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool = False) -> jax.Array:
    code = self.condition_encoder(condition, train)
    if self.conditioning == 'concat':
      return self.network(jnp.concatenate([x, code], axis=-1), train)[:, 0].astype(jnp.float32)
    if self.conditioning == 'projection':
      features = networks.activation(self.activation)(self.network(x, train))
      logits = nn.Dense(1)(features)[:, 0] + jnp.sum(code * features, axis=-1)
      return logits.astype(jnp.float32)
    raise ValueError(f'unknown conditioning {self.conditioning!r}; known: concat, projection')


class ConditionalGAN(nn.Module):
  """G and D for target batch[target_key] given batch[condition_key] ('labels' or a view).

  Randomness: z from the 'noise' rng (`draw_noise` of noise_distribution), dropout from
  'dropout'.
  """
  generator: Generator
  discriminator: Discriminator
  noise_dim: int = 100
  condition_key: str = 'labels'
  target_key: str = 'x1'
  loss_type: str = 'non_saturating'
  r1_weight: float = 0.0
  noise_distribution: str = 'normal'

  def setup(self):
    if self.loss_type not in GAN_LOSSES:
      raise ValueError(f'unknown GAN loss {self.loss_type!r}; known: {GAN_LOSSES}')
    if self.noise_distribution not in NOISE_DISTRIBUTIONS:
      raise ValueError(f'unknown noise_distribution {self.noise_distribution!r}; known: '
                       f'{NOISE_DISTRIBUTIONS}')
    if self.condition_key == self.target_key:
      raise ValueError(f'the condition and the target are both {self.target_key!r}')

  def generate(self, condition: jax.Array, z: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    """Samples G(z, c) for a batch of conditions; z drawn from the 'noise' rng if not given."""
    if z is None:
      z = draw_noise(self.make_rng('noise'), (condition.shape[0], self.noise_dim),
                     self.noise_distribution)
    return self.generator(z, condition, train)

  def discriminate(self, x: jax.Array, condition: jax.Array, train: bool = False) -> jax.Array:
    return self.discriminator(x, condition, train)

  def discriminator_loss(self, batch: dict, train: bool = False) -> tuple[jax.Array, dict]:
    """L_D on real targets and on fakes from the current G (not differentiated through G's
    parameters: the step differentiates D's only)."""
    condition, real = batch[self.condition_key], batch[self.target_key]
    fake = self.generate(condition, train=train)
    real_logits = self.discriminate(real, condition, train)
    fake_logits = self.discriminate(fake, condition, train)
    if self.loss_type == 'hinge':
      loss = jnp.mean(nn.relu(1 - real_logits)) + jnp.mean(nn.relu(1 + fake_logits))
    else:
      loss = jnp.mean(nn.softplus(-real_logits)) + jnp.mean(nn.softplus(fake_logits))
    metrics = {'d_loss': loss,
               'd_real': jnp.mean(nn.sigmoid(real_logits)),  # D's belief that reals are real
               'd_fake': jnp.mean(nn.sigmoid(fake_logits)),
               'd_accuracy': 0.5 * (jnp.mean(real_logits > 0) + jnp.mean(fake_logits < 0))}
    return loss, metrics

  def generator_loss(self, batch: dict, train: bool = False) -> tuple[jax.Array, dict]:
    condition = batch[self.condition_key]
    fake_logits = self.discriminate(self.generate(condition, train=train), condition, train)
    if self.loss_type == 'hinge':
      loss = -jnp.mean(fake_logits)
    else:
      loss = jnp.mean(nn.softplus(-fake_logits))
    return loss, {'g_loss': loss}

  def __call__(self, batch: dict, train: bool = False):
    """Both losses (for initialising every parameter)."""
    return self.discriminator_loss(batch, train), self.generator_loss(batch, train)


def r1_penalty(model: ConditionalGAN, variables: dict, batch: dict, rngs: dict) -> jax.Array:
  """E ||grad_x d(x, c)||^2 over the real targets of `batch`.

  A function of the bound variables rather than a module method: the input gradient is a
  jax.grad through `model.apply`, which the step differentiates again for D's parameters."""
  condition = batch[model.condition_key]

  def summed_logits(x):
    return jnp.sum(model.apply(variables, x, condition, True, method='discriminate', rngs=rngs))

  return jnp.mean(jnp.sum(jax.grad(summed_logits)(batch[model.target_key]) ** 2, axis=-1))
