"""SplitAE (one encoder on view 1, a decoder per view; the baseline of Wang et al. 2015):
model 'splitae'.

Evaluated on the view-1 codes by the protocols of `config.evaluation.protocols`
(`crossjax.evaluators`: SVM error, spectral clustering), where the data has labels.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from crossjax import evaluate as metrics
from crossjax import evaluators, figures
from crossjax.families import shared
from crossjax.families.shared import (MISSING_VIEWS, PROGRESS_METRICS, VALIDATION_METRIC,
                                      VALIDATION_MODE, prerequisites)
from crossjax.models import autoencoder, networks
from crossjax.train import steps

batch_keys = shared.view_keys
optimizers = shared.one_optimizer
train_step = steps.train_step
eval_step = steps.eval_step


def resolve(config, splits) -> None:
  """output_dim 0 takes min(10, view 1's width); one reconstruction loss per view (empty:
  squared error for every view); protocols that need a second view's features are refused."""
  train = splits['train']
  keys = shared.view_keys(train)
  if config.output_dim < 0:
    raise ValueError(f'output_dim must be positive (0 picks one), got {config.output_dim}')
  config.output_dim = config.output_dim or min(shared.DEFAULT_CODE_SIZE, train[keys[0]].shape[1])
  losses = tuple(config.reconstruction.losses) or ('squared_error',) * len(keys)
  if len(losses) != len(keys):
    raise ValueError(f'reconstruction.losses names {len(losses)} losses for {len(keys)} views')
  for name in losses:
    networks.reconstruction_loss(name)  # refuses unknown names
  config.reconstruction.losses = losses
  evaluators.check(config.evaluation.protocols)
  if 'retrieval' in evaluators.names(config.evaluation.protocols):
    raise ValueError(f'{config.model} codes view 1 only: retrieval between views needs codes of '
                     'both')


def build(config, example_batch, key, modules=None):
  views = [example_batch[k] for k in shared.view_keys(example_batch)]
  encoders = shared.user_modules(modules, 'encoders', 1)
  model = autoencoder.SplitAutoencoder(
      encoder=encoders[0] if encoders else shared.network(config.encoder, config.output_dim),
      decoders=shared.decoders(config, views, config.reconstruction.losses, modules),
      losses=tuple(config.reconstruction.losses))
  params = shared.initial_params(model, {'params': key}, example_batch)
  return model, {steps.PLAYER: params}


def encoder(state):
  """(view 1, batch_size) -> view-1 codes (`model.encode`) of whole splits, compiled once."""
  apply = jax.jit(lambda params, chunk: state.model.apply({'params': params}, chunk[0], False,
                                                          method='encode'))
  return lambda view, batch_size: metrics.chunked(
      lambda chunk: apply(state.params[steps.PLAYER], chunk), [view], batch_size)


def evaluate(state, splits, config, workdir) -> dict:
  """The protocols of evaluation.protocols on view-1 codes (`model.encode`); with
  evaluation.embedding_examples > 0, embedding.png: a t-SNE map of view-1 test codes."""
  if 'labels' not in splits['train']:
    return {}
  encode = encoder(state)
  first = shared.view_keys(splits['train'])[0]
  codes = {name: encode(split[first], config.evaluation.batch_size)
           for name, split in splits.items()}
  labels = {name: split['labels'] for name, split in splits.items()}
  results = evaluators.run(config.evaluation.protocols, codes, labels, None, config.seed)
  shown = config.evaluation.get('embedding_examples', 0)
  if shown and jax.process_index() == 0:
    figures.embedding(codes['test'][:shown], np.asarray(labels['test'][:shown]),
                      os.path.join(workdir, 'embedding.png'),
                      title=f'{config.model} view-1 test codes (t-SNE, {shown})')
  return results


def summary(results: dict) -> list[str]:
  return evaluators.summary(results)
