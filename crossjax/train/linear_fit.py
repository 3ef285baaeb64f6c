"""Fit and evaluate a closed-form CCA from a config: the linear and kernel rows of the papers.

model 'linear_cca': `linear.fit_cca` with config.linear (k, r1, r2). model 'kernel_cca':
approximate RBF kernel CCA (`kernel.fit_kernel_cca`) with config.kernel: k, num_landmarks,
seed, and a grid of kernel widths (width_scales times each view's median distance) and ridges
(r for both views), the combination with the best tune total correlation kept (as Andrew et
al. 2013 tuned their KCCA).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from crossjax import data, figures, kernel, linear
from crossjax.train import writer


def _kernel_cca_tuned(settings: ml_collections.ConfigDict, train: dict, tune: dict):
  """(params, selection): the kernel CCA of the grid point with the best tune total."""
  medians = [kernel.median_distance(train[key], seed=settings.seed) for key in ('x1', 'x2')]
  best, selection = None, []
  for scale in settings.width_scales:
    # One feature map per width, shared by every ridge (and by their tune scores).
    path = kernel.fit_kernel_cca_path(
        train['x1'], train['x2'], settings.k, tuple(scale * m for m in medians),
        [(ridge, ridge) for ridge in settings.ridges], settings.num_landmarks, settings.seed)
    tune_features = kernel.features(path[0], tune['x1'], tune['x2'])
    for ridge, params in zip(settings.ridges, path):
      total = float(jnp.sum(linear.component_correlations(params.cca, *tune_features)))
      selection.append({'width_scale': scale, 'ridge': ridge, 'tune_total_correlation': total})
      print(f'kernel CCA: width {scale} x median, ridge {ridge}: tune total {total:.3f}',
            flush=True)
      if best is None or total > best[0]:
        best = (total, params, selection[-1])
  return best[1], {'median_distances': medians, 'grid': selection, 'chosen': best[2]}


def fit_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits linear or kernel CCA on the train split; writes results.json and spectrum.png.

  Returns the metrics: per-split canonical correlations of the fitted projections and their
  totals (the sum over the k components, Andrew et al. 2013's 'total correlation').
  """
  provenance = writer.provenance()  # at the start: the code this process runs
  writer.write_config(config, workdir)
  splits = data.load_dataset(config.data.name, config.data.path or None, config.data.seed)
  train = splits['train']
  if config.data.max_train_examples:
    train = {key: value[:config.data.max_train_examples] for key, value in train.items()}
  start = time.perf_counter()
  extra = {}
  if config.model == 'kernel_cca':
    params, extra['kernel_selection'] = _kernel_cca_tuned(config.kernel, train, splits['tune'])
    correlate, k, title = kernel.component_correlations, config.kernel.k, 'Kernel CCA (RBF)'
  else:
    params = linear.fit_cca(train['x1'], train['x2'], config.linear.k, config.linear.r1,
                            config.linear.r2)
    correlate, k, title = linear.component_correlations, config.linear.k, 'Linear CCA'
  jax.block_until_ready(params)
  fit_seconds = time.perf_counter() - start
  correlations = {
      name: np.asarray(correlate(params, split['x1'], split['x2'])).tolist()
      for name, split in (('train', train), ('tune', splits['tune']), ('test', splits['test']))}
  metrics = {
      'model': config.model, 'dataset': config.data.name, 'k': k,
      'num_train_examples': len(train['x1']), 'fit_seconds': fit_seconds,
      'correlations': correlations,
      'total_correlation': {name: float(np.sum(values)) for name, values in correlations.items()},
      **extra, 'provenance': provenance,
  }
  writer.write_json(workdir, 'results.json', metrics)
  figures.correlation_spectrum(
      correlations, os.path.join(workdir, 'spectrum.png'),
      title=f'{title} on {config.data.name}: correlation per component')
  return metrics


def format_table(metrics: dict) -> str:
  """A plain-text table: one row per component, one column per split, totals at the bottom."""
  names = list(metrics['correlations'])
  lines = ['component ' + ''.join(f'{name:>9}' for name in names)]
  for i, values in enumerate(zip(*(metrics['correlations'][n] for n in names)), start=1):
    lines.append(f'{i:>9} ' + ''.join(f'{value:9.4f}' for value in values))
  lines.append('    total ' + ''.join(f'{metrics["total_correlation"][n]:9.3f}' for n in names))
  return '\n'.join(lines)
