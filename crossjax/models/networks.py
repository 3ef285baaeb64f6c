"""Encoders and decoders: an MLP and a small convolutional pair for 28x28 images."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    'relu': nn.relu, 'sigmoid': nn.sigmoid, 'tanh': nn.tanh, 'gelu': nn.gelu,
    'leaky_relu': nn.leaky_relu, 'softplus': nn.softplus,
}


def activation(name: str) -> Callable:
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; known: {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers `widths` with an activation between them, then a linear layer to `features`.

  Optional layer norm and dropout after each hidden activation. Input (B, D) -> (B, features).
  `dtype` is the computation dtype (bfloat16 on accelerators); parameters stay float32.
  """
  widths: Sequence[int]
  features: int
  activation: str = 'relu'
  layer_norm: bool = False
  dropout: float = 0.0
  dtype: str = 'float32'

  @nn.compact
  def __call__(self, x, train: bool = False):
    for width in self.widths:
      x = activation(self.activation)(nn.Dense(width, dtype=self.dtype)(x))
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      if self.dropout:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.features, dtype=self.dtype)(x)


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
  """An encoder or decoder network by name: 'mlp', 'conv_encoder' or 'conv_decoder'."""
  if kind == 'mlp':
    return MLP(features=features, **kwargs)
  if kind == 'conv_encoder':
    return ConvEncoder(features=features, **kwargs)
  if kind == 'conv_decoder':
    if features != 28 * 28:
      raise ValueError(f'conv_decoder makes 784 pixels, asked for {features}')
    return ConvDecoder(**kwargs)
  raise ValueError(f'unknown network {kind!r}; known: mlp, conv_encoder, conv_decoder')


def squared_error(x, reconstruction):
  """Mean over the batch of the summed squared error per example."""
  return jnp.mean(jnp.sum((x - reconstruction) ** 2, axis=-1))


def bernoulli_cross_entropy(x, logits):
  """Mean over the batch of the summed Bernoulli cross-entropy per example; x in [0, 1]."""
  return jnp.mean(jnp.sum(jnp.logaddexp(0.0, logits) - x * logits, axis=-1))
