"""Metrics to workdir/metrics.jsonl and TensorBoard event files, from process 0 only."""

from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np
from flax import traverse_util


# The records that runs and benchmarks write into the tree: changes to them alone leave a
# commit clean (one benchmark's part written into BENCHMARKS.md does not taint the next).
RECORDS = ('BENCHMARKS.md', 'RESULTS.md', 'results/')


def provenance() -> dict:
  """Where and from what a result came: git commit (with '+dirty' for uncommitted changes to
  tracked files other than the RECORDS; uncommitted_files names them all; $CROSSJAX_COMMIT
  instead where set, for a tree copied without its git state), devices, CPU count, JAX version
  and the date."""
  import platform  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel

  def git(*args):
    try:
      return subprocess.run(['git', *args], capture_output=True, text=True, check=False,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
      return ''

  commit, uncommitted = os.environ.get('CROSSJAX_COMMIT', ''), []
  if not commit:
    commit = git('rev-parse', '--short', 'HEAD')
    uncommitted = [line.split(maxsplit=1)[1] for line in
                   git('status', '--porcelain', '--untracked-files=no').splitlines()]
    if commit and any(not path.startswith(RECORDS) for path in uncommitted):
      commit += '+dirty'
  return {'commit': commit, 'uncommitted_files': uncommitted, 'cpu_count': os.cpu_count(),
          'processor': platform.processor(),
          'devices': [str(d) for d in jax.devices()],
          'device_kind': jax.devices()[0].device_kind, 'jax': jax.__version__,
          'date': time.strftime('%Y-%m-%d %H:%M:%S')}


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes the resolved config (after command-line overrides) as workdir/config.json."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'config.json'), 'w') as file:
      file.write(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')


# Config keys a resumed run may change: where the data lives and how far it is read ahead,
# logging, checkpoint cadence, the devices (the global batch decides the numbers), the progress
# bar and the evaluation after training. Any other change trains another experiment.
RESUMABLE_CHANGES = ('data.path', 'data.prefetch', 'data.device_budget_gib', 'log_every',
                     'checkpoint_every', 'steps_per_dispatch', 'num_devices', 'max_to_keep',
                     'progress_bar', 'evaluate_checkpoint', 'evaluation')
# Keys added since runs were first written, with the value that trains as those runs did:
# absent in a run's config.json, they may be resumed with that value.
ADDED_KEYS = {'data.shuffle': 'rows', 'data.block_rows': 512, 'data.window_blocks': 8,
              'gan.noise_distribution': 'normal', 'gan.generator_branch_activation': 'leaky_relu'}
# The same for a key of any network section (encoder.kernel_init, decoder.output_kernel_init).
ADDED_NETWORK_KEYS = {'kernel_init': 'lecun_normal', 'output_kernel_init': 'lecun_normal',
                      'input_dropout': 0.0}


def _added_default(key: str, absent):
  field = key.rsplit('.', 1)[-1]
  return ADDED_KEYS.get(key, ADDED_NETWORK_KEYS.get(field, absent) if '.' in key else absent)


def check_resumed_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises ValueError where checkpoints in workdir are resumed under a config that differs from
  the one that wrote them (workdir/config.json) in more than RESUMABLE_CHANGES: the run would
  otherwise go on as another experiment, silently."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path) as file:
    before = traverse_util.flatten_dict(json.load(file), sep='.')
  now = traverse_util.flatten_dict(json.loads(config.to_json_best_effort()), sep='.')
  absent = '(absent)'
  changed = [f'{key}: {before.get(key, absent)!r} -> {now.get(key, absent)!r}'
             for key in sorted(before.keys() | now.keys())
             if before.get(key, _added_default(key, absent)) != now.get(key, absent)
             and not any(key == allowed or key.startswith(allowed + '.')
                         for allowed in RESUMABLE_CHANGES)]
  if changed:
    raise ValueError(f'{workdir} holds checkpoints of a run with another config ('
                     + '; '.join(changed) + '): use another --workdir, or delete '
                     f'{os.path.join(workdir, "checkpoints")} to start over')


def write_json(workdir: str, name: str, content: dict) -> None:
  """Writes workdir/name as indented JSON (process 0 only)."""
  if jax.process_index() == 0:
    with open(os.path.join(workdir, name), 'w') as file:
      json.dump(content, file, indent=2)


class MetricWriter:
  """Appends one JSON line per (step, split) and TensorBoard scalars; silent elsewhere than
  process 0. On resume at step s, lines after s (from the interrupted run) are dropped."""

  def __init__(self, workdir: str, resume_step: int | None):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, 'metrics.jsonl')
    kept = []
    if resume_step is not None and os.path.exists(self.path):
      with open(self.path) as file:
        kept = [line for line in file if json.loads(line)['step'] <= resume_step]
    with open(self.path, 'w') as file:
      file.writelines(kept)
    self.events = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, metrics: dict, split: str = 'train') -> None:
    if not self.enabled:
      return
    scalars = {name: float(np.mean(value)) for name, value in metrics.items()}
    with open(self.path, 'a') as file:
      file.write(json.dumps({'step': step, 'split': split, **scalars}) + '\n')
    for name, value in scalars.items():
      self.events.add_scalar(f'{split}/{name}', value, step)
    self.events.flush()

  def close(self) -> None:
    if self.enabled:
      self.events.close()


def training_seconds(metrics_jsonl: str) -> float:
  """Wall time spent training, summed over every log interval in metrics.jsonl (each train
  row holds its interval's steps per second), so it spans resumed runs too."""
  seconds, previous = 0.0, 0
  with open(metrics_jsonl) as file:
    for line in file:
      row = json.loads(line)
      if row['split'] == 'train' and row.get('steps_per_second'):
        seconds += (row['step'] - previous) / row['steps_per_second']
        previous = row['step']
  return seconds
