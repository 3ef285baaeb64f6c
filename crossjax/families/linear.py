"""Closed-form linear CCA: models 'cca' (ridge CCA, two views), 'mcca' and 'gcca' (m views).

config.linear: k (0: as many components as the views allow), r1 and r2 (ridges of the two
views, 'cca'), r (one ridge for every view, 'mcca' and 'gcca'). Evaluated by the per-component
correlations of the fitted projections on each split (Andrew et al. 2013's total correlation
is their sum) and the protocols of config.evaluation.protocols on the canonical variates of
view 1.
"""

from __future__ import annotations

import os

import numpy as np

from crossjax import figures, linear
from crossjax.families import shared
from crossjax.families.shared import MISSING_VIEWS, prerequisites

TITLES = {'cca': 'Linear CCA', 'mcca': 'MCCA', 'gcca': 'GCCA'}


def identifiable_components(config, views) -> int:
  """config.linear.k, or where it is 0 as many as the views allow: min(n - 1, the smallest
  width) for two views, min(n - 1, the summed widths) for more."""
  widths = [view.shape[1] for view in views]
  limit = min(len(views[0]) - 1, min(widths) if config.model == 'cca' else sum(widths))
  return config.linear.k or limit


def fit(config, splits):
  views = [np.asarray(view) for view in shared.views_of(splits['train'])]
  k = identifiable_components(config, views)
  settings = config.linear
  if config.model == 'cca':
    if len(views) != 2:
      raise ValueError(f"model 'cca' takes two views, got {len(views)}: use 'mcca' or 'gcca'")
    params = linear.fit_cca(*views, k, settings.r1, settings.r2)
  else:
    fit_views = linear.fit_mcca if config.model == 'mcca' else linear.fit_gcca
    params = fit_views(views, k, settings.r)
  return params, {'k': k}


def evaluate(params, splits, config, workdir) -> dict:
  codes = {name: [np.asarray(v) for v in shared.views_of(split)]
           for name, split in splits.items()}
  labels = ({name: split['labels'] for name, split in splits.items()}
            if 'labels' in splits['train'] else None)
  view1 = {name: np.asarray(linear.transform(params, *views)[0]) for name, views in codes.items()}
  results = shared.correlation_scores(codes, labels, None, config.evaluation, config.seed,
                                      view1, params, scored=tuple(codes))
  figures.correlation_spectrum(
      results['correlations'], os.path.join(workdir, 'spectrum.png'),
      title=f'{TITLES[config.model]} on {config.data.name}: correlation per component')
  return results


def summary(results: dict) -> list[str]:
  return shared.correlation_table(results)
