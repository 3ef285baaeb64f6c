"""Shared benchmark helpers: timing with warm-up and medians, JSON and Markdown output."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import time
from typing import Callable, Sequence

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
CCA_ZOO_VERSION = '4.0.1'


def measure(fn: Callable[[], object], repeats: int = 5) -> dict:
  """Times fn: the first call (compile + run) apart from the median of `repeats` warm calls."""
  return measure_alternating({'fn': fn}, repeats)['fn']


def measure_alternating(fns: dict[str, Callable[[], object]], repeats: int = 5) -> dict:
  """Times functions that do the same task, alternating their calls (A B A B ...) so that a
  shared machine's slow spells hit each of them alike. For each name: the first call (compile
  + run), the median of `repeats` warm calls and the warm times in order (`times_s`, round i of
  every name ran back to back)."""
  results = {}
  for name, fn in fns.items():
    start = time.perf_counter()
    jax.block_until_ready(fn())
    results[name] = {'first_call_s': time.perf_counter() - start, 'times_s': [],
                     'repeats': repeats}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn())
      results[name]['times_s'].append(time.perf_counter() - start)
  for timing in results.values():
    timing['median_s'] = statistics.median(timing['times_s'])
  return results


def matmul_gflops(repeats: int = 20) -> tuple[float, str]:
  """(median GFLOP/s, description) of a jitted float32 matmul: the reference for a step's
  achieved FLOP/s. 1000 x 1024 @ 1024 x 1024 on a CPU (the size of a Deep CCA layer); an
  accelerator needs 8192^3 to approach its peak (a small product measures launch overhead)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  m, k, n = (1000, 1024, 1024) if jax.default_backend() == 'cpu' else (8192, 8192, 8192)
  key = jax.random.PRNGKey(0)
  a = jax.random.uniform(key, (m, k), jnp.float32)
  b = jax.random.uniform(jax.random.fold_in(key, 1), (k, n), jnp.float32)
  product = jax.jit(lambda a, b: a @ b)
  gflops = 2 * m * k * n / measure(lambda: product(a, b), repeats)['median_s'] / 1e9
  return gflops, f'jitted float32 {m}x{k}x{n} matmul in this run: {gflops:.0f} GFLOP/s'


def median_step_seconds(compiled, state, batches: list, steps: int, warmup: int = 3):
  """Runs a compiled (state, batch) -> (state, metrics) step `warmup` times, then times
  `steps` more, cycling through `batches`. Returns (median seconds, last state, metrics)."""
  for i in range(warmup):
    state, metrics = compiled(state, batches[i % len(batches)])
  jax.block_until_ready(metrics)
  times = []
  for i in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batches[i % len(batches)])
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  return statistics.median(times), state, metrics


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
  def cell(value):
    return f'{value:.4g}' if isinstance(value, float) else str(value)
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines)


def write(workdir: str, name: str, results: dict, markdown: str) -> None:
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, f'{name}.json'), 'w') as file:
    json.dump(results, file, indent=2)
  with open(os.path.join(workdir, f'{name}.md'), 'w') as file:
    file.write(markdown + '\n')
  print(markdown)
  print(f'\nWrote {workdir}/{name}.json and {name}.md')


def cca_zoo_python(extra: str = '') -> str:
  """runs/cca_zoo_venv's interpreter, with cca-zoo[extra]==CCA_ZOO_VERSION installed once
  (cca_zoo never enters crossjax's environment); extra 'deep' brings PyTorch and Lightning."""
  venv = ROOT / 'runs' / 'cca_zoo_venv'
  python, stamp = venv / 'bin' / 'python', venv / '.cca_zoo-installed'
  requirement = f'cca-zoo{f"[{extra}]" if extra else ""}=={CCA_ZOO_VERSION}'
  if not python.exists():
    print(f'Creating {venv}', flush=True)
    subprocess.run(['python3', '-m', 'venv', str(venv)], check=True)
  installed = stamp.read_text().split() if stamp.exists() else []
  if requirement not in installed:
    print(f'Installing {requirement} into {venv}', flush=True)
    subprocess.run([str(python), '-m', 'pip', 'install', '-q', requirement], check=True)
    stamp.write_text(' '.join(installed + [requirement]))
  return str(python)


def pure_step_seconds(config, splits, steps: int) -> float:
  """Seconds per step of the jitted, donated train step alone, dispatched back to back on four
  batches already on the device (after 3 warm-up steps)."""
  from crossjax.train import loop, parallel  # pylint: disable=import-outside-toplevel
  # pylint: disable-next=protected-access
  config, family, batches, _, state, mesh = loop._setup(config, splits, None)
  device_batches = [parallel.global_batch(batches.local_batch(i), mesh, config.batch_size)
                    for i in range(4)]
  batches.close()
  step = jax.jit(family.train_step, donate_argnums=0, out_shardings=parallel.replicated(mesh))
  for i in range(3):
    state, metrics = step(state, device_batches[i % 4])
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = step(state, device_batches[i % 4])
  jax.block_until_ready(metrics)
  return (time.perf_counter() - start) / steps


def loop_step_seconds(config, splits, folder: pathlib.Path) -> float:
  """Seconds per step of `loop.train` in folder: the median log interval of its metrics.jsonl,
  the first (compiling) and the last (evaluating and saving) left out."""
  from crossjax.train import loop  # pylint: disable=import-outside-toplevel
  shutil.rmtree(folder, ignore_errors=True)
  loop.train(config, str(folder), splits)
  rows = [json.loads(line) for line in (folder / 'metrics.jsonl').read_text().splitlines()]
  rates = [row['steps_per_second'] for row in rows if row['split'] == 'train']
  return statistics.median(1 / rate for rate in rates[1:-1])
