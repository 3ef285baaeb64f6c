"""Benchmark: crossjax beside cca_zoo 4.0.1, the same fits on the same data (issue 14).

  ./launch.sh bench cca_zoo [--workdir=runs/bench] [--peer_python=PATH]
                            [--peer_permutations=1000] [--n=5000 --dims=200,150,100 ...]
                            [--tasks=ridge_cca,pls]

Writes runs/bench/cca_zoo.json and .md and BENCHMARKS.md's part '<hardware>: crossjax beside
cca_zoo 4.0.1' (not in `./launch.sh bench`); a --tasks subset writes BENCHMARKS.md only when
--update_benchmarks is given, into its own part.

cca_zoo runs in its own virtualenv (runs/cca_zoo_venv, made once with `python3 -m venv` and
`pip install cca-zoo==4.0.1`; --peer_python names another interpreter), never in crossjax's.
This script draws the data (`crossjax.data.simulate`, float64; tensor CCA gets views of
skewed latent factors, see `skewed_views`) into an .npz, then, task by task: writes the task
to a JSON file and runs experiments/peer_cca_zoo.py on it in cca_zoo's interpreter, which
fits and times it with NumPy arrays (after one untimed fit, the median of its repeats under
two OpenBLAS thread settings, the faster counting; see the peer's docstring) and returns the
per-component correlations of its training scores; then fits crossjax's counterpart here on
the same arrays, already on the device, in float64: jitted, the first call (compilation +
run, after `jax.clear_caches()`, so that each task pays its own compilation) apart from the
median of warm calls; the closed forms and the permutation test also in float32, crossjax's
default dtype (warm median). Both libraries' correlations are measured by one function
(`peer_cca_zoo.component_correlations`) on their own training scores; the table gives the
largest absolute difference, the fit times and their ratio. The machine may be shared: the
two libraries' timings of a task are taken back to back, and the 1-minute load average
before and after each task is recorded.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import warnings
from typing import Callable, NamedTuple

import numpy as np
from absl import app, flags

import jax
import jax.numpy as jnp

from crossjax import data, inference, linear, runtime, sparse, tensor
from crossjax.train import writer
from experiments import bench_all, bench_utils
from experiments.peer_cca_zoo import component_correlations


_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write cca_zoo.json/.md; the '
                               "data and the peer's files go to its cca_zoo/ folder.")
_PEER_PYTHON = flags.DEFINE_string(
    'peer_python', '', 'Python with cca_zoo installed; default: runs/cca_zoo_venv, made once.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Warm crossjax calls per task (median reported).')
_PEER_REPEATS = flags.DEFINE_integer('peer_repeats', 3,
                                     'cca_zoo fits per single-fit task (median reported).')
_N = flags.DEFINE_integer('n', 5000, 'Samples of the closed-form fits.')
_DIMS = flags.DEFINE_list('dims', ['200', '150', '100'],
                          'Features of the 3 views (CCA, ridge CCA and PLS use the first 2).')
_K = flags.DEFINE_integer('k', 5, 'Components of the closed-form fits.')
_SHRINKAGE = flags.DEFINE_list('shrinkage', ['0.1', '0.3'], 'Ridge CCA shrinkage (c1, c2).')
_MULTIVIEW_SHRINKAGE = flags.DEFINE_float('multiview_shrinkage', 0.1, 'MCCA/GCCA shrinkage.')
_SPARSE_N = flags.DEFINE_integer('sparse_n', 1000, 'Samples of the sparse fits.')
_SPARSE_DIMS = flags.DEFINE_list('sparse_dims', ['100', '80'], 'Features of the sparse views.')
_SPARSE_K = flags.DEFINE_integer('sparse_k', 1, 'Components of the sparse fits (the first is '
                                 'compared: later ones differ by design, see crossjax.sparse).')
_GRID_SIZE = flags.DEFINE_integer('grid_size', 20, 'PMD penalties per view (grid_size^2 fits).')
_ALPHA = flags.DEFINE_float('alpha', 0.1, 'Elastic-net CCA alpha.')
_L1_RATIO = flags.DEFINE_float('l1_ratio', 0.5, 'Elastic-net CCA l1_ratio.')
_TENSOR_N = flags.DEFINE_integer('tensor_n', 2000, 'Samples of the tensor CCA views.')
_TENSOR_DIMS = flags.DEFINE_list('tensor_dims', ['30', '25', '20'],
                                 'Features of the 3 tensor CCA views (cca_zoo forms their '
                                 'd1 x d2 x d3 tensor).')
_TENSOR_K = flags.DEFINE_integer('tensor_k', 2, 'Skewed latent factors = tensor CCA rank.')
_PERM_N = flags.DEFINE_integer('perm_n', 10000, 'Samples of the permutation test.')
_PERM_DIMS = flags.DEFINE_list('perm_dims', ['300', '300'], 'Features of its two views.')
_PERM_K = flags.DEFINE_integer('perm_k', 10, 'Components it tests.')
_PERMUTATIONS = flags.DEFINE_integer('permutations', 1000, "crossjax's permutations.")
_PEER_PERMUTATIONS = flags.DEFINE_integer(
    'peer_permutations', 1000, "cca_zoo's permutations (it refits CCA for each, about 0.4 s "
    'at the default size on 2 idle cores, and runs under 2 thread settings); where fewer '
    "than crossjax's, the table compares the time per fit.")
_PERM_REPEATS = flags.DEFINE_integer('perm_repeats', 1, 'Warm crossjax permutation tests.')
_TASKS = flags.DEFINE_list('tasks', [], 'Only these rows, by name (cca, ridge_cca, pls, mcca, '
                           'gcca, pmd_grid, pmd, elastic_net, tcca, permutation_test); default: '
                           'all.')
_UPDATE_BENCHMARKS = flags.DEFINE_bool(
    'update_benchmarks', True, "Write the table into BENCHMARKS.md's part; a --tasks subset "
    'only when this flag is given, into a part of its own named by its rows and sizes.')


class Task(NamedTuple):
  """One row: a cca_zoo task (for peer_cca_zoo.py) and crossjax's counterpart.

  peer: estimator, params (or grid), views, repeats (or permutations): see peer_cca_zoo.py.
  fit: crossjax's fit, from the dict of device arrays.
  correlations: from crossjax's result, the per-component correlations of its training
    scores (for a grid, (grid points, k) in the peer's row-major order).
  compared: how many leading components are compared (None: all).
  repeats: warm crossjax calls (None: --repeats).
  float32: also time crossjax in float32 (the closed forms and the permutation test; the
    iterative fits' tolerances are set for float64).
  """
  name: str
  label: str
  shape: str
  peer: dict
  fit: Callable[[dict], object]
  correlations: Callable[[object], np.ndarray]
  note: str
  compared: int | None = None
  repeats: int | None = None
  float32: bool = False


def ints(values) -> list[int]:
  return [int(v) for v in values]


def skewed_views(n: int, dims: list[int], k: int, seed: int) -> list[np.ndarray]:
  """Views X_i = S A_i + E_i sharing k skewed latent factors S (centred exponentials, third
  moment 2): unlike `data.simulate`'s Gaussian views, their covariance tensor has rank-k
  structure for tensor CCA to find (crossjax/tensor.py)."""
  rng = np.random.default_rng(seed)
  latent = rng.exponential(size=(n, k)) - 1.0
  return [latent @ rng.standard_normal((k, d)) + rng.standard_normal((n, d)) for d in dims]


def draw_data() -> dict[str, np.ndarray]:
  """The float64 arrays every task uses, by name."""
  k = _K.value
  closed = data.simulate(_N.value, ints(_DIMS.value), np.linspace(0.9, 0.5, k),
                         within_view_correlation=0.5, seed=0).views
  sparse_views = data.simulate(_SPARSE_N.value, ints(_SPARSE_DIMS.value), [0.9, 0.7],
                               active_features=5, seed=1).views
  perm_k = _PERM_K.value
  signal = [0.4, 0.3, 0.2, 0.15, 0.1]
  perm = data.simulate(_PERM_N.value, ints(_PERM_DIMS.value),
                       (signal + [0.0] * perm_k)[:perm_k], seed=2).views
  tcca = skewed_views(_TENSOR_N.value, ints(_TENSOR_DIMS.value), _TENSOR_K.value, seed=3)
  named = {'x': closed, 's': sparse_views, 't': tcca, 'p': perm}
  return {f'{prefix}{i + 1}': view for prefix, views in named.items()
          for i, view in enumerate(views)}


def linear_correlations(params, views) -> np.ndarray:
  return component_correlations([np.asarray(z) for z in linear.transform(params, *views)])


def grid_correlations(params: sparse.SparseCCAParams, views) -> np.ndarray:
  """(g1 * g2, k) correlations at every grid point, row-major as the peer's grid. Scores
  X_i W_i without the mean: correlations do not see it."""
  w1, w2 = (np.asarray(w) for w in params.weights)
  z1 = np.einsum('nd,abdk->abnk', views[0], w1)
  z2 = np.einsum('nd,abdk->abnk', views[1], w2)
  return np.stack([component_correlations([a, b]) for a, b in
                   zip(z1.reshape(-1, *z1.shape[2:]), z2.reshape(-1, *z2.shape[2:]))])


def build_tasks(x: dict[str, np.ndarray]) -> list[Task]:
  """The rows, in table order; x holds the NumPy arrays (shapes, grids and the views the
  correlations are measured on)."""
  k, repeats = _K.value, _PEER_REPEATS.value
  c1, c2 = (float(c) for c in _SHRINKAGE.value)
  mc = _MULTIVIEW_SHRINKAGE.value
  shape2 = f'{_N.value} x ({x["x1"].shape[1]}, {x["x2"].shape[1]}), k={k}'
  shape3 = f'{_N.value} x ({", ".join(str(x[v].shape[1]) for v in ("x1", "x2", "x3"))}), k={k}'
  two, three = ['x1', 'x2'], ['x1', 'x2', 'x3']

  def views(names):
    return lambda a: [a[name] for name in names]

  def of(names, correlations=linear_correlations):
    return lambda result: correlations(result, [x[name] for name in names])

  tasks = [
      Task('cca', 'CCA', shape2,
           dict(estimator='cca_zoo.linear.CCA', params=dict(n_components=k), views=two),
           lambda a: linear.fit_cca(a['x1'], a['x2'], k), of(two),
           'same method (closed form)'),
      Task('ridge_cca', f'ridge CCA, shrinkage ({c1:g}, {c2:g})', shape2,
           dict(estimator='cca_zoo.linear.RidgeCCA',
                params=dict(n_components=k, shrinkage=[c1, c2]), views=two),
           lambda a: linear.fit_cca(a['x1'], a['x2'], k, shrinkage=(c1, c2)), of(two),
           'same method (closed form); target >= 3x'),
      Task('pls', 'PLS (SVD)', shape2,
           dict(estimator='cca_zoo.linear.PLS', params=dict(n_components=k), views=two),
           lambda a: linear.fit_pls(a['x1'], a['x2'], k, mode='svd'), of(two),
           'same method (closed form); target >= 3x'),
      Task('mcca', f'MCCA, 3 views, shrinkage {mc:g}', shape3,
           dict(estimator='cca_zoo.linear.MCCA', params=dict(n_components=k, shrinkage=mc),
                views=three),
           lambda a: linear.fit_mcca(views(three)(a), k, shrinkage=mc), of(three),
           'same method (closed form)'),
      Task('gcca', f'GCCA, 3 views, shrinkage {mc:g}', shape3,
           dict(estimator='cca_zoo.linear.GCCA', params=dict(n_components=k, shrinkage=mc),
                views=three),
           lambda a: linear.fit_gcca(views(three)(a), k, shrinkage=mc), of(three),
           'same method (closed form)'),
  ]
  tasks = [task._replace(float32=True) for task in tasks]  # the closed forms

  # Sparse CCA: PMD over a grid of L1 bounds c_i in [1, sqrt(d_i)] (cca_zoo: b_i = c_i /
  # sqrt(d_i)), then one PMD fit and one elastic-net fit.
  sk, g = _SPARSE_K.value, _GRID_SIZE.value
  d1, d2 = x['s1'].shape[1], x['s2'].shape[1]
  grid1, grid2 = np.geomspace(1.0, np.sqrt(d1), g), np.geomspace(1.0, np.sqrt(d2), g)
  bounds = [[min(a / np.sqrt(d1), 1.0), min(b / np.sqrt(d2), 1.0)] for a in grid1 for b in grid2]
  middle = (float(grid1[g // 2]), float(grid2[g // 2]))
  sshape = f'{_SPARSE_N.value} x ({d1}, {d2}), k={sk}'
  first = '; the first component compared (later ones differ by design)' if sk > 1 else ''
  tasks += [
      Task('pmd_grid', f'sparse CCA (PMD), {g} x {g} penalty grid', sshape,
           dict(estimator='cca_zoo.sparse.PMDCCA', views=['s1', 's2'], repeats=1,
                grid=[dict(n_components=sk, l1_bound=b) for b in bounds]),
           lambda a: sparse.fit_pmd_grid(a['s1'], a['s2'], sk, grid1, grid2),
           of(['s1', 's2'], grid_correlations),
           f'same method; cca_zoo: {g * g} PMDCCA fits, crossjax: one fit_pmd_grid call; '
           f'correlations compared at all {g * g} points{first}; target >= 10x', compared=1,
           repeats=max(1, _REPEATS.value // 2)),
      Task('pmd', f'sparse CCA (PMD), one fit, c = ({middle[0]:.3g}, {middle[1]:.3g})', sshape,
           dict(estimator='cca_zoo.sparse.PMDCCA', views=['s1', 's2'], repeats=repeats,
                params=dict(n_components=sk, l1_bound=[middle[0] / np.sqrt(d1),
                                                       middle[1] / np.sqrt(d2)])),
           lambda a: sparse.fit_pmd(a['s1'], a['s2'], sk, *middle), of(['s1', 's2']),
           f'same method; the middle of the grid{first}', compared=1),
      Task('elastic_net', f'elastic-net CCA, alpha {_ALPHA.value:g}, l1_ratio '
           f'{_L1_RATIO.value:g}', sshape,
           dict(estimator='cca_zoo.sparse.IPLSCCA', views=['s1', 's2'], repeats=repeats,
                params=dict(n_components=sk, alpha=_ALPHA.value, l1_ratio=_L1_RATIO.value)),
           lambda a: sparse.fit_elastic_net_cca(a['s1'], a['s2'], sk, _ALPHA.value,
                                                _L1_RATIO.value),
           of(['s1', 's2']),
           'same method (cca_zoo IPLSCCA: coordinate descent; crossjax: FISTA), each to tol '
           f'1e-6{first}', compared=1),
  ]

  tk = _TENSOR_K.value
  tdims = [x[f't{i}'].shape[1] for i in (1, 2, 3)]
  tasks.append(Task(
      'tcca', 'tensor CCA, 3 views (skewed latents)',
      f'{_TENSOR_N.value} x ({", ".join(map(str, tdims))}), k={tk}',
      dict(estimator='cca_zoo.linear.TCCA', params=dict(n_components=tk),
           views=['t1', 't2', 't3'], repeats=repeats, orient=True),
      lambda a: tensor.fit_tcca(views(['t1', 't2', 't3'])(a), tk),
      lambda result: component_correlations(
          [np.asarray(z) for z in tensor.transform(result, *(x[v] for v in ('t1', 't2', 't3')))],
          orient=True),
      'same model, both by ALS from different starts (cca_zoo: tensorly parafac on the '
      'explicit tensor, tol 1e-8 on the fit; crossjax: tol 1e-6 on the factors); CP factors '
      "have free signs and order: each view's scores oriented to view 1's, correlations "
      'sorted before comparing'))

  pk, b, b_peer = _PERM_K.value, _PERMUTATIONS.value, _PEER_PERMUTATIONS.value
  tasks.append(Task(
      'permutation_test', f'permutation test, {b} permutations',
      f'{_PERM_N.value} x ({x["p1"].shape[1]}, {x["p2"].shape[1]}), k={pk}',
      dict(estimator='cca_zoo.linear.CCA', params=dict(n_components=pk), views=['p1', 'p2'],
           permutations=b_peer, repeats=1),
      lambda a: inference.permutation_test(a['p1'], a['p2'], k=pk, num_permutations=b),
      lambda result: np.asarray(result.correlations),
      "different tests: cca_zoo's refits CCA per permutation and is valid for the first "
      "component only (its docstring); crossjax's is Winkler et al.'s (2020) step-down test, "
      'FWER-controlled for every component; target < 60 s; observed canonical correlations '
      'compared', repeats=_PERM_REPEATS.value, float32=True))
  return tasks


def run_peer(python: str, folder: pathlib.Path, task: Task) -> dict:
  """Runs one task in cca_zoo's interpreter (a process per task, so that the two libraries'
  timings of a task are taken minutes apart at most on a shared machine)."""
  spec = dict(name=task.name, **task.peer)
  spec.setdefault('repeats', _PEER_REPEATS.value)
  tasks_path, out_path = folder / f'{task.name}.tasks.json', folder / f'{task.name}.out.json'
  tasks_path.write_text(json.dumps([spec]))
  peer_script = bench_utils.ROOT / 'experiments' / 'peer_cca_zoo.py'
  subprocess.run([python, str(peer_script), str(folder / 'data.npz'), str(tasks_path),
                  str(out_path)], check=True)
  return json.loads(out_path.read_text())


def time_crossjax(task: Task, arrays: dict) -> dict:
  """First call after clearing JAX's caches (compilation + run) and the median of warm calls;
  the warnings of the fit (e.g. non-convergence) and its correlations."""
  jax.clear_caches()
  last = []

  def fit():
    last[:] = [task.fit(arrays)]
    return last[0]

  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    timing = bench_utils.measure(fit, task.repeats or _REPEATS.value)
  result = last[0]
  timing['warnings'] = sorted({str(w.message).splitlines()[0] for w in caught})
  timing['correlations'] = np.asarray(task.correlations(result)).tolist()
  if task.name == 'permutation_test':
    timing['p_values_fwer'] = np.asarray(result.p_values_fwer).tolist()
    timing['p_values_uncorrected'] = np.asarray(result.p_values_uncorrected).tolist()
  if hasattr(result, 'iterations'):
    timing['iterations'] = int(np.max(np.asarray(result.iterations)))
  return timing


def compare(task: Task, peer: dict, ours: dict) -> float:
  """Largest |difference| of the compared components' correlations."""
  theirs, mine = np.asarray(peer['correlations']), np.asarray(ours['correlations'])
  mine = mine.reshape(theirs.shape)
  if task.name == 'tcca':  # CP components come in no particular order
    theirs, mine = np.sort(theirs)[::-1], np.sort(mine)[::-1]
  columns = slice(None, task.compared)
  return float(np.max(np.abs(theirs[..., columns] - mine[..., columns])))


def row(task: Task, peer: dict, ours: dict, loads: list[float]) -> dict:
  """A table row; cca_zoo's time is its median under its faster OpenBLAS setting."""
  by_threads = {name: float(np.median(s)) for name, s in peer['seconds'].items()}
  threads = min(by_threads, key=by_threads.get)
  peer_s, warm_s = by_threads[threads], ours['median_s']
  if 'probe_seconds' in peer:
    notes = [task.note, f'cca_zoo ran under OpenBLAS threads {threads}, the faster for one '
             'fit of its estimator (best of 2: ' + ', '.join(
                 f'{name} {min(seconds):.3g} s' for name, seconds in peer['probe_seconds'].items())
             + ')']
  else:
    notes = [task.note, 'cca_zoo OpenBLAS threads: ' + ', '.join(
        f'{name} {seconds:.3g} s' for name, seconds in by_threads.items())]
  ratio = peer_s / warm_s
  if 'permutations' in peer:  # each test fits the data and each permutation: B + 1 fits
    ratio = (peer_s / (peer['permutations'] + 1)) / (warm_s / (_PERMUTATIONS.value + 1))
    b_peer = peer['permutations']
    notes.append(f'cca_zoo ran {b_peer} permutations ({peer_s / (b_peer + 1):.3g} s per fit)'
                 + ('; the ratio is per fit' if b_peer != _PERMUTATIONS.value else ''))
    notes.append('first-component p: cca_zoo {:.3g}, crossjax {:.3g}; components with p <= '
                 '0.05: cca_zoo {} (uncorrected; only the first is valid), crossjax {} '
                 '(FWER)'.format(peer['p_values'][0], ours['p_values_fwer'][0],
                                 sum(p <= 0.05 for p in peer['p_values']),
                                 sum(p <= 0.05 for p in ours['p_values_fwer'])))
  if 'iterations' in ours:
    notes.append(f'iterations (most over components and grid points): cca_zoo '
                 f'{"n/a" if peer.get("n_iter") is None else peer["n_iter"]}, crossjax '
                 f'{ours["iterations"]}')
  if 'float32' in ours:
    notes.append('float32 correlations: cca_zoo / crossjax float32 = {:.3g}x, max abs corr diff '
                 '{:.1e}'.format(peer_s / ours['float32']['median_s']
                                 if 'permutations' not in peer else
                                 ratio * warm_s / ours['float32']['median_s'],
                                 compare(task, peer, ours['float32'])))
  for library, outcome in (('cca_zoo', peer), ('crossjax', ours)):
    if outcome['warnings']:
      notes.append(f'{library} warned: ' + '; '.join(outcome['warnings']))
  return {'task': task.label, 'name': task.name, 'shape': task.shape, 'cca_zoo_s': peer_s,
          'cca_zoo_s_by_openblas_threads': by_threads,
          'crossjax_first_call_s': ours['first_call_s'], 'crossjax_warm_s': warm_s,
          'crossjax_float32_warm_s': ours.get('float32', {}).get('median_s'),
          'ratio': ratio, 'max_abs_correlation_difference': compare(task, peer, ours),
          'load_average_1min': loads, 'notes': '; '.join(notes)}


def main(argv):
  del argv
  runtime.limit_lapack_threads()
  started = time.perf_counter()
  folder = pathlib.Path(_WORKDIR.value) / 'cca_zoo'
  folder.mkdir(parents=True, exist_ok=True)
  python = _PEER_PYTHON.value or bench_utils.cca_zoo_python()
  arrays = draw_data()
  np.savez(folder / 'data.npz', **arrays)
  tasks = build_tasks(arrays)
  if _TASKS.value:
    unknown = set(_TASKS.value) - {task.name for task in tasks}
    if unknown:
      raise app.UsageError(f'unknown --tasks {sorted(unknown)}; rows: '
                           + ', '.join(task.name for task in tasks))
    tasks = [task for task in tasks if task.name in _TASKS.value]
  with jax.enable_x64(True):
    arrays64 = {name: jnp.asarray(value) for name, value in arrays.items()}
  arrays32 = {name: jnp.asarray(value, jnp.float32) for name, value in arrays.items()}
  peer, ours, rows, loads = {}, {}, [], [os.getloadavg()[0]]
  gflops = [bench_utils.matmul_gflops()[0]]  # what the load leaves of the machine, before
  for task in tasks:
    peer_run = run_peer(python, folder, task)
    peer[task.name] = peer_run['tasks'][task.name]
    with jax.enable_x64(True):
      ours[task.name] = time_crossjax(task, arrays64)
    if task.float32:
      ours[task.name]['float32'] = time_crossjax(task, arrays32)
    print(f'crossjax {task.name}: first {ours[task.name]["first_call_s"]:.3f} s, median '
          f'{ours[task.name]["median_s"]:.3f} s', flush=True)
    loads.append(os.getloadavg()[0])
    rows.append(row(task, peer[task.name], ours[task.name], loads[-2:]))
  gflops.append(bench_utils.matmul_gflops()[0])  # and after
  machine = writer.provenance()
  version = peer_run['version']
  topic = f'crossjax beside cca_zoo {version}'
  if _TASKS.value:
    topic += f': {", ".join(task.name for task in tasks)} at ' + ', '.join(
        dict.fromkeys(task.shape for task in tasks))
  command = ' '.join(['./launch.sh bench cca_zoo'] + [
      arg for arg in sys.argv[1:] if not arg.startswith(('--workdir', '--update_benchmarks'))])
  results = {'machine': machine, 'cca_zoo': version, 'peer_numpy': peer_run['numpy'],
             'load_average_1min': loads, 'float32_matmul_gflops': gflops,
             'wall_s': time.perf_counter() - started, 'rows': rows, 'cca_zoo_raw': peer,
             'crossjax_raw': ours}
  markdown = '\n\n'.join([
      f'## {topic}',
      f'`{command}` (other sizes: defaults). Machine: {machine["cpu_count"]} CPU cores, '
      f'{machine["devices"]}; jax '
      f'{machine["jax"]} (LAPACK on one thread), cca_zoo {version} with NumPy '
      f'{peer_run["numpy"]} in its own virtualenv; commit {machine["commit"]}; '
      f'{machine["date"]}. The same float64 arrays (`crossjax.data.simulate`; for tensor CCA, '
      'views of skewed latent factors, which Gaussian views lack) go to both libraries, task '
      'by task: cca_zoo first, in its own process, after one untimed fit: median of '
      f'{_PEER_REPEATS.value} fits (one pass for the grid and the permutation test) under each '
      "of two OpenBLAS settings, alternating: the library's default threads and one thread "
      "(NumPy's and SciPy's OpenBLAS threads spin while idle: under load, the default ones "
      "measured up to 50x slower); cca_zoo's time is the faster setting's (both in the notes; "
      'the permutation test runs once, under the setting that fitted CCA faster); then '
      'crossjax in float64 on arrays already on the device, jitted: first call = compilation + '
      'run (caches cleared before each task), warm = median of '
      f'{_REPEATS.value} calls ({max(1, _REPEATS.value // 2)} for the grid, '
      f'{_PERM_REPEATS.value} for the permutation test); float32 (crossjax\'s default dtype): '
      'the warm median of the same fit on float32 copies, where given. Ratio = cca_zoo s / '
      'crossjax float64 warm s. Correlations: per component, the Pearson correlation of the '
      "training scores averaged over pairs of views, by one function for both libraries' "
      'scores (float64); the largest absolute difference over the compared components. The '
      'machine is shared with other work: the load column is the 1-minute load average '
      f'(on {machine["cpu_count"]} cores) before and after the row; a jitted float32 matmul '
      f'(bench_utils.matmul_gflops) ran at {gflops[0]:.0f} GFLOP/s before the tasks and '
      f'{gflops[1]:.0f} after; the whole run took {results["wall_s"] / 60:.1f} min.',
      bench_utils.markdown_table(
          ['task', 'data (n x d), k', 'cca_zoo s', 'crossjax first call s', 'crossjax warm s',
           'crossjax float32 warm s', 'cca_zoo / crossjax', 'max abs corr diff', 'load',
           'notes'],
          [[r['task'], r['shape'], r['cca_zoo_s'], r['crossjax_first_call_s'],
            r['crossjax_warm_s'], r['crossjax_float32_warm_s'] or '-', r['ratio'],
            f'{r["max_abs_correlation_difference"]:.1e}',
            '{:.1f} -> {:.1f}'.format(*r['load_average_1min']), r['notes']] for r in rows])])
  bench_utils.write(_WORKDIR.value, 'cca_zoo', results, markdown)
  if _UPDATE_BENCHMARKS.value and (_UPDATE_BENCHMARKS.present or not _TASKS.value):
    bench_all.write_part(machine, topic, markdown)


if __name__ == '__main__':
  app.run(main)
