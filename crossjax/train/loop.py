"""The one training loop: `train_and_evaluate(config, workdir)`.

Data parallel over every device of every process (see `parallel`), resumable (see
`checkpoint`): batches are a pure function of (seed, epoch, step) and randomness of
(key, step), so a run killed at any step and started again with the same command ends with the
same parameters as an unbroken run. Host syncs happen only at log, eval and checkpoint steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from crossjax import data, figures
from crossjax.train import linear_fit, parallel, tasks, writer
from crossjax.train.checkpoint import Checkpointer
from crossjax.train.state import TrainState, create_state


class NonFiniteError(RuntimeError):
  """A NaN or Inf metric: the run stops and the last good checkpoint is kept."""


class Preempted(RuntimeError):
  """SIGTERM or SIGINT: a checkpoint was saved, the run stops; start it again to resume."""

  def __init__(self, signum: int, step: int):
    super().__init__(f'stopped by {signal.Signals(signum).name} at step {step}, checkpoint saved')
    self.signum = signum


@contextlib.contextmanager
def _stop_requests():
  """Records SIGTERM/SIGINT in the yielded dict instead of dying mid-step."""
  requests = {'signal': None}
  previous = {}

  def handler(signum, frame):
    del frame
    requests['signal'] = signum

  for signum in (signal.SIGTERM, signal.SIGINT):
    previous[signum] = signal.signal(signum, handler)
  try:
    yield requests
  finally:
    for signum, old in previous.items():
      signal.signal(signum, old)


def _check_finite(history, last_good: int | None) -> None:
  """Raises NonFiniteError at the first step with a NaN or Inf metric, naming them all."""
  for step, metrics in history:
    bad = {name: value for name, value in metrics.items() if not np.all(np.isfinite(value))}
    if bad:
      listed = ', '.join(f'{name}={value}' for name, value in
                         sorted(bad.items(), key=lambda item: item[0] != 'loss'))
      raise NonFiniteError(
          f'non-finite {listed} at step {step}: stopping. The last good checkpoint '
          f'({"none" if last_good is None else f"step {last_good}"}) is kept.')


def _mean(history) -> dict:
  return {name: float(np.mean([metrics[name] for _, metrics in history]))
          for name in history[-1][1]}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains `config.model` (resuming from workdir/checkpoints) and evaluates it on the test
  split. Writes config.json, metrics.jsonl, tensorboard/, checkpoints/ and results.json. The
  provenance is taken at the start: the commit of the code this process runs, whatever
  happens to the checkout while it trains."""
  if config.model in ('linear_cca', 'kernel_cca'):
    return linear_fit.fit_and_evaluate(config, workdir)
  started = time.perf_counter()
  provenance = writer.provenance()
  task = tasks.get(config.model)
  run = train(config, workdir)
  results = task.evaluate(parallel.local_copy(run.state), run.splits, config, workdir)
  results.update(model=config.model, dataset=config.data.name, **run.summary,
                 wall_seconds_this_run=time.perf_counter() - started, provenance=provenance)
  if jax.process_index() == 0:
    results['train_seconds_all_runs'] = writer.training_seconds(
        os.path.join(workdir, 'metrics.jsonl'))
  writer.write_json(workdir, 'results.json', results)
  if jax.process_index() == 0:
    figures.learning_curves(os.path.join(workdir, 'metrics.jsonl'), task.progress_metrics,
                            os.path.join(workdir, 'learning_curves.png'),
                            title=f'{config.model} on {config.data.name}')
  return results


@dataclasses.dataclass
class TrainedRun:
  """What `train` leaves: the final state (replicated), the dataset splits and a summary."""
  state: TrainState
  splits: dict
  summary: dict


