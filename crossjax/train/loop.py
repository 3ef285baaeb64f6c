"""The one training loop: `train_and_evaluate(config, workdir)`, for every model family.

The family (`crossjax.families.get(config.model)`) says how to build, step and evaluate its
model; closed-form families are fitted in one call instead of trained.

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
import threading
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from crossjax import data, families, figures
from crossjax.train import parallel, writer
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
  if threading.current_thread() is not threading.main_thread():
    yield requests  # signals reach the main thread only (e.g. an estimator fitted in a thread)
    return

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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, splits: dict | None = None,
                       modules: dict | None = None) -> dict:
  """Trains (or fits) `config.model`, resuming from workdir/checkpoints, after the runs it
  needs (`family.prerequisites`), and evaluates it. `splits` replaces the config's dataset
  (arrays in memory); `modules` holds your own Flax modules (e.g. {'encoders': [...]}). Writes
  config.json, metrics.jsonl, tensorboard/, checkpoints/, results.json and figures. The
  provenance is taken at the start: the commit of the code this process runs, whatever happens
  to the checkout while it trains."""
  started = time.perf_counter()
  provenance = writer.provenance()
  family = families.get(config.model)
  if not families.is_closed_form(family):
    check_schedule(config)  # before the prerequisites train
  splits = splits if splits is not None else load_splits(config)
  for prerequisite, directory in family.prerequisites(config, workdir):
    train(prerequisite, directory)
  if families.is_closed_form(family):
    fit_started = time.perf_counter()
    params, results = family.fit(config, splits)
    jax.block_until_ready(params)
    results['fit_seconds'] = time.perf_counter() - fit_started
    writer.write_config(config, workdir)
    results.update(family.evaluate(params, splits, config, workdir))
    results['num_train_examples'] = len(splits['train'][_first_view(splits['train'])])
  else:
    run = train(config, workdir, splits, modules)
    config = run.config
    results = family.evaluate(parallel.local_copy(run.state), run.splits, config, workdir)
    results.update(**run.summary)
    if jax.process_index() == 0:
      results['train_seconds_all_runs'] = writer.training_seconds(
          os.path.join(workdir, 'metrics.jsonl'))
      figures.learning_curves(os.path.join(workdir, 'metrics.jsonl'), family.PROGRESS_METRICS,
                              os.path.join(workdir, 'learning_curves.png'),
                              title=f'{config.model} on {config.data.name}')
  results.update(model=config.model, dataset=config.data.name,
                 wall_seconds_this_run=time.perf_counter() - started, provenance=provenance)
  writer.write_json(workdir, 'results.json', results)
  return results


def _first_view(split: dict) -> str:
  return next(key for key in split if key != 'labels')


def load_splits(config: ml_collections.ConfigDict) -> dict:
  """The config's dataset (`data.load`), with the missing-view policy of its family."""
  family = families.get(config.model)
  return data.load(config.data, missing=family.MISSING_VIEWS)


def check_schedule(config: ml_collections.ConfigDict) -> None:
  """Refuses a training length or learning rate that cannot train (before anything runs)."""
  if config.num_steps < 0 or (config.num_steps == 0 and config.num_epochs <= 0):
    raise ValueError(f'nothing to train: num_epochs={config.num_epochs}, '
                     f'num_steps={config.num_steps}; give num_epochs >= 1 or num_steps >= 1')
  sections = (config.optimizer.values() if 'learning_rate' not in config.optimizer
              else [config.optimizer])
  for section in sections:
    if section.learning_rate <= 0:
      raise ValueError(f'learning_rate must be positive, got {section.learning_rate}')


