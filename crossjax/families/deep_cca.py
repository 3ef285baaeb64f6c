"""Deep CCA (Andrew et al. 2013) and DCCAE (Wang et al. 2015): models 'dcca' and 'dccae'.

Evaluated as Andrew et al. do: a linear CCA fitted on the training codes, its top-k total
correlation on the tune and test splits; then the protocols of `config.evaluation.protocols`
(`crossjax.evaluators`) on view-1 codes where the data has labels.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from crossjax import evaluate as metrics
from crossjax import contrastive, evaluators, figures, linear
from crossjax.families import shared
from crossjax.families.shared import (MISSING_VIEWS, PROGRESS_METRICS, VALIDATION_METRIC,
                                      VALIDATION_MODE, prerequisites)
from crossjax.models import dcca, networks
from crossjax.train import steps

batch_keys = shared.view_keys
optimizers = shared.one_optimizer
train_step = steps.train_step
eval_step = steps.eval_step


def resolve(config, splits) -> None:
  """Fills in the sizes a config leaves to the data: output_dim 0 takes min(10, the narrowest
  view), evaluation.k 0 the code size; the post-hoc CCA's k is at most the code size and the
  training rows - 1 (explicit settings beyond that are refused)."""
  train = splits['train']
  widths = [train[key].shape[1] for key in shared.view_keys(train)]
  num_examples = len(train[shared.view_keys(train)[0]])
  if config.output_dim < 0:
    raise ValueError(f'output_dim must be positive (0 picks one), got {config.output_dim}')
  config.output_dim = config.output_dim or min(shared.DEFAULT_CODE_SIZE, min(widths))
  limit = min(config.output_dim, num_examples - 1)
  if config.evaluation.k > limit:
    raise ValueError(f'evaluation.k = {config.evaluation.k} components, but codes of '
                     f'{config.output_dim} dimensions on {num_examples} training rows allow '
                     f'at most {limit}')
  config.evaluation.k = config.evaluation.k or limit
  if config.objective.k > config.output_dim:
    raise ValueError(f'objective.k = {config.objective.k} exceeds output_dim = '
                     f'{config.output_dim}')
  name = config.objective.name
  if name not in dcca.CORRELATION_OBJECTIVES:
    raise ValueError(f'unknown objective.name {name!r}; known: {dcca.CORRELATION_OBJECTIVES}')
  if name in (*contrastive.LOSSES, 'dcca_newton_schulz') and len(widths) != 2:
    raise ValueError(f'objective {name!r} takes two views, the data has {len(widths)}')
  evaluators.check(config.evaluation.protocols)
  features = config.evaluation.get('features', 'codes')
  if features not in ('codes', 'canonical'):
    raise ValueError(f"evaluation.features must be 'codes' or 'canonical', got {features!r}")
  if config.model == 'dccae':
    networks.reconstruction_loss(config.reconstruction.loss)  # refuses unknown names
    rows = config.reconstruction.get('batch_size', 0)
    if rows < 0 or (rows and config.batch_size % rows):
      raise ValueError(f'reconstruction.batch_size = {rows} must divide batch_size = '
                       f'{config.batch_size} (0: the whole batch)')


def build(config, example_batch, key, modules=None):
  views = [example_batch[k] for k in shared.view_keys(example_batch)]
  encoders = (shared.user_modules(modules, 'encoders', len(views))
              or [shared.network(config.encoder, config.output_dim) for _ in views])
  options = tuple((key, config.objective[key]) for key in contrastive.DEFAULT_OPTIONS
                  if key in config.objective)
  common = dict(encoders=encoders, objective=config.objective.name, k=config.objective.k,
                ridge=config.objective.ridge, options=options)
  if config.model == 'dccae':
    decoders = shared.decoders(config, views, [config.reconstruction.loss] * len(views), modules)
    model = dcca.DCCAE(decoders=decoders, reconstruction_weight=config.reconstruction.weight,
                       reconstruction_loss=config.reconstruction.loss,
                       reconstruction_batch=config.reconstruction.get('batch_size', 0), **common)
  else:
    model = dcca.DCCA(**common)
  params = shared.initial_params(model, {'params': key}, example_batch)
  return model, {steps.PLAYER: params}


def encoder(state):
  """views -> codes over whole splits: one jitted encoder pass per chunk (compiled once)."""
  apply = jax.jit(lambda params, chunk: state.model.apply({'params': params}, chunk, False,
                                                          method='encode'))
  return lambda views, batch_size: metrics.chunked(
      lambda chunk: apply(state.params[steps.PLAYER], chunk), views, batch_size)


def evaluate(state, splits, config, workdir) -> dict:
  """Post-hoc CCA total correlation (top evaluation.k) on tune and test and the protocols of
  evaluation.protocols on view-1 codes. With linear_baseline, the same for linear CCA on the
  raw views (its features: the canonical variates of view 1). Writes spectrum.png and, with
  evaluation.embedding_examples > 0, embedding.png: a t-SNE map of view-1 test codes."""
  evaluation = config.evaluation
  k = evaluation.k
  labels = ({name: split['labels'] for name, split in splits.items()}
            if 'labels' in splits['train'] else None)
  raw = {name: [split[key] for key in shared.view_keys(split)] for name, split in splits.items()}
  encode = encoder(state)
  codes = {name: encode(views, evaluation.batch_size) for name, views in raw.items()}
  results = shared.correlation_scores(codes, labels, k, evaluation, config.seed)
  curves = {'deep, test': results['correlations'].get('test', [])}
  if evaluation.linear_baseline:
    raw = {name: [np.asarray(v) for v in views] for name, views in raw.items()}
    params = metrics.post_hoc_cca(raw['train'], k)
    view1 = {name: np.asarray(linear.transform(params, *views)[0]) for name, views in raw.items()}
    results['linear_cca'] = shared.correlation_scores(raw, labels, k, evaluation, config.seed,
                                                      view1, params)
    curves['linear, test'] = results['linear_cca']['correlations'].get('test', [])
  if jax.process_index() == 0:
    figures.correlation_spectrum(curves, os.path.join(workdir, 'spectrum.png'),
                                 title=f'{config.model.upper()} on {config.data.name}')
    shown = evaluation.get('embedding_examples', 0)
    if shown and labels is not None:
      figures.embedding(codes['test'][0][:shown], labels['test'][:shown],
                        os.path.join(workdir, 'embedding.png'),
                        title=f'{config.model.upper()} view-1 test codes (t-SNE, {shown})')
  return results


def summary(results: dict) -> list[str]:
  lines = []
  for name, value in results.get('total_correlation', {}).items():
    lines.append(f'  total correlation ({name}, top {len(results["correlations"][name])}): '
                 f'{value:.3f}')
  for name, value in results.get('linear_cca', {}).get('total_correlation', {}).items():
    lines.append(f'  linear CCA on the raw views ({name}): {value:.3f}')
  lines += evaluators.summary(results)
  lines += evaluators.summary(results.get('linear_cca', {}), 'linear CCA: ')
  return lines
