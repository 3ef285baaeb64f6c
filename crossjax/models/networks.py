"""Encoders and decoders: an MLP and a small convolutional pair for 28x28 images."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable] = {
    'relu': nn.relu, 'sigmoid': nn.sigmoid, 'tanh': nn.tanh, 'gelu': nn.gelu,
    'leaky_relu': nn.leaky_relu, 'softplus': nn.softplus,
}


def activation(name: str) -> Callable:
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; known: {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]


# Weight initialisations by name (biases start at zero in all): Flax's default; Glorot and
# Bengio's uniform +-sqrt(6 / (fan_in + fan_out)) times 4, their advice for sigmoid units; and
# uniform +-1 / sqrt(fan_in). The last two are `deepnetinit.m` of Wang et al.'s code for
# sigmoid and linear layers.
INITIALIZERS: dict[str, Callable | None] = {
    'lecun_normal': None,
    'glorot_uniform_x4': nn.initializers.variance_scaling(16.0, 'fan_avg', 'uniform'),
    'uniform_fan_in': nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in', 'uniform'),
}


def _dense(features: int, init: str, dtype: str) -> nn.Dense:
  if init not in INITIALIZERS:
    raise ValueError(f'unknown initialisation {init!r}; known: {sorted(INITIALIZERS)}')
  kernel_init = INITIALIZERS[init]
  return nn.Dense(features, dtype=dtype, **({'kernel_init': kernel_init} if kernel_init else {}))


class MLP(nn.Module):
  """Dense layers `widths` with an activation between them, then a linear layer to `features`.

  Optional layer norm and dropout after each hidden activation, and dropout of the input
  (`input_dropout`: VCCA's dropout of the data and of the sampled latents). Input (B, D) ->
  (B, features).
  `dtype` is the computation dtype (bfloat16 on accelerators); parameters stay float32.
  `kernel_init` and `output_kernel_init` name the hidden and last layers' weight initialisations
  (INITIALIZERS).
  """
  widths: Sequence[int]
  features: int
  activation: str = 'relu'
  layer_norm: bool = False
  dropout: float = 0.0
  input_dropout: float = 0.0
  dtype: str = 'float32'
  kernel_init: str = 'lecun_normal'
  output_kernel_init: str = 'lecun_normal'

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.input_dropout:
      x = nn.Dropout(self.input_dropout, deterministic=not train)(x)
    for width in self.widths:
      x = activation(self.activation)(_dense(width, self.kernel_init, self.dtype)(x))
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      if self.dropout:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return _dense(self.features, self.output_kernel_init, self.dtype)(x)


class ConvEncoder(nn.Module):
  """28x28 images (flattened (B, 784) or (B, 28, 28)) -> (B, features).

  Two stride-2 3x3 convolutions (32, 64 channels) to 7x7, then a dense hidden layer.
  """
  features: int
  hidden: int = 256
  activation: str = 'relu'
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = activation(self.activation)
    x = x.reshape(x.shape[0], 28, 28, 1)
    x = act(nn.Conv(32, (3, 3), strides=(2, 2))(x))
    x = act(nn.Conv(64, (3, 3), strides=(2, 2))(x))
    x = act(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    self.sow('intermediates', 'features', x)  # for feature-space metrics (Frechet distance)
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.features)(x)


class ConvDecoder(nn.Module):
  """(B, code) -> (B, 784) logits of a 28x28 image: dense to 7x7x64, two stride-2 transposed
  convolutions back to 28x28."""
  hidden: int = 256
  activation: str = 'relu'

  @nn.compact
  def __call__(self, z, train: bool = False):
    del train
    act = activation(self.activation)
    x = act(nn.Dense(self.hidden)(z))
    x = act(nn.Dense(7 * 7 * 64)(x)).reshape(z.shape[0], 7, 7, 64)
    x = act(nn.ConvTranspose(32, (3, 3), strides=(2, 2))(x))
    x = nn.ConvTranspose(1, (3, 3), strides=(2, 2))(x)
    return x.reshape(z.shape[0], 28 * 28)


def build(kind: str, features: int, **kwargs) -> nn.Module:
  """An encoder or decoder network by name: 'mlp', 'conv_encoder', 'conv_decoder', or your own
  as 'package.module:Factory', called as Factory(features=features, **kwargs) (a Flax module
  class or a function returning a module; the other keys of its config section are kwargs)."""
  for name, value in kwargs.items():
    if name in ('widths', 'hidden') and any(int(w) <= 0 for w in np.atleast_1d(value)):
      raise ValueError(f'network {kind!r}: {name} must be positive, got {value}')
  if features <= 0:
    raise ValueError(f'network {kind!r}: output size must be positive, got {features}')
  if kind == 'mlp':
    return MLP(features=features, **kwargs)
  if kind == 'conv_encoder':
    return ConvEncoder(features=features, **kwargs)
  if kind == 'conv_decoder':
    if features != 28 * 28:
      raise ValueError(f'conv_decoder makes 784 pixels, asked for {features}')
    return ConvDecoder(**kwargs)
  if ':' in kind:
    factory = _user_factory(kind)
    return factory(features=features, **_accepted(factory, kwargs))
  raise ValueError(f'unknown network {kind!r}; known: mlp, conv_encoder, conv_decoder, or '
                   "'package.module:Factory' for your own")


def _accepted(factory, kwargs: dict) -> dict:
  """The keyword arguments `factory` takes: a config section keeps the built-in networks' keys
  (widths, activation, ...), which your own module may not have."""
  parameters = inspect.signature(factory).parameters.values()
  if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters):
    return kwargs
  names = {p.name for p in parameters}
  return {key: value for key, value in kwargs.items() if key in names}


def _user_factory(kind: str):
  module_name, _, attribute = kind.partition(':')
  try:
    module = importlib.import_module(module_name)
  except ImportError as error:
    raise ValueError(f'network {kind!r}: cannot import {module_name!r} ({error}); is it on '
                     'PYTHONPATH?') from error
  if not hasattr(module, attribute):
    raise ValueError(f'network {kind!r}: {module_name} has no {attribute!r}')
  return getattr(module, attribute)


def _batch_mean(per_example, present):
  """Mean over the examples that `present` (B,) marks; all of them where it is None."""
  if present is None:
    return jnp.mean(per_example)
  return jnp.sum(per_example * present) / jnp.maximum(jnp.sum(present), 1.0)


def squared_error(x, reconstruction, present=None):
  """Mean over the (present) examples of the summed squared error per example."""
  return _batch_mean(jnp.sum((x - reconstruction) ** 2, axis=-1), present)


def bernoulli_cross_entropy(x, logits, present=None):
  """Mean over the (present) examples of the summed Bernoulli cross-entropy per example;
  x in [0, 1]."""
  return _batch_mean(jnp.sum(jnp.logaddexp(0.0, logits) - x * logits, axis=-1), present)


def sigmoid_squared_error(x, logits, present=None):
  """Mean over the (present) examples of the summed squared error of sigmoid(logits): the
  sigmoid output units and squared error of Wang et al.'s DCCAE code (`deepnetgrad.m`)."""
  return squared_error(x, jax.nn.sigmoid(logits), present)


def gaussian_negative_log_likelihood(x, outputs, present=None):
  """Mean over the (present) examples of the negative log-likelihood of x under a diagonal
  Gaussian whose decoder outputs 2d units: d logits of the mean (sigmoid) and d log variances,
    0.5 sum_j (log 2 pi + log s_j^2 + (x_j - sigmoid(m_j))^2 / s_j^2)
  (the view-2 likelihood of Wang et al.'s VCCA code on noisy MNIST)."""
  logits, log_variance = jnp.split(outputs, 2, axis=-1)
  per_example = 0.5 * jnp.sum(jnp.log(2 * jnp.pi) + log_variance
                              + (x - jax.nn.sigmoid(logits)) ** 2 * jnp.exp(-log_variance),
                              axis=-1)
  return _batch_mean(per_example, present)


# Reconstruction losses by name: (targets, decoder outputs, present) -> the batch mean. Decoders
# output logits for every loss but 'squared_error'; for 'gaussian' also log variances (twice the
# view's width: `decoder_features`). The first `features` outputs are always the mean's.
RECONSTRUCTION_LOSSES: dict[str, Callable] = {
    'squared_error': squared_error, 'bernoulli': bernoulli_cross_entropy,
    'sigmoid_squared_error': sigmoid_squared_error, 'gaussian': gaussian_negative_log_likelihood}


def decoder_features(loss: str, features: int) -> int:
  """The output width of a decoder of a `features`-wide view under reconstruction `loss`."""
  return 2 * features if reconstruction_loss(loss) is gaussian_negative_log_likelihood else features


def reconstruction_loss(name: str) -> Callable:
  if name not in RECONSTRUCTION_LOSSES:
    raise ValueError(f'unknown reconstruction loss {name!r}; known: '
                     f'{sorted(RECONSTRUCTION_LOSSES)}')
  return RECONSTRUCTION_LOSSES[name]