def resolve_batch_size(config: ml_collections.ConfigDict, num_examples: int) -> int:
  """config.batch_size, or where it is 0 the largest batch up to DEFAULT_BATCH_SIZE that the
  training rows allow. A global batch takes the same number of rows from each of the
  data.num_shards shards and divides over the devices; an explicit batch that cannot is
  refused."""
  shards = config.data.num_shards
  unit = int(np.lcm(shards, jax.device_count()))
  # Every shard holds at least num_examples // shards rows.
  limit = shards * (num_examples // shards)
  if config.batch_size:
    if config.batch_size > limit:
      raise ValueError(f'batch size {config.batch_size} is larger than the {num_examples} '
                       f'training rows allow ({limit}, as {shards} data shards of equal share): '
                       'lower batch_size (0 picks one)')
    if config.batch_size % unit:
      raise ValueError(f'batch size {config.batch_size} must be a multiple of {unit} (the '
                       f'{shards} data shards and the {jax.device_count()} devices)')
    return config.batch_size
  size = min(DEFAULT_BATCH_SIZE, limit) // unit * unit
  if size == 0:
    raise ValueError(f'{num_examples} training rows are too few for a batch spread over '
                     f'{shards} data shards and {jax.device_count()} devices')
  return size


# The batch of configs that leave it to the data (batch_size = 0).
DEFAULT_BATCH_SIZE = 512


@dataclasses.dataclass
class TrainedRun:
  """What `train` leaves: the final state (replicated), the dataset splits, a summary, and the
  config with the sizes left to the data filled in."""
  state: TrainState
  splits: dict
  summary: dict
  config: ml_collections.ConfigDict


def _setup(config, splits, modules):
  """(resolved config, family, batches, total steps, fresh replicated state, mesh)."""
  family = families.get(config.model)
  check_schedule(config)
  train_split = {key: splits['train'][key] for key in family.batch_keys(splits['train'])}
  num_examples = len(next(iter(train_split.values())))
  config = config.copy_and_resolve_references()
  config.batch_size = resolve_batch_size(config, num_examples)
  if hasattr(family, 'resolve'):
    family.resolve(config, splits)
  mesh = parallel.data_mesh()
  batches = data.ShardedBatches(train_split, config.seed, config.batch_size,
                                config.data.num_shards,
                                parallel.process_shards(config.data.num_shards),
                                prefetch=config.data.get('prefetch', 0))
  total_steps = config.num_steps or config.num_epochs * batches.steps_per_epoch
  init_key, state_key = jax.random.split(jax.random.PRNGKey(config.seed))
  model, players = family.build(config, batches.local_batch(0), init_key, modules)
  state = create_state(model, players, family.optimizers(config, total_steps), state_key)
  state = jax.device_put(state, parallel.replicated(mesh))
  return config, family, batches, total_steps, state, mesh


def restore(config: ml_collections.ConfigDict, workdir: str) -> tuple[TrainState, dict]:
  """(final state, splits) of a finished run in workdir; refuses an unfinished one. For
  evaluations that use another trained model (the cGAN's judge): they never train it."""
  splits = load_splits(config)
  config, family, batches, total_steps, state, _ = _setup(config, splits, None)
  batches.close()
  checkpoints = Checkpointer(os.path.join(workdir, 'checkpoints'), config.max_to_keep,
                             family.VALIDATION_METRIC, family.VALIDATION_MODE)
  restored = checkpoints.restore_latest(state)
  checkpoints.close()
  if restored is None or int(restored.step) != total_steps:
    raise ValueError(f'{workdir} holds no finished {config.model} run: train it first '
                     f'(./launch.sh train with its config and --workdir={workdir})')
  return parallel.local_copy(restored), splits


def train(config: ml_collections.ConfigDict, workdir: str, splits: dict | None = None,
          modules: dict | None = None) -> TrainedRun:
  """Runs (or resumes, or, when workdir holds the final checkpoint, only restores) the
  training of `config.model` in `workdir`. Writes config.json, metrics.jsonl, tensorboard/
  and checkpoints/; nothing before the data and settings have been checked."""
  splits = splits if splits is not None else load_splits(config)
  config, family, batches, total_steps, state, mesh = _setup(config, splits, modules)
  replicated = parallel.replicated(mesh)
  num_examples = sum(batches.sizes)
  checkpoints = Checkpointer(os.path.join(workdir, 'checkpoints'), config.max_to_keep,
                             family.VALIDATION_METRIC, family.VALIDATION_MODE)
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

  step_fn = jax.jit(family.train_step, donate_argnums=0, out_shardings=replicated)
  eval_fn = jax.jit(family.eval_step)
  tune = splits['tune']
  tune_batch = {key: np.asarray(tune[key][:config.eval_examples])
                for key in family.batch_keys(tune)}
  eval_every = config.eval_every or config.checkpoint_every
  bar = tqdm(total=total_steps, initial=start, unit='step', dynamic_ncols=True,
             disable=jax.process_index() != 0 or not config.progress_bar)
  pending, clock, clock_step, train_seconds = [], time.perf_counter(), start, 0.0
  with _stop_requests() as stop, contextlib.closing(batches):
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
      bar.set_postfix({name: f'{averages[name]:.4g}' for name in family.PROGRESS_METRICS},
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
      resumed_from=start if restored is not None else None), config)
