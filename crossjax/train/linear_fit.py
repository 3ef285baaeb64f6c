"""Fit and evaluate a closed-form linear CCA from a config: the linear rows of the papers."""

from __future__ import annotations

import os
import time

import jax
import ml_collections
import numpy as np

from crossjax import data, figures, linear
from crossjax.train import writer


def fit_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits linear CCA on the train split; writes results.json and spectrum.png to workdir.

  Returns the metrics: per-split canonical correlations of the fitted projections and their
  totals (the sum over the k components, Andrew et al. 2013's 'total correlation').
  """
  writer.write_config(config, workdir)
  splits = data.load_dataset(config.data.name, config.data.path or None, config.data.seed)
  train = splits['train']
  if config.data.max_train_examples:
    train = {key: value[:config.data.max_train_examples] for key, value in train.items()}
  start = time.perf_counter()
  params = linear.fit_cca(train['x1'], train['x2'], config.linear.k, config.linear.r1,
                          config.linear.r2)
  jax.block_until_ready(params)
  fit_seconds = time.perf_counter() - start
  correlations = {
      name: np.asarray(linear.component_correlations(params, split['x1'], split['x2'])).tolist()
      for name, split in (('train', train), ('tune', splits['tune']), ('test', splits['test']))}
  metrics = {
      'model': config.model, 'dataset': config.data.name, 'k': config.linear.k,
      'num_train_examples': len(train['x1']), 'fit_seconds': fit_seconds,
      'correlations': correlations,
      'total_correlation': {name: float(np.sum(values)) for name, values in correlations.items()},
      'provenance': writer.provenance(),
  }
  writer.write_json(workdir, 'results.json', metrics)
  figures.correlation_spectrum(
      correlations, os.path.join(workdir, 'spectrum.png'),
      title=f'Linear CCA on {config.data.name}: correlation per component')
  return metrics


def format_table(metrics: dict) -> str:
  """A plain-text table: one row per component, one column per split, totals at the bottom."""
  names = list(metrics['correlations'])
  lines = ['component ' + ''.join(f'{name:>9}' for name in names)]
  for i, values in enumerate(zip(*(metrics['correlations'][n] for n in names)), start=1):
    lines.append(f'{i:>9} ' + ''.join(f'{value:9.4f}' for value in values))
  lines.append('    total ' + ''.join(f'{metrics["total_correlation"][n]:9.3f}' for n in names))
  return '\n'.join(lines)
