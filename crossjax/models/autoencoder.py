"""Multimodal autoencoder (Ngiam et al. 2011, "Multimodal Deep Learning") for m >= 2 modalities.

Per-modality encoders, a fusion layer into one shared code, per-modality decoders. A mask
(B, m) says which modalities an example shows: an absent modality's input is zeroed before its
encoder and its hidden units after it, and the mask itself is an input of the fusion layer, so
the code (and every reconstruction) does not depend on what an absent modality holds. Training
follows the paper's augmentation: a share of the examples shows one modality only, and the
model always reconstructs all of them.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from crossjax.models import networks
from crossjax.models.dcca import views_of



def presence(views: Sequence[jax.Array]) -> jax.Array:
  """(B, m) float: 1 where an example has modality i, 0 where its row is entirely NaN (the
  files dataset's mark of a missing view)."""
  return jnp.stack([~jnp.all(jnp.isnan(view), axis=-1) for view in views],
                   axis=1).astype(jnp.float32)


def augmentation_mask(key: jax.Array, present: jax.Array, single_fraction: float) -> jax.Array:
  """(B, m) float mask within `present` (B, m): each example shows every modality it has, or
  with probability `single_fraction` one of them chosen uniformly."""
  batch_size, modalities = present.shape
  single_key, choice_key = jax.random.split(key)
  single = jax.random.bernoulli(single_key, single_fraction, (batch_size, 1))
  uniform = jax.random.randint(choice_key, (batch_size,), 0, modalities)
  # Examples with every modality draw as before missing views existed (same numbers); the
  # others draw among the modalities they have.
  among_present = jax.random.categorical(choice_key, jnp.log(present), axis=-1)
  chosen = jnp.where(jnp.all(present > 0, axis=1), uniform, among_present)
  return jnp.where(single, jax.nn.one_hot(chosen, modalities), present)


class MultimodalAutoencoder(nn.Module):
  """encoders[i]: modality i -> hidden features; decoders[i]: code -> modality i (logits where
  its loss is not 'squared_error'). losses[i] in `networks.RECONSTRUCTION_LOSSES`, weighted by
  loss_weights[i]."""
  encoders: Sequence[nn.Module]
  decoders: Sequence[nn.Module]
  losses: Sequence[str]
  loss_weights: Sequence[float]
  code_dim: int = 64
  single_modality_fraction: float = 0.5

  def setup(self):
    m = len(self.encoders)
    if m < 2 or not len(self.decoders) == len(self.losses) == len(self.loss_weights) == m:
      raise ValueError(f'need m >= 2 modalities with one encoder, decoder, loss and weight '
                       f'each; got {m}, {len(self.decoders)}, {len(self.losses)}, '
                       f'{len(self.loss_weights)}')
    for name in self.losses:
      networks.reconstruction_loss(name)  # refuses unknown names
    self.fusion = nn.Dense(self.code_dim)

  def encode(self, views: Sequence[jax.Array], mask: jax.Array,
             train: bool = False) -> jax.Array:
    """The shared code (B, code_dim) from the modalities that `mask` ((B, m) or (1, m)) marks
    and that each example has (NaN rows are missing)."""
    mask = jnp.broadcast_to(mask, (views[0].shape[0], len(views))) * presence(views)
    views = [jnp.where(jnp.isnan(view), 0.0, view) for view in views]
    hidden = [nn.relu(encoder(view * mask[:, i, None], train)) * mask[:, i, None]
              for i, (encoder, view) in enumerate(zip(self.encoders, views))]
    return self.fusion(jnp.concatenate(hidden + [mask], axis=-1))

  def decode(self, code: jax.Array, train: bool = False) -> list[jax.Array]:
    """Every modality's reconstruction (means for 'squared_error', else logits)."""
    return [decoder(code, train) for decoder in self.decoders]

  def __call__(self, views: Sequence[jax.Array], mask: jax.Array,
               train: bool = False) -> list[jax.Array]:
    return self.decode(self.encode(views, mask, train), train)

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    views = views_of(batch, len(self.encoders))
    present = presence(views)
    if train:
      mask = augmentation_mask(self.make_rng('augment'), present, self.single_modality_fraction)
    else:
      mask = present
    outputs = self(views, mask, train)
    targets = [jnp.where(jnp.isnan(view), 0.0, view) for view in views]
    complete = jnp.all(present > 0)

    def reconstruction(i, name):
      # A missing modality is not scored; a batch with none missing takes the plain batch mean
      # (bitwise the numbers of runs made before missing views were supported).
      error = networks.reconstruction_loss(name)
      return jnp.where(complete, error(targets[i], outputs[i]),
                       error(targets[i], outputs[i], present[:, i]))

    terms = [reconstruction(i, name) for i, name in enumerate(self.losses)]
    metrics = {f'reconstruction_{i}': term for i, term in enumerate(terms, start=1)}
    return sum(w * term for w, term in zip(self.loss_weights, terms)), metrics


class SplitAutoencoder(nn.Module):
  """SplitAE: one encoder on view 1, a decoder per view from its code (Ngiam et al. 2011's
  autoencoder trained on one modality to reconstruct both; a baseline of Wang et al. 2015).

  loss = sum_i rec_i(X_i, g_i(f(X_1))), rec_i the losses[i] of `networks.RECONSTRUCTION_LOSSES`
  (decoders output logits where it is not 'squared_error'). The features are f(X_1).
  """
  encoder: nn.Module
  decoders: Sequence[nn.Module]
  losses: Sequence[str]

  def encode(self, view: jax.Array, train: bool = False) -> jax.Array:
    return self.encoder(view, train)

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    if len(self.losses) != len(self.decoders):
      raise ValueError(f'{len(self.decoders)} decoders but {len(self.losses)} losses')
    views = views_of(batch, len(self.decoders))
    code = self.encode(views[0], train)
    terms = [networks.reconstruction_loss(name)(view, decoder(code, train))
             for name, view, decoder in zip(self.losses, views, self.decoders)]
    return sum(terms), {f'reconstruction_{i}': term for i, term in enumerate(terms, start=1)}
