"""VCCA and VCCA-private (Wang, Yan, Lee and Livescu 2016): model 'vcca', VCCA-private where
config.variational.private_dim > 0. Trained on the negative evidence lower bound
(`models.VariationalCCA`); evaluated as SplitAE is, on the view-1 features (the means of
q(z | x_1)).
"""

from __future__ import annotations

from crossjax.families import shared, split_autoencoder
from crossjax.families.shared import (MISSING_VIEWS, PROGRESS_METRICS, VALIDATION_METRIC,
                                      VALIDATION_MODE, prerequisites)
from crossjax.families.split_autoencoder import (batch_keys, eval_step, evaluate, optimizers,
                                                 summary, train_step)
from crossjax.models import autoencoder
from crossjax.train import steps


def resolve(config, splits) -> None:
  """As SplitAE (output_dim, the shared latent size: 0 takes min(10, view 1's width); one
  reconstruction loss per view), and a non-negative private size and at least one draw."""
  split_autoencoder.resolve(config, splits)
  if config.variational.private_dim < 0:
    raise ValueError('variational.private_dim must be >= 0 (0: VCCA without private '
                     f'latents), got {config.variational.private_dim}')
  if config.variational.samples < 1:
    raise ValueError(f'variational.samples must be >= 1, got {config.variational.samples}')


def build(config, example_batch, key, modules=None):
  """Encoders output means and log variances (twice the latent sizes); decoder i reads z, or
  [z, h_i] for VCCA-private."""
  views = [example_batch[k] for k in shared.view_keys(example_batch)]
  encoders = shared.user_modules(modules, 'encoders', 1)
  private_dim = config.variational.private_dim
  private_encoders = (
      (shared.user_modules(modules, 'private_encoders', len(views))
       or [shared.network(config.private_encoder, 2 * private_dim) for _ in views])
      if private_dim else ())
  model = autoencoder.VariationalCCA(
      encoder=encoders[0] if encoders else shared.network(config.encoder, 2 * config.output_dim),
      decoders=shared.decoders(config, views, config.reconstruction.losses, modules),
      losses=tuple(config.reconstruction.losses), private_encoders=private_encoders,
      samples=config.variational.samples)
  params = shared.initial_params(model, {'params': key}, example_batch)
  return model, {steps.PLAYER: params}
