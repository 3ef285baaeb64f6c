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
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return {'first_call_s': first, 'median_s': statistics.median(times), 'repeats': repeats}


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
