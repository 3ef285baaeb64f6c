"""Deep CCA (Andrew et al. 2013) and DCCAE (Wang et al. 2015) as Flax modules.

A batch is a dict with views 'x1', 'x2', ... (B, D_i). `loss(batch, train)` returns the scalar
to minimise and a dict of metrics; the train step differentiates it.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from crossjax import contrastive, objectives
from crossjax.models import networks

CORRELATION_OBJECTIVES = ('dcca', 'dcca_newton_schulz', 'ey', 'ey_unbiased', 'tcca',
                          *contrastive.LOSSES)


def views_of(batch: dict, m: int) -> list:
  return [batch[f'x{i}'] for i in range(1, m + 1)]


def correlation_objective(codes: Sequence[jax.Array], name: str, k: int | None,
                          ridge: float, options=()) -> tuple[jax.Array, dict]:
  """The correlation objective to maximise on a batch of codes, and its metrics.

  'dcca': Andrew et al.'s sum of the top-k canonical correlations (for m > 2 views, the sum of the
  top-k MCCA eigenvalues); 'dcca_newton_schulz': the same for two views and all correlations (k = 0)
  by matmuls only, for accelerators (`dcca_objective_newton_schulz`); 'ey': CCA-EY on the batch;
  'ey_unbiased': CCA-EY from the two halves of the batch, an unbiased estimate at any batch size
  (Chapman et al. 2023); 'tcca': deep tensor CCA's ||M||_F^2 of the whitened covariance tensor of
  all views (`tensor_cca_objective`); 'infonce', 'siglip', 'barlow_twins', 'vicreg': minus that loss
  of `crossjax.contrastive` (two views), with `options` ((key, value) pairs: temperature, scale,
  bias, off_diagonal_weight, weights). Metrics: the objective and 'batch_correlation', the sum of
  the top-k canonical correlations averaged over pairs of views (ridge-regularised, not
  differentiated); for 'dcca_newton_schulz', 'newton_schulz_residual', the larger whitening residual
  ||X S X - I||_F (not converged above `objectives.NEWTON_SCHULZ_TOLERANCE`).
  """
  extra = {}
  if name == 'dcca':
    if len(codes) == 2:
      value = objectives.dcca_objective(codes[0], codes[1], k, ridge, ridge)
    else:
      value = objectives.mcca_objective(codes, k, ridge)
  elif name == 'dcca_newton_schulz':
    if len(codes) != 2:
      raise ValueError(f"objective 'dcca_newton_schulz' takes two views, got {len(codes)}; "
                       "use 'dcca' (multi-view CCA) for more")
    value, extra['newton_schulz_residual'] = objectives.dcca_objective_newton_schulz(
        codes[0], codes[1], k, ridge, ridge, return_residual=True)
  elif name == 'ey':
    value = objectives.cca_ey_objective(codes)
  elif name == 'ey_unbiased':
    half = codes[0].shape[0] // 2
    value = objectives.cca_ey_objective_unbiased([c[:half] for c in codes],
                                                 [c[half:2 * half] for c in codes])
  elif name == 'tcca':
    value = objectives.tensor_cca_objective(codes, ridge)
  elif name in contrastive.LOSSES:
    if len(codes) != 2:
      raise ValueError(f'objective {name!r} takes two views, got {len(codes)}')
    value = -contrastive.loss(name, codes[0], codes[1], options)
  else:
    raise ValueError(f'unknown objective {name!r}; known: {CORRELATION_OBJECTIVES}')
  if name in ('dcca', 'dcca_newton_schulz') and len(codes) == 2:
    correlation = value  # no second SVD (none at all for 'dcca_newton_schulz')
  else:
    frozen = [jax.lax.stop_gradient(c) for c in codes]
    pairs = [(i, j) for i in range(len(codes)) for j in range(i + 1, len(codes))]
    correlation = sum(
        jnp.sum(objectives.canonical_correlations(frozen[i], frozen[j], k, ridge, ridge))
        for i, j in pairs) / len(pairs)
  return value, {'objective': value, 'batch_correlation': jax.lax.stop_gradient(correlation),
                 **extra}


class DCCA(nn.Module):
  """Deep CCA: one encoder per view, trained to maximise a correlation objective.

  Andrew et al. (2013): maximise corr(f1(X1), f2(X2)), the sum of the top-k canonical
  correlations of the codes (objective='dcca_newton_schulz': all of them, by matmuls only);
  with objective='ey' or 'ey_unbiased', the CCA-EY objective of Chapman et al. (2023)
  instead; or a contrastive / redundancy-reduction loss (`crossjax.contrastive`, options its
  settings as (key, value) pairs). k = 0 uses all components. loss = -objective.
  """
  encoders: Sequence[nn.Module]
  objective: str = 'dcca'
  k: int = 0
  ridge: float = 1e-3
  options: tuple = ()

  def encode(self, views: Sequence[jax.Array], train: bool = False) -> list[jax.Array]:
    """Codes in float32 whatever the encoders compute in: the objective's Cholesky and SVD
    (or Newton-Schulz iterations) need it."""
    if len(views) != len(self.encoders):
      raise ValueError(f'{len(self.encoders)} encoders for {len(views)} views')
    return [encoder(view, train).astype(jnp.float32)
            for encoder, view in zip(self.encoders, views)]

  def __call__(self, views: Sequence[jax.Array], train: bool = False) -> list[jax.Array]:
    return self.encode(views, train)

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    codes = self.encode(views_of(batch, len(self.encoders)), train)
    value, metrics = correlation_objective(codes, self.objective, self.k or None, self.ridge,
                                           self.options)
    return -value, metrics


class DCCAE(DCCA):
  """Deep canonically correlated autoencoders (Wang et al. 2015).

  loss = -objective(f_1(X_1), ..., f_m(X_m)) + lambda * sum_i rec(X_i, g_i(f_i(X_i))), with
  rec a loss of `networks.RECONSTRUCTION_LOSSES`: the per-example squared error or, for pixels
  in [0, 1], Bernoulli cross-entropy or the squared error of sigmoid outputs (decoders then
  output logits). With reconstruction_batch = b > 0 (dividing the batch size B) the
  reconstruction term takes every (B / b)-th row of the batch only (rows spread over its data
  shards) in training, as the authors' code estimates it on 100 rows beside a correlation
  batch of 800 (`DCCAE_train.m`); evaluation takes every row.
  """
  decoders: Sequence[nn.Module] = ()
  reconstruction_weight: float = 1e-3
  reconstruction_loss: str = 'squared_error'
  reconstruction_batch: int = 0

  def decode(self, codes: Sequence[jax.Array], train: bool = False) -> list[jax.Array]:
    return [decoder(code, train) for decoder, code in zip(self.decoders, codes)]

  def loss(self, batch: dict, train: bool = True) -> tuple[jax.Array, dict]:
    if len(self.decoders) != len(self.encoders):
      raise ValueError(f'{len(self.encoders)} encoders but {len(self.decoders)} decoders')
    views = views_of(batch, len(self.encoders))
    codes = self.encode(views, train)
    value, metrics = correlation_objective(codes, self.objective, self.k or None, self.ridge,
                                           self.options)
    error = networks.reconstruction_loss(self.reconstruction_loss)
    batch_size = views[0].shape[0]
    if train and self.reconstruction_batch and batch_size % self.reconstruction_batch:
      raise ValueError(f'reconstruction batch {self.reconstruction_batch} does not divide the '
                       f'batch of {batch_size}')
    rows = slice(None, None, batch_size // (self.reconstruction_batch or batch_size)
                 if train else 1)
    outputs = self.decode([code[rows] for code in codes], train)
    reconstruction = sum(error(view[rows], output) for view, output in zip(views, outputs))
    metrics['reconstruction'] = reconstruction
    return -value + self.reconstruction_weight * reconstruction, metrics
