"""The cca_zoo half of `./launch.sh bench cca_zoo`: runs in cca_zoo's own virtualenv.

  PEER_PYTHON experiments/peer_cca_zoo.py DATA.npz TASKS.json OUT.json

Imports NumPy, cca_zoo and its dependencies only (never crossjax), so that neither library's
dependencies reach the other. Each task of TASKS.json names a cca_zoo estimator, its
parameters (or a `grid`: a list of parameter sets, fitted one after the other as one timed
pass) and the arrays of DATA.npz it is fitted on. After one untimed fit, the fit is timed
`repeats` times under each OpenBLAS setting of BLAS_THREADS, alternating (the median is the
figure). A task with `permutations` times `permutation_test_significance` of the estimator
instead, once, under the setting that fitted the estimator faster; one with `orient`
measures the correlations of oriented scores (`component_correlations`). OUT.json gets, per
task, the times by setting, the per-component correlations of the training scores (of every
grid point for a grid), the iterations and the warnings raised, for bench_cca_zoo.py to
compare with crossjax's.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import warnings

import numpy as np


def component_correlations(scores: list[np.ndarray], orient: bool = False) -> np.ndarray:
  """(k,) Pearson correlation of each component's scores, averaged over pairs of views.

  The one measure both halves of the benchmark report (bench_cca_zoo.py imports it). With
  orient, each view's scores are first flipped, per component, to covary non-negatively with
  view 1's: for models that fix the signs of no view's scores (tensor CCA's CP factors), where
  one flipped view would turn an average of pairwise correlations into a different number.
  """
  centred = [s - s.mean(axis=0) for s in scores]
  if orient:
    centred = [centred[0]] + [c * np.where((centred[0] * c).sum(axis=0) < 0, -1.0, 1.0)
                              for c in centred[1:]]
  norms = [np.sqrt((c * c).sum(axis=0)) for c in centred]
  pairs = [(i, j) for i in range(len(scores)) for j in range(i + 1, len(scores))]
  return sum((centred[i] * centred[j]).sum(axis=0) / (norms[i] * norms[j])
             for i, j in pairs) / len(pairs)


# OpenBLAS settings each task is timed under, alternating: the library's default (as many
# threads as cores) and one thread. NumPy and SciPy each bring an OpenBLAS whose idle threads
# spin; on a loaded machine their default threads measured up to 50x slower (crossjax limits
# its LAPACK to one thread for the same reason), on an idle one they can be faster.
BLAS_THREADS = {'default': None, '1': 1}


def _estimator(task: dict, params: dict):
  module_name, class_name = task['estimator'].rsplit('.', 1)
  return getattr(importlib.import_module(module_name), class_name)(**params)


def _timed(once, repeats: int, settings: dict = BLAS_THREADS) -> tuple[dict, object]:
  """Seconds of `repeats` calls of once() under each OpenBLAS setting, alternating, and the
  last call's output."""
  from threadpoolctl import threadpool_limits  # pylint: disable=import-outside-toplevel
  seconds = {name: [] for name in settings}
  for _ in range(repeats):
    for name, limit in settings.items():
      with threadpool_limits(limits=limit):
        start = time.perf_counter()
        output = once()
        seconds[name].append(time.perf_counter() - start)
  return seconds, output


def _fit(task: dict, views: list[np.ndarray]) -> dict:
  """One fit (or one pass over a grid of parameters), timed after one untimed fit (imports,
  first-call costs); the scores are measured after the clock stops."""
  grid = task.get('grid', [task.get('params', {})])
  _estimator(task, grid[0]).fit(views)
  seconds, models = _timed(lambda: [_estimator(task, params).fit(views) for params in grid],
                           task.get('repeats', 1))
  correlations = [component_correlations(model.transform(views), task.get('orient', False))
                  .tolist() for model in models]
  iterations = [getattr(model, 'n_iter_', None) for model in models]
  return {'seconds': seconds,
          'correlations': correlations if 'grid' in task else correlations[0],
          'n_iter': None if None in iterations else max(int(i) for i in iterations)}


def _permutation_test(task: dict, views: list[np.ndarray]) -> dict:
  """The test, timed once, under the OpenBLAS setting whose single fit of the estimator on
  the views was faster (a test is B + 1 such fits: running it under both would double the
  longest task)."""
  from cca_zoo import model_selection  # pylint: disable=import-outside-toplevel
  _estimator(task, task['params']).fit(views)  # untimed, as in _fit
  probe, _ = _timed(lambda: _estimator(task, task['params']).fit(views), 2)
  best = min(probe, key=lambda name: min(probe[name]))
  seconds, result = _timed(lambda: model_selection.permutation_test_significance(
      _estimator(task, task['params']), views, n_permutations=task['permutations'],
      random_state=0), 1, {best: BLAS_THREADS[best]})
  return {'seconds': seconds, 'probe_seconds': probe, 'permutations': task['permutations'],
          'correlations': np.asarray(result.correlations).tolist(),
          'p_values': np.asarray(result.p_values).tolist()}


def main(data_path: str, tasks_path: str, out_path: str) -> None:
  import cca_zoo  # pylint: disable=import-outside-toplevel
  # SciPy loads its OpenBLAS at the first import of scipy.linalg: load it now, for
  # threadpool_limits to find.
  import scipy.linalg  # pylint: disable=import-outside-toplevel,unused-import
  arrays = np.load(data_path)
  with open(tasks_path, encoding='utf-8') as f:
    tasks = json.load(f)
  results = {'version': cca_zoo.__version__, 'numpy': np.__version__, 'tasks': {}}
  for task in tasks:
    views = [arrays[name] for name in task['views']]
    run = _permutation_test if task.get('permutations') else _fit
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter('always')
      outcome = run(task, views)
    outcome['warnings'] = sorted({str(w.message).splitlines()[0] for w in caught})
    results['tasks'][task['name']] = outcome
    print(f"cca_zoo {task['name']}: median s by OpenBLAS threads " + ', '.join(
        f'{name}: {np.median(s):.3f}' for name, s in outcome['seconds'].items()), flush=True)
  with open(out_path, 'w', encoding='utf-8') as f:
    json.dump(results, f)


if __name__ == '__main__':
  main(*sys.argv[1:])
