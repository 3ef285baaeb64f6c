"""Approximate RBF kernel CCA (Nystrom features, then ridge CCA): model 'kcca'.

config.kernel: k, num_landmarks, seed, and a grid of kernel widths (width_scales times each
view's median distance) and ridges (r for both views); the combination with the best tune total
correlation is kept (as Andrew et al. 2013 tuned their KCCA). k = 0 takes min(10, landmarks,
n - 1) components, num_landmarks = 0 min(2000, n) landmarks.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from crossjax import figures, kernel, linear
from crossjax.families import shared
from crossjax.families.shared import MISSING_VIEWS, prerequisites

# Where config.kernel leaves k and num_landmarks to the data (0).
DEFAULT_COMPONENTS = 10
DEFAULT_LANDMARKS = 2000


def fit(config, splits):
  """(params, {'kernel_selection': the grid and its tune totals}) of the best grid point."""
  settings = config.kernel
  train, tune = ([np.asarray(v) for v in shared.views_of(splits[name])]
                 for name in ('train', 'tune'))
  if len(train) != 2:
    raise ValueError(f"model 'kcca' takes two views, got {len(train)}")
  landmarks = settings.num_landmarks or min(DEFAULT_LANDMARKS, len(train[0]))
  k = settings.k or min(DEFAULT_COMPONENTS, landmarks, len(train[0]) - 1)
  medians = [kernel.median_distance(view, seed=settings.seed) for view in train]
  best, selection = None, []
  for scale in settings.width_scales:
    # One feature map per width, shared by every ridge (and by their tune scores).
    path = kernel.fit_kernel_cca_path(
        *train, k, tuple(scale * m for m in medians),
        [(ridge, ridge) for ridge in settings.ridges], landmarks, settings.seed)
    tune_features = kernel.features(path[0], *tune)
    for ridge, params in zip(settings.ridges, path):
      total = float(jnp.sum(linear.component_correlations(params.cca, *tune_features)))
      selection.append({'width_scale': scale, 'ridge': ridge, 'tune_total_correlation': total})
      print(f'kernel CCA: width {scale} x median, ridge {ridge}: tune total {total:.3f}',
            flush=True)
      if best is None or total > best[0]:
        best = (total, params, selection[-1])
  return best[1], {'k': k, 'num_landmarks': landmarks, 'kernel_selection': {
      'median_distances': medians, 'grid': selection, 'chosen': best[2]}}


def evaluate(params, splits, config, workdir) -> dict:
  correlations = {name: np.asarray(kernel.component_correlations(
      params, *[np.asarray(v) for v in shared.views_of(split)])).tolist()
                  for name, split in splits.items()}
  results = {'correlations': correlations,
             'total_correlation': {name: float(np.sum(v)) for name, v in correlations.items()}}
  figures.correlation_spectrum(
      correlations, os.path.join(workdir, 'spectrum.png'),
      title=f'Kernel CCA (RBF) on {config.data.name}: correlation per component')
  return results


def summary(results: dict) -> list[str]:
  return shared.correlation_table(results)