def train(config: ml_collections.ConfigDict, workdir: str) -> TrainedRun:
  """Runs (or resumes, or, when workdir holds the final checkpoint, only restores) the
  training of `config.model` in `workdir`. Writes config.json, metrics.jsonl, tensorboard/
  and checkpoints/."""
  task = tasks.get(config.model)
  mesh = parallel.data_mesh()
  replicated = parallel.replicated(mesh)
  splits = data.load_dataset(config.data.name, config.data.path or None, config.data.seed)
  if config.data.get('standardize', False):
    splits = data.standardize(splits)
  if config.data.max_train_examples:
    splits['train'] = {k: v[:config.data.max_train_examples] for k, v in splits['train'].items()}
  train = {key: splits['train'][key] for key in task.batch_keys(splits['train'])}
  num_examples = len(next(iter(train.values())))
  parallel.check_batch_size(config.batch_size)
  batches = data.ShardedBatches(train, config.seed, config.batch_size, config.data.num_shards,
                                parallel.process_shards(config.data.num_shards))
  total_steps = config.num_steps or config.num_epochs * batches.steps_per_epoch

  init_key, state_key = jax.random.split(jax.random.PRNGKey(config.seed))
  model, players = task.build(config, batches.local_batch(0), init_key)
  state = create_state(model, players, task.optimizers(config, total_steps), state_key)
  state = jax.device_put(state, replicated)
  checkpoints = Checkpointer(os.path.join(workdir, 'checkpoints'), config.max_to_keep,
                             task.validation_metric, task.validation_mode)
  if checkpoints.latest_step() is not None:
    writer.check_resumed_config(config, workdir)
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    if jax.process_index() == 0:
      print(f'{"Restored the finished run" if int(state.step) == total_steps else "Resuming"} '
            f'from the checkpoint at step {int(state.step)} in {workdir}', flush=True)
  writer.write_config(config, workdir)
  start = int(state.step)
  metric_writer = writer.MetricWriter(workdir, resume_step=start if restored is not None else None)

  step_fn = jax.jit(task.train_step, donate_argnums=0, out_shardings=replicated)
  eval_fn = jax.jit(task.eval_step)
  tune = splits['tune']
  tune_batch = {key: tune[key][:config.eval_examples] for key in task.batch_keys(tune)}
  eval_every = config.eval_every or config.checkpoint_every
  bar = tqdm(total=total_steps, initial=start, unit='step', dynamic_ncols=True,
             disable=jax.process_index() != 0 or not config.progress_bar)
  pending, clock, clock_step, train_seconds = [], time.perf_counter(), start, 0.0
  with _stop_requests() as stop:
    for step in range(start, total_steps):
      batch = parallel.global_batch(batches.local_batch(step), mesh, config.batch_size)
      state, metrics = step_fn(state, batch)
      done = step + 1
      pending.append((done, metrics))
      last = done == total_steps
      log_now = done % config.log_every == 0 or last
      eval_now = done % eval_every == 0 or last
      # Read the flag once: a signal that lands later in this iteration is handled in the next,
      # so a stop always comes with a save.
      stopping = stop['signal'] is not None
      save_now = done % config.checkpoint_every == 0 or last or stopping
      if not (log_now or eval_now or save_now):
        continue
      history = jax.device_get(pending)
      pending = []
      _check_finite(history, checkpoints.latest_step())
      now = time.perf_counter()
      train_seconds += now - clock
      averages = _mean(history)
      averages['steps_per_second'] = (done - clock_step) / (now - clock)
      metric_writer.write(done, averages)
      bar.set_postfix({name: f'{averages[name]:.4g}' for name in task.progress_metrics},
                      refresh=False)
      bar.update(done - bar.n)
      if eval_now:
        validation = jax.device_get(eval_fn(parallel.local_copy(state), tune_batch))
        _check_finite([(done, validation)], checkpoints.latest_step())
        metric_writer.write(done, validation, split='tune')
        checkpoints.save_best(state, validation)
      if save_now:
        checkpoints.save(state)
      if stopping:
        checkpoints.wait()
        bar.close()
        raise Preempted(stop['signal'], done)
      clock, clock_step = time.perf_counter(), done
  bar.close()
  checkpoints.wait()
  checkpoints.close()
  metric_writer.close()
  return TrainedRun(state, splits, dict(
      steps=total_steps, train_seconds_this_run=train_seconds, num_train_examples=num_examples,
      resumed_from=start if restored is not None else None))
