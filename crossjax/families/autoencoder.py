"""Multimodal autoencoder (Ngiam et al. 2011) for m modalities: model 'mae'.

Samples missing a view (an entirely NaN row in that view) train and encode with that modality
masked. Evaluated by a linear classifier on the shared code from all modalities and from each
one alone, against the same classifier on each raw modality (labelled data only).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from crossjax import evaluate as metrics
from crossjax import figures
from crossjax.families import shared
from crossjax.families.shared import (PROGRESS_METRICS, VALIDATION_METRIC, VALIDATION_MODE,
                                      prerequisites)
from crossjax.models import autoencoder
from crossjax.train import steps

MISSING_VIEWS = 'allow'
batch_keys = shared.view_keys
optimizers = shared.one_optimizer
train_step = steps.train_step
eval_step = steps.eval_step


def build(config, example_batch, key, modules=None):
  views = [example_batch[k] for k in shared.view_keys(example_batch)]
  m = len(views)
  losses = tuple(config.reconstruction.losses) or ('squared_error',) * m
  weights = tuple(config.reconstruction.weights) or (1.0,) * m
  model = autoencoder.MultimodalAutoencoder(
      encoders=(shared.user_modules(modules, 'encoders', m)
                or [shared.network(config.encoder, config.hidden_dim) for _ in views]),
      decoders=shared.decoders(config, views, losses, modules),
      losses=losses, loss_weights=weights, code_dim=config.code_dim,
      single_modality_fraction=config.single_modality_fraction)
  params = shared.initial_params(model, {'params': key}, example_batch)
  return model, {steps.PLAYER: params}


def encoder(state):
  """(views, mask_row, batch_size) -> shared codes of whole splits, from the modalities that
  mask_row marks and that each sample has (missing rows are masked); compiled once."""
  apply = jax.jit(lambda params, chunk, mask: state.model.apply(
      {'params': params}, chunk, mask, False, method='encode'))

  def encode(views, mask_row, batch_size):
    mask = np.asarray(mask_row, np.float32)[None, :]
    return metrics.chunked(lambda chunk: apply(state.params[steps.PLAYER], chunk, mask),
                           views, batch_size)
  return encode


def decoder(state):
  apply = jax.jit(lambda params, code: state.model.apply({'params': params}, code,
                                                         method='decode'))
  return lambda code: [np.asarray(x) for x in apply(state.params[steps.PLAYER], code)]


def evaluate(state, splits, config, workdir) -> dict:
  """Linear classifier accuracy (%) on the shared code from all modalities and from each one
  alone (the others missing), against the same classifier on each raw modality; the
  classifiers train on at most config.evaluation.max_train_examples. For image halves
  (config.evaluation.halves_figure), halves.png shows right halves completed from left ones;
  config.evaluation.reconstruction_figure (view, height, title) draws reconstructions.png: that
  view of one test example per class, reconstructed from all modalities and from each alone."""
  if 'labels' not in splits['train']:
    return {}
  keys = shared.view_keys(splits['train'])
  limit = config.evaluation.get('max_train_examples', 0) or None
  views = {name: [np.asarray(split[key][:limit if name == 'train' else None]) for key in keys]
           for name, split in splits.items()}
  labels = {name: split['labels'][:limit if name == 'train' else None]
            for name, split in splits.items()}
  conditions = {'all': np.ones(len(keys))}
  conditions.update({f'only_{key}': np.eye(len(keys))[i] for i, key in enumerate(keys)})
  encode, decode = encoder(state), decoder(state)
  size = config.evaluation.batch_size
  results = {'code_accuracy': {}, 'raw_accuracy': {}}
  for name, mask in conditions.items():
    codes = {split: encode(views[split], mask, size) for split in ('train', 'test')}
    results['code_accuracy'][name] = metrics.linear_classifier_accuracy(
        (codes['train'], labels['train']), (codes['test'], labels['test']))
  for i, key in enumerate(keys):
    present = {split: ~np.all(np.isnan(views[split][i]), axis=1) for split in ('train', 'test')}
    results['raw_accuracy'][key] = metrics.linear_classifier_accuracy(
        *[(views[split][i][present[split]], labels[split][present[split]])
          for split in ('train', 'test')])
  figure = config.evaluation.get('reconstruction_figure', None)
  if figure and jax.process_index() == 0:
    test = views['test']
    examples = np.array([np.flatnonzero(labels['test'] == label)[0]
                         for label in np.unique(labels['test'])])
    index = keys.index(figure.view)
    rows = {'truth': test[index][examples]}
    for name, mask in conditions.items():
      means = decode(encode([v[examples] for v in test], mask, len(examples)))[index]
      rows[name] = means[:, :test[index].shape[1]]  # a 'gaussian' decoder's variances follow
    figures.image_rows(rows, figure.height, os.path.join(workdir, 'reconstructions.png'),
                       title=f'{figure.title}: reconstructed from all views and from each alone')
  if config.evaluation.get('halves_figure', False) and jax.process_index() == 0:
    left, right = (v[:12] for v in views['test'][:2])
    logits = decode(encode([left, right], np.array([1.0, 0.0]), len(left)))[1][:, :right.shape[1]]
    figures.completed_halves(left, right, np.asarray(jax.nn.sigmoid(logits)),
                             os.path.join(workdir, 'halves.png'))
  return results


def summary(results: dict) -> list[str]:
  return ([f'  linear classifier on the shared code ({name}): {accuracy:.2f} %'
           for name, accuracy in results.get('code_accuracy', {}).items()]
          + [f'  linear classifier on the raw view {name}: {accuracy:.2f} %'
             for name, accuracy in results.get('raw_accuracy', {}).items()])
