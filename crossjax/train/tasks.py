"""What the loop needs to know of each model family: how to build it, step it and evaluate it.

A `Task` binds a config's `model` name to its modules, optimizers, pure steps and final
evaluation. The loop (`loop.train_and_evaluate`) is the same for all of them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import jax
import ml_collections
import numpy as np

from crossjax import evaluate, figures
from crossjax.models import autoencoder, dcca, networks
from crossjax.train import steps
from crossjax.train.state import make_optimizer


@dataclasses.dataclass(frozen=True)
class Task:
  """build(config, example_batch, key) -> (model, {player: params});
  optimizers(config, total_steps) -> {player: optax transformation};
  train_step(state, batch) -> (state, metrics); eval_step(state, batch) -> metrics;
  evaluate(state, splits, config, workdir) -> results (every process computes, process 0
  writes figures); batch_keys(split) -> the arrays a batch holds; the validation metric (in
  eval_step's metrics) that picks the best checkpoint, and whether lower is better."""
  build: Callable
  optimizers: Callable
  train_step: Callable
  eval_step: Callable
  evaluate: Callable
  batch_keys: Callable
  validation_metric: str = 'loss'
  validation_mode: str = 'min'


def view_keys(split: dict) -> list[str]:
  """'x1', 'x2', ... in view order."""
  return sorted((key for key in split if key[0] == 'x' and key[1:].isdigit()),
                key=lambda key: int(key[1:]))


def network(section: ml_collections.ConfigDict, features: int):
  """An encoder/decoder from a config section {kind, ...network fields}."""
  fields = {key: value for key, value in section.items() if key != 'kind'}
  return networks.build(section.kind, features, **fields)


def build_dcca(config, example_batch, key):
  views = [example_batch[k] for k in view_keys(example_batch)]
  encoders = [network(config.encoder, config.output_dim) for _ in views]
  common = dict(encoders=encoders, objective=config.objective.name, k=config.objective.k,
                ridge=config.objective.ridge)
  if config.model == 'dccae':
    model = dcca.DCCAE(decoders=[network(config.decoder, view.shape[1]) for view in views],
                       reconstruction_weight=config.reconstruction.weight,
                       reconstruction_loss=config.reconstruction.loss, **common)
  else:
    model = dcca.DCCA(**common)
  params = model.init({'params': key}, example_batch, False, method='loss')['params']
  return model, {steps.PLAYER: params}


def one_optimizer(config, total_steps):
  return {steps.PLAYER: make_optimizer(config.optimizer, total_steps)}


def chunked(apply, arrays: list[np.ndarray], batch_size: int):
  """apply(chunk) over whole arrays in fixed-size row chunks (the last one padded), so a jitted
  `apply` compiles once; returns its outputs (any pytree) concatenated over the rows."""
  n = len(arrays[0])
  batch_size = min(batch_size, n)
  outputs = []
  for start in range(0, n, batch_size):
    chunk = [a[start:start + batch_size] for a in arrays]
    size = len(chunk[0])
    chunk = [np.pad(c, ((0, batch_size - size), (0, 0))) for c in chunk]
    outputs.append(jax.tree.map(lambda x, size=size: np.asarray(x)[:size], apply(chunk)))
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)


