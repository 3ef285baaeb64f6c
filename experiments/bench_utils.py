"""Shared benchmark helpers: timing with warm-up and medians, JSON and Markdown output."""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Callable, Sequence

import jax


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
