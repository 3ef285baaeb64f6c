"""Every benchmark in one run, and BENCHMARKS.md from their tables.

  ./launch.sh bench            linear CCA fit, Deep CCA step, every model's step -> BENCHMARKS.md

Each benchmark runs in its own process (one at a time, so they do not compete for the cores)
and writes JSON and Markdown to runs/bench/. BENCHMARKS.md holds one part per hardware
("## On 2 CPU cores", "## On NVIDIA H100 80GB HBM3", ...): a run replaces the part of the
hardware it ran on and keeps the others.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = (('linear', 'linear'), ('dcca', 'dcca_float32'), ('steps', 'steps'))
PART = '## On '  # the heading of a hardware's part of BENCHMARKS.md
PREAMBLE = ('# Benchmarks\n\nWritten by `./launch.sh bench`, one part per hardware it ran on (the '
            'JSON beside each table is in runs/bench/ of that run). Every ratio compares numbers '
            'measured in the same run.\n')


def hardware(machine: dict) -> str:
  """'2 CPU cores' on a CPU, else the accelerator's name (from a benchmark's provenance)."""
  if machine['device_kind'] == 'cpu':
    return f'{machine["cpu_count"]} CPU cores'
  return f'{len(machine["devices"])} x {machine["device_kind"]}'


def merge_part(document: str, title: str, body: str) -> str:
  """BENCHMARKS.md with the part headed `PART + title` replaced by (or extended with) body."""
  parts, current = {}, None
  for line in document.splitlines():
    if line.startswith(PART):
      current = line[len(PART):].strip()
      parts[current] = []
    elif current is not None:
      parts[current].append(line)
  parts[title] = body.strip().splitlines()
  return PREAMBLE + ''.join(f'\n{PART}{name}\n\n' + '\n'.join(lines).strip() + '\n'
                            for name, lines in parts.items())


def write_part(machine: dict, topic: str, markdown: str) -> pathlib.Path:
  """Puts a benchmark run apart from `./launch.sh bench` into BENCHMARKS.md, as the part
  '<hardware>: <topic>' (its '## ' headings become '### ')."""
  body = '\n'.join('#' + line if line.startswith('#') else line for line in markdown.splitlines())
  path = ROOT / 'BENCHMARKS.md'
  path.write_text(merge_part(path.read_text() if path.exists() else '',
                             f'{hardware(machine)}: {topic}', body))
  print(f'Wrote {path}')
  return path


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
  machine = json.loads((workdir / 'steps.json').read_text())['machine']
  # Each benchmark's '## ' headings become '### ' under the hardware's part.
  body = '\n\n'.join('\n'.join('#' + line if line.startswith('#') else line
                                for line in section.splitlines()) for section in sections)
  path = ROOT / 'BENCHMARKS.md'
  path.write_text(merge_part(path.read_text() if path.exists() else '', hardware(machine), body))
  print(f'Wrote {ROOT / "BENCHMARKS.md"}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
