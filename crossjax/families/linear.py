"""The linear family, fitted in closed form or by a short iteration in one call.

Models: 'cca' (ridge CCA of two views, with shrinkage on the path to PLS), 'pls' (PLS-SVD or
canonical PLS), 'mcca' and 'gcca' (m views), 'tcca' (tensor CCA, m views) and 'scca' (sparse
CCA of two views, config.sparse).

config.linear: k (0: as many components as the views allow; one for 'tcca' and 'scca'); r1, r2
and c1, c2 (ridges added to, and shrinkages c in [0, 1] of, the two views' covariances: 'cca');
r and c (every view: 'mcca', 'gcca', 'tcca'); pls_mode ('svd' or 'canonical').
config.sparse ('scca'): method 'pmd' (L1 bounds c1, c2 in [1, sqrt(features)]) or
'elastic_net' (strength alpha, l1_ratio); a bound or strength of 0 is chosen by folds-fold
cross-validation on held-out correlation within the training split over grid_size values;
max_iter, tol. Evaluated by the per-component correlations of the fitted projections on each
split (Andrew et al. 2013's total correlation is their sum) and the protocols of
config.evaluation.protocols on the canonical variates of view 1.
"""

from __future__ import annotations

import os

import numpy as np

from crossjax import figures, files, linear, sparse, tensor
from crossjax.families import shared
from crossjax.families.shared import MISSING_VIEWS, prerequisites

TITLES = {'cca': 'Linear CCA', 'mcca': 'MCCA', 'gcca': 'GCCA', 'pls': 'PLS',
          'tcca': 'Tensor CCA', 'scca': 'Sparse CCA'}
TWO_VIEWS = ('cca', 'pls', 'scca')
# Fitted from the moments of the rows where each pair of views is present (`crossjax.linear`).
PAIRWISE_MISSING = ('cca', 'mcca', 'gcca')
ONE_COMPONENT_BY_DEFAULT = ('tcca', 'scca')  # iterative: each component costs a fit


def missing_views(config) -> str:
  """Samples missing a view (rows entirely NaN) are used by the models of PAIRWISE_MISSING,
  refused by the others."""
  return 'allow' if config.model in PAIRWISE_MISSING else 'refuse'


def identifiable_components(config, views) -> int:
  """config.linear.k, or where it is 0 as many as the views allow: min(n - 1, the smallest
  width) for two views, min(n - 1, the summed widths) for more; one for tcca and scca."""
  if config.linear.k:
    return config.linear.k
  if config.model in ONE_COMPONENT_BY_DEFAULT:
    return 1
  widths = [view.shape[1] for view in views]
  return min(len(views[0]) - 1, min(widths) if config.model in TWO_VIEWS else sum(widths))


def _fit_sparse(views, k, settings, seed):
  """fit_pmd or fit_elastic_net_cca with config.sparse; 0 penalties chosen by K-fold CV."""
  search = dict(tol=settings.tol, max_iter=settings.max_iter, grid_size=settings.grid_size,
                folds=settings.folds, seed=seed)
  if settings.method == 'pmd':
    return sparse.fit_pmd(*views, k, settings.c1 or None, settings.c2 or None, **search)
  if settings.method == 'elastic_net':
    return sparse.fit_elastic_net_cca(*views, k, settings.alpha or None, settings.l1_ratio,
                                      **search)
  raise ValueError(f"config.sparse.method must be 'pmd' or 'elastic_net', got "
                   f'{settings.method!r}')


def fit(config, splits):
  views = [np.asarray(view) for view in shared.views_of(splits['train'])]
  k = identifiable_components(config, views)
  settings, model = config.linear, config.model
  if model in TWO_VIEWS and len(views) != 2:
    raise ValueError(f"model {model!r} takes two views, got {len(views)}: use 'mcca', 'gcca' "
                     "or 'tcca'")
  extra = {'k': k}
  if model == 'cca':
    params = linear.fit_cca(*views, k, settings.r1, settings.r2,
                            shrinkage=(settings.c1, settings.c2))
  elif model == 'pls':
    params = linear.fit_pls(*views, k, settings.pls_mode)
  elif model == 'tcca':
    fitted = tensor.fit_tcca(views, k, settings.r, shrinkage=settings.c)
    params, extra['cp_weights'] = fitted.cca, np.asarray(fitted.cp_weights).tolist()
  elif model == 'scca':
    params = _fit_sparse(views, k, config.sparse, config.seed)
    extra['penalties'] = [float(p) for p in params.penalties]
  else:
    fit_views = linear.fit_mcca if model == 'mcca' else linear.fit_gcca
    params = fit_views(views, k, settings.r, shrinkage=settings.c)
  return params, extra


def evaluate(params, splits, config, workdir) -> dict:
  """Correlations on each split's complete rows, protocols on its rows with view 1 (all rows
  where no sample misses a view); the counts of rows missing each view under 'missing_rows'
  where any does."""
  views = {name: [np.asarray(v) for v in shared.views_of(split)]
           for name, split in splits.items()}
  missing = {name: np.stack([files.missing_rows(v) for v in split_views])
             for name, split_views in views.items()}
  complete = {name: ~rows.any(axis=0) for name, rows in missing.items()}
  with_view1 = {name: ~rows[0] for name, rows in missing.items()}
  codes = {name: [v[complete[name]] for v in split_views] for name, split_views in views.items()}
  labels = ({name: np.asarray(split['labels'])[with_view1[name]]
             for name, split in splits.items()} if 'labels' in splits['train'] else None)
  view1 = {name: np.asarray(linear.transform(params, *split_views)[0])[with_view1[name]]
           for name, split_views in views.items()}
  results = shared.correlation_scores(codes, labels, None, config.evaluation, config.seed,
                                      view1, params, scored=tuple(codes))
  if any(rows.any() for rows in missing.values()):
    results['missing_rows'] = {name: rows.sum(axis=1).tolist() for name, rows in missing.items()}
  figures.correlation_spectrum(
      results['correlations'], os.path.join(workdir, 'spectrum.png'),
      title=f'{TITLES[config.model]} on {config.data.name}: correlation per component')
  return results


def summary(results: dict) -> list[str]:
  return shared.correlation_table(results)
