"""Contrastive (InfoNCE / CLIP, SigLIP) and redundancy-reduction (Barlow Twins, VICReg)
objectives between two views' codes: the self-supervised losses that cross-modal work
compares with (Deep) CCA.

Pure functions of a batch of codes `z1_BxD`, `z2_BxD` (row b of each view is one pair),
returning a loss to minimise; safe under `jax.jit`, `jax.vmap` and `jax.grad`. Each is a
function of the whole batch: called under `jax.jit` on arrays sharded over devices (as the
train steps do), the negatives of InfoNCE and SigLIP are every sample of the global batch and
the batch statistics of Barlow Twins and VICReg are global, not those of a device's slice
(XLA inserts the collectives; tests/test_contrastive.py checks 4 devices against one).

Relation to CCA. Barlow Twins standardises each code unit over the batch (mean 0, variance 1,
the biased 1/B variance of the paper's BatchNorm, plus eps) and drives the cross-correlation
matrix C = Z1n^T Z2n / B to I: with the off-diagonal weight lambda -> infinity and the units
decorrelated, its diagonal holds the correlations of matched units, as CCA's canonical
correlations with per-unit (diagonal) whitening instead of full whitening. VICReg's
covariance term decorrelates each view's units (the whitening constraint of CCA, as a
penalty) while its invariance term is a squared distance, not a correlation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from crossjax import objectives

Array = jax.Array

# The papers' settings: CLIP's initial temperature 0.07 is learnt there; SimCLR's tuned 0.1;
# SigLIP's initial t' = log 10 and b = -10; Barlow Twins' lambda = 5e-3; VICReg's
# (lambda, mu, nu) = (25, 25, 1), gamma = 1, eps = 1e-4.
INFONCE_TEMPERATURE = 0.1
SIGLIP_SCALE = 10.0
SIGLIP_BIAS = -10.0
BARLOW_TWINS_LAMBDA = 5e-3
BARLOW_TWINS_EPS = 1e-5  # BatchNorm's
VICREG_WEIGHTS = (25.0, 25.0, 1.0)
VICREG_EPS = 1e-4


def _check_pair(z1_BxD: Array, z2_BxE: Array, same_width: bool = True) -> int:
  b = objectives.check_views([z1_BxD, z2_BxE])
  if same_width and z1_BxD.shape[1] != z2_BxE.shape[1]:
    raise ValueError(f'the two views need codes of one width, got {z1_BxD.shape[1]} and '
                     f'{z2_BxE.shape[1]}')
  return b


def _unit_rows(z_BxD: Array) -> Array:
  """Rows scaled to unit L2 norm, z / max(||z||, 1e-12) as torch's F.normalize (a zero row
  stays zero, with a finite gradient)."""
  squared = jnp.sum(z_BxD * z_BxD, axis=1, keepdims=True)
  return z_BxD * jax.lax.rsqrt(jnp.maximum(squared, 1e-24))


def cosine_logits(z1_BxD: Array, z2_BxD: Array) -> Array:
  """(B, B) cosine similarities: entry (i, j) compares sample i of view 1 with j of view 2."""
  return _unit_rows(z1_BxD) @ _unit_rows(z2_BxD).T


def infonce_loss(z1_BxD: Array, z2_BxD: Array,
                 temperature: float | Array = INFONCE_TEMPERATURE) -> Array:
  """Symmetric InfoNCE (van den Oord et al. 2018), as CLIP's loss (Radford et al. 2021).

  With L = cos(z1_i, z2_j) / temperature, the mean over i of the cross-entropies of row i of
  L and of column i of L against the matched pair i, halved:
    loss = -1/(2B) sum_i [log softmax_j(L_ij)|_{j=i} + log softmax_j(L_ji)|_{j=i}].
  Every other sample of the (global) batch is a negative. Minimum 0; log B at chance.
  """
  _check_pair(z1_BxD, z2_BxD)
  logits = cosine_logits(z1_BxD, z2_BxD) / temperature
  rows = jnp.diagonal(jax.nn.log_softmax(logits, axis=1))
  columns = jnp.diagonal(jax.nn.log_softmax(logits, axis=0))
  return -0.5 * (jnp.mean(rows) + jnp.mean(columns))


def siglip_loss(z1_BxD: Array, z2_BxD: Array, scale: float | Array = SIGLIP_SCALE,
                bias: float | Array = SIGLIP_BIAS) -> Array:
  """The sigmoid loss of SigLIP (Zhai et al. 2023): every pair (i, j) a binary task.

  With logits L_ij = scale cos(z1_i, z2_j) + bias and labels y_ij = +1 if i = j else -1,
    loss = -1/B sum_{i, j} log sigmoid(y_ij L_ij)
  (the paper's normalisation: per sample of the batch, summed over its B pairs).
  """
  _check_pair(z1_BxD, z2_BxD)
  b = z1_BxD.shape[0]
  logits = scale * cosine_logits(z1_BxD, z2_BxD) + bias
  labels = 2.0 * jnp.eye(b, dtype=logits.dtype) - 1.0
  return -jnp.sum(jax.nn.log_sigmoid(labels * logits)) / b


def _standardised(z_BxD: Array, eps: float) -> Array:
  """Each column to mean 0 and variance 1 over the batch (biased variance, + eps)."""
  centred = objectives.centre(z_BxD)
  return centred * jax.lax.rsqrt(jnp.mean(centred * centred, axis=0, keepdims=True) + eps)


def barlow_twins_cross_correlation(z1_BxD: Array, z2_BxD: Array,
                                   eps: float = BARLOW_TWINS_EPS) -> Array:
  """C = Z1n^T Z2n / B, (D, D), Zn the batch-standardised codes (`_standardised`)."""
  _check_pair(z1_BxD, z2_BxD)
  return _standardised(z1_BxD, eps).T @ _standardised(z2_BxD, eps) / z1_BxD.shape[0]


def barlow_twins_loss(z1_BxD: Array, z2_BxD: Array,
                      off_diagonal_weight: float | Array = BARLOW_TWINS_LAMBDA,
                      eps: float = BARLOW_TWINS_EPS) -> Array:
  """Barlow Twins (Zbontar et al. 2021): sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2,
  C the cross-correlation of the batch-standardised codes."""
  c = barlow_twins_cross_correlation(z1_BxD, z2_BxD, eps)
  diagonal = jnp.diagonal(c)
  return (jnp.sum((1.0 - diagonal) ** 2)
          + off_diagonal_weight * (jnp.sum(c * c) - jnp.sum(diagonal * diagonal)))


def _vicreg_variance(z_BxD: Array, gamma: float, eps: float) -> Array:
  """v(Z) = 1/D sum_j max(0, gamma - sqrt(Var(z_j) + eps)), Var with 1/(B - 1)."""
  b = z_BxD.shape[0]
  centred = objectives.centre(z_BxD)
  std = jnp.sqrt(jnp.sum(centred * centred, axis=0) / (b - 1) + eps)
  return jnp.mean(jax.nn.relu(gamma - std))


def _vicreg_covariance(z_BxD: Array) -> Array:
  """c(Z) = 1/D sum_{i != j} Cov(Z)_ij^2, Cov with 1/(B - 1)."""
  cov = objectives.cross_covariance(z_BxD, z_BxD)
  return (jnp.sum(cov * cov) - jnp.sum(jnp.diagonal(cov) ** 2)) / z_BxD.shape[1]


def vicreg_terms(z1_BxD: Array, z2_BxD: Array, gamma: float = 1.0,
                 eps: float = VICREG_EPS) -> dict[str, Array]:
  """VICReg's three terms (Bardes, Ponce and LeCun 2022): invariance s = 1/(B D) ||Z1 - Z2||_F^2,
  variance (v(Z1) + v(Z2)) / 2, covariance c(Z1) + c(Z2) (`_vicreg_variance`,
  `_vicreg_covariance`). The variance term is the mean of the views', as in the authors' code
  (facebookresearch/vicreg), where the paper's formula writes their sum."""
  _check_pair(z1_BxD, z2_BxD)
  return {'invariance': jnp.mean((z1_BxD - z2_BxD) ** 2),
          'variance': 0.5 * (_vicreg_variance(z1_BxD, gamma, eps)
                             + _vicreg_variance(z2_BxD, gamma, eps)),
          'covariance': _vicreg_covariance(z1_BxD) + _vicreg_covariance(z2_BxD)}


def vicreg_loss(z1_BxD: Array, z2_BxD: Array,
                weights: tuple[float, float, float] = VICREG_WEIGHTS, gamma: float = 1.0,
                eps: float = VICREG_EPS) -> Array:
  """VICReg: lambda s + mu (v(Z1) + v(Z2)) / 2 + nu (c(Z1) + c(Z2)), (lambda, mu, nu) =
  weights (`vicreg_terms`)."""
  terms = vicreg_terms(z1_BxD, z2_BxD, gamma, eps)
  invariance, variance, covariance = weights
  return (invariance * terms['invariance'] + variance * terms['variance']
          + covariance * terms['covariance'])


# name -> (loss, the names of its options in a config's objective section).
LOSSES = {
    'infonce': (infonce_loss, ('temperature',)),
    'siglip': (siglip_loss, ('scale', 'bias')),
    'barlow_twins': (barlow_twins_loss, ('off_diagonal_weight',)),
    'vicreg': (vicreg_loss, ('weights',)),
}
DEFAULT_OPTIONS = dict(temperature=INFONCE_TEMPERATURE, scale=SIGLIP_SCALE, bias=SIGLIP_BIAS,
                       off_diagonal_weight=BARLOW_TWINS_LAMBDA, weights=VICREG_WEIGHTS)


def loss(name: str, z1_BxD: Array, z2_BxD: Array, options=()) -> Array:
  """The loss `name` of LOSSES with its options: (key, value) pairs, the rest at their
  defaults (DEFAULT_OPTIONS)."""
  function, keys = LOSSES[name]
  given = dict(options)
  return function(z1_BxD, z2_BxD, *[given.get(key, DEFAULT_OPTIONS[key]) for key in keys])
