"""Benchmark: Deep CCA on MNIST halves, crossjax beside cca_zoo 4.0.1 (issue 12).

  ./launch.sh bench dcca_cca_zoo [--workdir=runs/bench] [--peer_python=PATH] [--epochs=12]
                                 [--objectives=dcca,dcca_newton_schulz] [--nopeer]

Writes runs/bench/dcca_cca_zoo.json and .md and BENCHMARKS.md's part '<hardware>: Deep CCA
beside cca_zoo' (not in `./launch.sh bench`). Meant for an accelerator; it runs on a CPU too.

The dcca_mnist config (encoders 392-1024-1024-50 ReLU, batch 500, Adam 2e-3, ridge 1e-3, 12
epochs), trained by both libraries and scored by one function
(`evaluate.post_hoc_correlations`: a linear CCA fitted on the training codes, the total
correlation of the top 50 on the test split, as Andrew et al. 2013):
- crossjax: `loop.train_and_evaluate` in this process, once per objective (`dcca`: Cholesky +
  SVD; `dcca_newton_schulz`: matmuls only), logging once per epoch (the training split in
  device memory, config.steps_per_dispatch steps per dispatch);
- cca_zoo: experiments/peer_cca_zoo_dcca.py in cca_zoo's interpreter (its DCCA Lightning
  module with the same MLP encoders, learning rate, batch, epochs and reg_covar = ridge;
  cca_zoo's own objective, minus the sum of squared correlations; see its docstring).
Training time: the wall time of the epochs, the first (compilation; CUDA warm-up for
PyTorch) apart from the other epochs. Then the train step alone at --step_batch_size (1000) for
each objective: dispatched one step at a time, back to back (`bench_utils.pure_step_seconds`),
and inside the training loop with --steps_per_dispatch steps per dispatch (the median
log interval of `bench_utils.loop_step_seconds`).

The peer's interpreter: --peer_python (on a lent GPU machine: its python3, which holds
PyTorch and Lightning, with cca-zoo and tensorly carried as wheels), else runs/cca_zoo_venv
with `cca-zoo[deep]` installed once (PyTorch from the registry: gigabytes).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import time

import numpy as np
from absl import app, flags

from crossjax import evaluate, runtime
from crossjax.configs import dcca_mnist
from crossjax.families import shared
from crossjax.train import loop, writer
from experiments import bench_all, bench_utils

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write dcca_cca_zoo.json/.md '
                               '(and the runs, under dcca_cca_zoo/).')
_PEER_PYTHON = flags.DEFINE_string('peer_python', '', "cca_zoo's interpreter (default: "
                                   'runs/cca_zoo_venv, made once).')
_PEER = flags.DEFINE_bool('peer', True, 'Train cca_zoo beside crossjax.')
_EPOCHS = flags.DEFINE_integer('epochs', 12, 'Training epochs of both libraries.')
_OBJECTIVES = flags.DEFINE_list('objectives', ['dcca', 'dcca_newton_schulz'],
                                "crossjax's Deep CCA objectives to train and time.")
_STEP_BATCH_SIZE = flags.DEFINE_integer('step_batch_size', 1000, 'Batch of the step timings.')
_STEP_STEPS = flags.DEFINE_integer('step_steps', 300, 'Steps of each step timing.')
_STEPS_PER_DISPATCH = flags.DEFINE_integer('steps_per_dispatch', 50,
                                           'Steps per dispatch of the in-loop step timing.')


def crossjax_config(objective: str, epochs: int, train_rows: int):
  config = dcca_mnist.get_config()
  config.objective.name = objective
  config.num_epochs = epochs
  steps_per_epoch = train_rows // config.batch_size
  config.log_every = steps_per_epoch
  config.checkpoint_every = config.eval_every = steps_per_epoch * epochs
  config.progress_bar = False
  config.evaluation.protocols = ()
  config.evaluation.linear_baseline = False
  return config


def interval_seconds(metrics_jsonl: pathlib.Path) -> list[float]:
  """Wall seconds of each logged training interval (here: each epoch)."""
  seconds, previous = [], 0
  for line in metrics_jsonl.read_text().splitlines():
    row = json.loads(line)
    if row['split'] == 'train':
      seconds.append((row['step'] - previous) / row['steps_per_second'])
      previous = row['step']
  return seconds


def epoch_summary(epoch_seconds: list[float], test_total: float) -> dict:
  return {'first_epoch_s': epoch_seconds[0], 'other_epochs_s': sum(epoch_seconds[1:]),
          'training_s': sum(epoch_seconds),
          'epoch_seconds': epoch_seconds, 'test_total_correlation': test_total}


def train_crossjax(objective: str, splits: dict, folder: pathlib.Path) -> dict:
  config = crossjax_config(objective, _EPOCHS.value, len(splits['train']['x1']))
  shutil.rmtree(folder, ignore_errors=True)
  results = loop.train_and_evaluate(config, str(folder), splits)
  summary = epoch_summary(interval_seconds(folder / 'metrics.jsonl'),
                          results['total_correlation']['test'])
  summary.update(steps=results['steps'], batch_size=config.batch_size,
                 steps_per_dispatch=config.steps_per_dispatch)
  return summary


def train_peer(python: str, splits: dict, folder: pathlib.Path) -> dict:
  config = dcca_mnist.get_config()
  folder.mkdir(parents=True, exist_ok=True)
  arrays = {f'{name}_{i}': np.asarray(view, np.float32)
            for name in ('train', 'test')
            for i, view in enumerate(shared.views_of(splits[name]), 1)}
  np.savez(folder / 'peer_data.npz', **arrays)
  spec = dict(widths=list(config.encoder.widths), n_components=config.output_dim,
              learning_rate=config.optimizer.learning_rate, ridge=config.objective.ridge,
              batch_size=config.batch_size, epochs=_EPOCHS.value, seed=config.seed)
  (folder / 'peer_spec.json').write_text(json.dumps(spec))
  out = folder / 'peer_codes.npz'
  script = bench_utils.ROOT / 'experiments' / 'peer_cca_zoo_dcca.py'
  subprocess.run([python, str(script), str(folder / 'peer_data.npz'),
                  str(folder / 'peer_spec.json'), str(out)], check=True)
  peer = dict(np.load(out))
  correlations = evaluate.post_hoc_correlations(
      [peer['train_1'], peer['train_2']], config.evaluation.k,
      test=[peer['test_1'], peer['test_2']])['test']
  summary = epoch_summary(peer['epoch_seconds'].tolist(), float(np.sum(correlations)))
  summary.update(fit_s=float(peer['fit_seconds']), versions=json.loads(str(peer['versions'])),
                 spec=spec)
  return summary


def step_timings(objective: str, splits: dict, folder: pathlib.Path) -> dict:
  """The train step at --step_batch_size: dispatched alone, and inside the loop."""
  config = dcca_mnist.get_config()
  config.objective.name = objective
  config.batch_size = _STEP_BATCH_SIZE.value
  config.progress_bar = False
  pure_s = bench_utils.pure_step_seconds(config, splits, _STEP_STEPS.value)
  config.num_steps = _STEP_STEPS.value
  config.log_every = config.steps_per_dispatch = _STEPS_PER_DISPATCH.value
  config.checkpoint_every = config.eval_every = _STEP_STEPS.value
  loop_s = bench_utils.loop_step_seconds(config, splits, folder)
  shutil.rmtree(folder, ignore_errors=True)
  return {'objective': objective, 'batch_size': config.batch_size, 'pure_step_s': pure_s,
          'loop_step_s': loop_s, 'steps_per_dispatch': config.steps_per_dispatch}


def main(argv):
  del argv
  runtime.limit_lapack_threads()
  started = time.perf_counter()
  folder = pathlib.Path(_WORKDIR.value) / 'dcca_cca_zoo'
  splits = loop.load_splits(dcca_mnist.get_config())
  runs = {}
  for objective in _OBJECTIVES.value:
    runs[objective] = train_crossjax(objective, splits, folder / objective)
    print(f'crossjax {objective}: {json.dumps(runs[objective])}', flush=True)
  peer = None
  if _PEER.value:
    peer = train_peer(_PEER_PYTHON.value or bench_utils.cca_zoo_python('deep'), splits,
                      folder / 'cca_zoo')
    print(f'cca_zoo: {json.dumps(peer)}', flush=True)
  steps = [step_timings(objective, splits, folder / f'steps_{objective}')
           for objective in _OBJECTIVES.value]
  for row in steps:
    print(f'step: {json.dumps(row)}', flush=True)
  machine = writer.provenance()
  results = {'machine': machine, 'crossjax': runs, 'cca_zoo': peer, 'steps': steps,
             'wall_s': time.perf_counter() - started}
  trained = [[f'crossjax, {objective}', run] for objective, run in runs.items()]
  if peer:
    versions = peer['versions']
    trained.append([f'cca_zoo {versions["cca_zoo"]} (torch {versions["torch"]}, Lightning '
                    f'{versions["lightning"]})', peer])
  reference = runs[_OBJECTIVES.value[0]]['other_epochs_s']
  markdown = '\n\n'.join([
      '## Deep CCA on MNIST halves beside cca_zoo',
      f'`./launch.sh bench dcca_cca_zoo --epochs={_EPOCHS.value}`. Device: '
      f'{machine["devices"][0]} ({machine["device_kind"]}, {machine["cpu_count"]} CPU cores); '
      f'jax {machine["jax"]}; commit {machine["commit"]}; {machine["date"]}. The dcca_mnist '
      'config (encoders 392-1024-1024-50 ReLU, batch 500, Adam 2e-3, ridge 1e-3) for '
      f'{_EPOCHS.value} epochs in both libraries, each with its own objective (cca_zoo: minus '
      'the sum of squared correlations; crossjax: the sum of correlations, by Cholesky + SVD or '
      "by Newton-Schulz matmuls); both scored by crossjax's linear CCA on the training codes "
      '(test total correlation of the top 50). Epoch times are wall times of the training loop '
      '(evaluation and checkpoints apart); the first epoch holds compilation (crossjax) or CUDA '
      'warm-up (PyTorch). cca_zoo runs as its docstring shows: a DataLoader of shuffled '
      "in-memory samples and a Lightning Trainer; crossjax's training split is in device "
      f'memory, {runs[_OBJECTIVES.value[0]]["steps_per_dispatch"]} steps per dispatch. Ratio: '
      'epochs 2 on / crossjax '
      f'{_OBJECTIVES.value[0]}\'s. The whole run took {results["wall_s"] / 60:.1f} min.',
      bench_utils.markdown_table(
          ['library, objective', 'first epoch s', f'epochs 2-{_EPOCHS.value} s',
           'training s', f'/ crossjax {_OBJECTIVES.value[0]}', 'test total correlation'],
          [[label, run['first_epoch_s'], run['other_epochs_s'], run['training_s'],
            run['other_epochs_s'] / reference, run['test_total_correlation']]
           for label, run in trained]),
      f'The train step at batch {_STEP_BATCH_SIZE.value} (same network): dispatched alone, '
      f'back to back (median of {_STEP_STEPS.value} steps after 3 warm-ups), and inside the '
      f'training loop with {_STEPS_PER_DISPATCH.value} steps per dispatch (median log '
      'interval, the compiling and the last interval left out).',
      bench_utils.markdown_table(
          ['objective', 'batch', 'step alone ms', 'in the loop ms per step'],
          [[row['objective'], row['batch_size'], 1e3 * row['pure_step_s'],
            1e3 * row['loop_step_s']] for row in steps])])
  bench_utils.write(_WORKDIR.value, 'dcca_cca_zoo', results, markdown)
  bench_all.write_part(machine, 'Deep CCA beside cca_zoo', markdown)


if __name__ == '__main__':
  app.run(main)
