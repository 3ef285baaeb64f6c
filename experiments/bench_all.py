"""Every benchmark in one run, and BENCHMARKS.md from their tables.

  ./launch.sh bench            linear CCA fit, Deep CCA step, every model's step -> BENCHMARKS.md

Each benchmark runs in its own process (one at a time, so they do not compete for the cores)
and writes JSON and Markdown to runs/bench/; BENCHMARKS.md joins the Markdown tables.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = (('linear', 'linear'), ('dcca', 'dcca_float32'), ('steps', 'steps'))


def main() -> int:
  workdir = ROOT / 'runs' / 'bench'
  sections = []
  for module, output in BENCHMARKS:
    print(f'== bench {module}', flush=True)
    status = subprocess.run([sys.executable, '-m', f'experiments.bench_{module}',
                             f'--workdir={workdir}'], cwd=ROOT, check=False).returncode
    if status:
      return status
    sections.append((workdir / f'{output}.md').read_text().strip())
  (ROOT / 'BENCHMARKS.md').write_text(
      '# Benchmarks\n\nWritten by `./launch.sh bench` (the JSON beside each table is in '
      'runs/bench/). Every ratio compares numbers measured in the same run.\n\n'
      + '\n\n'.join(sections) + '\n')
  print(f'Wrote {ROOT / "BENCHMARKS.md"}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
