"""Benchmark: the training loop's overhead per step, one step per dispatch against several.

  ./launch.sh bench loop [--workdir=runs/bench] [--steps=300] [--rounds=2]

Writes BENCHMARKS.md's part '<hardware>: training loop' (not in `./launch.sh bench`).

For the demo config (Deep CCA on digits halves) and dcca_mnist (Deep CCA on MNIST halves):
the pure step time (the jitted, donated train step called back to back on batches already on
the device, synced once per interval: what the accelerator must spend anyway) and the loop's
time per step (`loop.train` in this process, from metrics.jsonl: the median log interval,
the first (compilation) and the last (evaluation, checkpoint) left out), for
- steps_per_dispatch=1 with data.device_budget_gib=0: a host batch per step (the loop before
  multi-step dispatch),
- steps_per_dispatch=K with the training split in device memory: K steps per dispatch, batches
  gathered on the device.
Overhead = loop time per step - pure step time; rounds alternate the two loops.
"""

from __future__ import annotations

import pathlib
import shutil
import statistics
import tempfile

from absl import app, flags

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write loop.json/.md.')
_STEPS = flags.DEFINE_integer('steps', 300, 'Training steps of each loop run.')
_LOG_EVERY = flags.DEFINE_integer('log_every', 20, 'Steps per timed log interval.')
_ROUNDS = flags.DEFINE_integer('rounds', 2, 'Rounds of (one step per dispatch, K steps).')
_K = flags.DEFINE_integer('steps_per_dispatch', 20, 'K of the multi-step loop.')
_CONFIGS = flags.DEFINE_list('configs', ['demo', 'dcca_mnist'], 'Configs to run.')


def main(argv):
  del argv
  import importlib  # pylint: disable=import-outside-toplevel
  from crossjax import runtime  # pylint: disable=import-outside-toplevel
  from crossjax.train import loop, writer  # pylint: disable=import-outside-toplevel
  from experiments import bench_all, bench_utils  # pylint: disable=import-outside-toplevel
  runtime.limit_lapack_threads()
  k, steps = _K.value, _STEPS.value
  rows = []
  scratch = pathlib.Path(tempfile.mkdtemp(prefix='bench_loop_'))
  for name in _CONFIGS.value:
    config = importlib.import_module(f'crossjax.configs.{name}').get_config()
    config.num_steps, config.log_every = steps, _LOG_EVERY.value
    config.checkpoint_every = config.eval_every = steps
    config.progress_bar = False
    splits = loop.load_splits(config)
    variants = {'1 step per dispatch, host batches': (1, 0.0),
                f'{k} steps per dispatch, data in device memory': (k, 2.0)}
    times = {label: [] for label in variants}
    pure = []
    for round_ in range(_ROUNDS.value):
      pure.append(bench_utils.pure_step_seconds(config, splits, steps))
      for label, (per_dispatch, budget) in variants.items():
        variant = config.copy_and_resolve_references()
        variant.steps_per_dispatch, variant.data.device_budget_gib = per_dispatch, budget
        times[label].append(
            bench_utils.loop_step_seconds(variant, splits, scratch / f'{name}_{round_}'))
        print(f'{name} round {round_}: {label}: {1e3 * times[label][-1]:.3f} ms per step '
              f'(pure step {1e3 * pure[-1]:.3f} ms)', flush=True)
    pure_s = statistics.median(pure)
    for label, measured in times.items():
      loop_s = statistics.median(measured)
      rows.append({'config': name, 'batch_size': config.batch_size, 'loop': label,
                   'pure_step_s': pure_s, 'loop_step_s': loop_s, 'overhead_s': loop_s - pure_s})
  shutil.rmtree(scratch, ignore_errors=True)
  for name in _CONFIGS.value:
    base, multi = [row for row in rows if row['config'] == name]
    multi['overhead_ratio'] = multi['overhead_s'] / base['overhead_s']
  machine = writer.provenance()
  markdown = '\n\n'.join([
      "## The training loop's overhead per step",
      f'`./launch.sh bench loop --steps={steps} --steps_per_dispatch={k}`. Device: '
      f'{machine["devices"][0]} ({machine["device_kind"]}, {machine["cpu_count"]} CPU cores); '
      f'jax {machine["jax"]}; commit {machine["commit"]}; {machine["date"]}. Pure step: the '
      'jitted, donated train step called back to back on batches on the device (median of '
      f'{_ROUNDS.value} rounds of {steps}). Loop: `loop.train` in the same process, the median '
      f'{_LOG_EVERY.value}-step log interval (the first, compiling, and the last, evaluating '
      'and saving, left out; median over rounds that alternate the two loops). Overhead: loop '
      'minus pure step.',
      bench_utils.markdown_table(
          ['config', 'batch', 'loop', 'pure step ms', 'loop ms per step', 'overhead ms',
           'overhead / one step per dispatch'],
          [[row['config'], row['batch_size'], row['loop'], 1e3 * row['pure_step_s'],
            1e3 * row['loop_step_s'], 1e3 * row['overhead_s'], row.get('overhead_ratio', 1.0)]
           for row in rows])])
  bench_utils.write(_WORKDIR.value, 'loop', {'machine': machine, 'rows': rows}, markdown)
  print(markdown)
  bench_all.write_part(machine, 'training loop', markdown)


if __name__ == '__main__':
  app.run(main)