def encode(state, views: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
  """Deep CCA codes of whole splits."""
  apply = jax.jit(lambda params, chunk: state.model.apply({'params': params}, chunk, False,
                                                          method='encode'))
  return chunked(lambda chunk: apply(state.params[steps.PLAYER], chunk), views, batch_size)


def evaluate_dcca(state, splits, config, workdir) -> dict:
  """Post-hoc linear CCA on training codes: top-k total correlation on tune and test; with
  config.evaluation.svm, a linear SVM's error on view-1 codes; with linear_baseline, linear
  CCA on the raw views for comparison. Writes spectrum.png (process 0)."""
  k = config.evaluation.k
  codes = {name: encode(state, [split[key] for key in view_keys(split)],
                        config.evaluation.batch_size)
           for name, split in splits.items()}
  deep = evaluate.post_hoc_correlations(codes['train'], k, tune=codes['tune'],
                                        test=codes['test'])
  results = {'correlations': deep,
             'total_correlation': {name: float(np.sum(v)) for name, v in deep.items()}}
  curves = {'deep, test': deep['test']}
  if config.evaluation.linear_baseline:
    raw = {name: [split[key] for key in view_keys(split)] for name, split in splits.items()}
    baseline = evaluate.post_hoc_correlations(raw['train'], k, tune=raw['tune'],
                                              test=raw['test'])
    results['linear_cca'] = {'correlations': baseline, 'total_correlation': {
        name: float(np.sum(v)) for name, v in baseline.items()}}
    curves['linear, test'] = baseline['test']
  if config.evaluation.svm:
    results['svm_view1'] = evaluate.linear_svm_error(
        *[(codes[name][0], splits[name]['labels']) for name in ('train', 'tune', 'test')])
  if jax.process_index() == 0:
    figures.correlation_spectrum(curves, os.path.join(workdir, 'spectrum.png'),
                                 title=f'{config.model.upper()} on {config.data.name}')
  return results


def build_autoencoder(config, example_batch, key):
  views = [example_batch[k] for k in view_keys(example_batch)]
  m = len(views)
  losses = tuple(config.reconstruction.losses) or ('squared_error',) * m
  weights = tuple(config.reconstruction.weights) or (1.0,) * m
  model = autoencoder.MultimodalAutoencoder(
      encoders=[network(config.encoder, config.hidden_dim) for _ in views],
      decoders=[network(config.decoder, view.shape[1]) for view in views],
      losses=losses, loss_weights=weights, code_dim=config.code_dim,
      single_modality_fraction=config.single_modality_fraction)
  params = model.init({'params': key}, example_batch, False, method='loss')['params']
  return model, {steps.PLAYER: params}


def shared_codes(state, views: list[np.ndarray], mask_row: np.ndarray,
                 batch_size: int) -> np.ndarray:
  """The autoencoder's shared code of whole splits with the modalities `mask_row` marks."""
  apply = jax.jit(lambda params, chunk, mask: state.model.apply(
      {'params': params}, chunk, mask, False, method='encode'))
  mask = np.broadcast_to(mask_row.astype(np.float32),
                         (min(batch_size, len(views[0])), len(views)))
  return chunked(lambda chunk: apply(state.params[steps.PLAYER], chunk, mask), views,
                 batch_size)


def evaluate_autoencoder(state, splits, config, workdir) -> dict:
  """Linear classifier accuracy (%) on the shared code from all modalities and from each one
  alone (the others missing), against the same classifier on each raw modality; the
  classifiers train on at most config.evaluation.max_train_examples. For image halves
  (config.evaluation.halves_figure), halves.png shows right halves completed from left ones."""
  keys = view_keys(splits['train'])
  limit = config.evaluation.get('max_train_examples', 0) or None
  views = {name: [split[key][:limit if name == 'train' else None] for key in keys]
           for name, split in splits.items()}
  labels = {name: split['labels'][:limit if name == 'train' else None]
            for name, split in splits.items()}
  conditions = {'all': np.ones(len(keys))}
  conditions.update({f'only_{key}': np.eye(len(keys))[i] for i, key in enumerate(keys)})
  results = {'code_accuracy': {}, 'raw_accuracy': {}}
  for name, mask in conditions.items():
    codes = {split: shared_codes(state, views[split], mask, config.evaluation.batch_size)
             for split in ('train', 'test')}
    results['code_accuracy'][name] = evaluate.linear_classifier_accuracy(
        (codes['train'], labels['train']), (codes['test'], labels['test']))
  for i, key in enumerate(keys):
    results['raw_accuracy'][key] = evaluate.linear_classifier_accuracy(
        (views['train'][i], labels['train']), (views['test'][i], labels['test']))
  if config.evaluation.get('halves_figure', False) and jax.process_index() == 0:
    left, right = (v[:12] for v in views['test'][:2])
    code = shared_codes(state, [left, right], np.array([1.0, 0.0]), len(left))
    logits = state.model.apply({'params': state.params[steps.PLAYER]}, code, method='decode')[1]
    figures.completed_halves(left, right, np.asarray(jax.nn.sigmoid(logits)),
                             os.path.join(workdir, 'halves.png'))
  return results


DCCA_TASK = Task(build=build_dcca, optimizers=one_optimizer, train_step=steps.train_step,
                 eval_step=steps.eval_step, evaluate=evaluate_dcca, batch_keys=view_keys)

TASKS: dict[str, Task] = {
    'dcca': DCCA_TASK, 'dccae': DCCA_TASK,
    'mae': Task(build=build_autoencoder, optimizers=one_optimizer, train_step=steps.train_step,
                eval_step=steps.eval_step, evaluate=evaluate_autoencoder, batch_keys=view_keys),
}


def get(name: str) -> Task:
  if name not in TASKS:
    raise ValueError(f'unknown model {name!r}; known: {sorted(TASKS)} and linear_cca')
  return TASKS[name]
