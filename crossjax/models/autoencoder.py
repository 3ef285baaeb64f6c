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

  def decode(self, code: jax.Array, train: bool = False) -> list[jax.Array]:
    return [decoder(code, train) for decoder in self.decoders]

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    if len(self.losses) != len(self.decoders):
      raise ValueError(f'{len(self.decoders)} decoders but {len(self.losses)} losses')
    views = views_of(batch, len(self.decoders))
    code = self.encode(views[0], train)
    terms = [networks.reconstruction_loss(name)(view, decoder(code, train))
             for name, view, decoder in zip(self.losses, views, self.decoders)]
    return sum(terms), {f'reconstruction_{i}': term for i, term in enumerate(terms, start=1)}


def gaussian_kl(mean: jax.Array, log_variance: jax.Array) -> jax.Array:
  """KL(N(mean, diag exp(log_variance)) || N(0, I)) per example (last axis summed):
  0.5 sum_j (mean_j^2 + exp(log_variance_j) - 1 - log_variance_j)."""
  return 0.5 * jnp.sum(mean ** 2 + jnp.exp(log_variance) - 1.0 - log_variance, axis=-1)


def _mean_and_log_variance(output: jax.Array) -> tuple[jax.Array, jax.Array]:
  """An encoder's 2d outputs: the first d are means, the last d log variances."""
  return jnp.split(output, 2, axis=-1)


class VariationalCCA(nn.Module):
  """VCCA and VCCA-private (Wang, Yan, Lee and Livescu 2016, "Deep Variational Canonical
  Correlation Analysis").

  A shared latent z ~ N(0, I) generates every view; its posterior is approximated from the view
  there at test time, q(z | x_1) = N(mu(x_1), diag sigma^2(x_1)). VCCA-private (private
  encoders given) adds a private latent h_i ~ N(0, I) per view, q(h_i | x_i) from view i, and
  decoder i reads [z, h_i]. The loss is the negative evidence lower bound per example, averaged
  over the batch:

    KL(q(z|x_1) || p(z)) + sum_i KL(q(h_i|x_i) || p(h_i))
      + (1/L) sum_l sum_i rec_i(x_i, g_i([z_l, h_il])),   z_l = mu + sigma * eps_l

  (L = `samples` reparameterised draws), rec_i the negative log-likelihood of
  `networks.RECONSTRUCTION_LOSSES[losses[i]]` ('bernoulli' exactly; 'squared_error' that of a
  Gaussian of variance 1/2 up to a constant). Encoders output twice the latent size: means,
  then log variances. Without `train` the means are decoded (no sampling). The features are
  the means of q(z | x_1).
  """
  encoder: nn.Module
  decoders: Sequence[nn.Module]
  losses: Sequence[str]
  private_encoders: Sequence[nn.Module] = ()
  samples: int = 1

  def encode(self, view: jax.Array, train: bool = False) -> jax.Array:
    return _mean_and_log_variance(self.encoder(view, train))[0]

  def decode(self, latents: jax.Array, train: bool = False) -> list[jax.Array]:
    """Every decoder on the same latents: z, or [z, h] for VCCA-private."""
    return [decoder(latents, train) for decoder in self.decoders]

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    if len(self.losses) != len(self.decoders):
      raise ValueError(f'{len(self.decoders)} decoders but {len(self.losses)} losses')
    if self.private_encoders and len(self.private_encoders) != len(self.decoders):
      raise ValueError(f'{len(self.private_encoders)} private encoders for '
                       f'{len(self.decoders)} views')
    views = views_of(batch, len(self.decoders))
    draws = self.samples if train else 1

    def latent(output):
      """(KL per example, (draws * B, d) latents: the draws stacked, or the means)."""
      mean, log_variance = _mean_and_log_variance(output)
      if not train:
        return gaussian_kl(mean, log_variance), mean
      noise = jax.random.normal(self.make_rng('noise'), (draws,) + mean.shape, mean.dtype)
      drawn = mean + jnp.exp(0.5 * log_variance) * noise
      return gaussian_kl(mean, log_variance), drawn.reshape((-1, mean.shape[-1]))

    kl_shared, shared = latent(self.encoder(views[0], train))
    metrics = {'kl_shared': jnp.mean(kl_shared)}
    inputs = [shared] * len(views)
    if self.private_encoders:
      kl_private = []
      for i, (encoder, view) in enumerate(zip(self.private_encoders, views)):
        kl, private = latent(encoder(view, train))
        kl_private.append(kl)
        inputs[i] = jnp.concatenate([shared, private], axis=-1)
      metrics['kl_private'] = jnp.mean(sum(kl_private))
    terms = [networks.reconstruction_loss(name)(jnp.tile(view, (draws, 1)), decoder(x, train))
             for name, view, decoder, x in zip(self.losses, views, self.decoders, inputs)]
    metrics.update({f'reconstruction_{i}': term for i, term in enumerate(terms, start=1)})
    return sum(terms) + metrics['kl_shared'] + metrics.get('kl_private', 0.0), metrics
