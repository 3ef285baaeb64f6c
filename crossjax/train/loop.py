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
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from crossjax import data, families, figures, runtime
from crossjax.train import parallel, steps, writer
from crossjax.train.checkpoint import Checkpointer
from crossjax.train.preemption import Preempted, StopRequests
from crossjax.train.state import TrainState, create_state


class NonFiniteError(RuntimeError):
  """A NaN or Inf metric: the run stops and the last good checkpoint is kept."""


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
    runtime.release_free_memory()  # what training freed, before the evaluation's arrays
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
  return data.load(config.data, missing=families.missing_views(family, config))


def check_schedule(config: ml_collections.ConfigDict) -> None:
  """Refuses a training length or learning rate that cannot train (before anything runs)."""
  if config.num_steps < 0 or (config.num_steps == 0 and config.num_epochs <= 0):
    raise ValueError(f'nothing to train: num_epochs={config.num_epochs}, '
                     f'num_steps={config.num_steps}; give num_epochs >= 1 or num_steps >= 1')
  if config.get('evaluate_checkpoint', 'final') not in ('final', 'best'):
    raise ValueError(f"evaluate_checkpoint must be 'final' or 'best', got "
                     f'{config.evaluate_checkpoint!r}')
  sections = (config.optimizer.values() if 'learning_rate' not in config.optimizer
              else [config.optimizer])
  for section in sections:
    if section.learning_rate <= 0:
      raise ValueError(f'learning_rate must be positive, got {section.learning_rate}')


def resolve_batch_size(config: ml_collections.ConfigDict, num_examples: int,
                       num_devices: int) -> int:
  """config.batch_size, or where it is 0 the largest batch up to DEFAULT_BATCH_SIZE that the
  training rows allow. A global batch takes the same number of rows from each of the
  data.num_shards shards and divides over the `num_devices` devices; an explicit batch that
  cannot is refused."""
  shards = config.data.num_shards
  unit = int(np.lcm(shards, num_devices))
  # Every shard holds at least num_examples // shards rows.
  limit = shards * (num_examples // shards)
  if config.batch_size:
    if config.batch_size > limit:
      raise ValueError(f'batch size {config.batch_size} is larger than the {num_examples} '
                       f'training rows allow ({limit}, as {shards} data shards of equal share): '
                       'lower batch_size (0 picks one)')
    if config.batch_size % unit:
      raise ValueError(f'batch size {config.batch_size} must be a multiple of {unit} (the '
                       f'{shards} data shards and the {num_devices} devices)')
    return config.batch_size
  size = min(DEFAULT_BATCH_SIZE, limit) // unit * unit
  if size == 0:
    raise ValueError(f'{num_examples} training rows are too few for a batch spread over '
                     f'{shards} data shards and {num_devices} devices')
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
  mesh = parallel.data_mesh(config.get('num_devices', 0))
  config.batch_size = resolve_batch_size(config, num_examples, mesh.size)
  if hasattr(family, 'resolve'):
    family.resolve(config, splits)
  batches = data.ShardedBatches(train_split, config.seed, config.batch_size,
                                config.data.num_shards,
                                parallel.process_shards(config.data.num_shards),
                                prefetch=config.data.get('prefetch', 0),
                                shuffle=config.data.get('shuffle', 'rows'),
                                block_rows=config.data.get('block_rows', 512),
                                window_blocks=config.data.get('window_blocks', 8))
  total_steps = config.num_steps or config.num_epochs * batches.steps_per_epoch
  init_key, state_key = jax.random.split(jax.random.PRNGKey(config.seed))
  model, players = family.build(config, batches.local_batch(0), init_key, modules)
  state = create_state(model, players, family.optimizers(config, total_steps), state_key)
  state = jax.device_put(state, parallel.replicated(mesh))
  return config, family, batches, total_steps, state, mesh


def _next_boundary(step: int, capacity: int, config, eval_every: int, total_steps: int) -> int:
  """The step a dispatch from `step` runs to: `capacity` steps, cut at the next log,
  evaluation or checkpoint step (so these fall between dispatches) and at the end."""
  end = min(step + capacity, total_steps)
  for every in (config.log_every, eval_every, config.checkpoint_every):
    end = min(end, (step // every + 1) * every)
  return end


# Host memory for the batches of one dispatch read on the host (a view larger than memory).
STREAMED_BYTES = 64 << 20


def _convolves(step_fn, state, batch) -> bool:
  """Whether `step_fn(state, batch)` computes a convolution (its jaxpr, sub-jaxprs included).
  Traced only where a parameter has 3 or more axes (a convolution's kernel; dense layers have
  2): an MLP's step is not traced twice."""
  if all(np.ndim(leaf) < 3 for leaf in jax.tree.leaves(state.params)):
    return False

  def walk(jaxpr) -> bool:
    for equation in jaxpr.eqns:
      if equation.primitive.name == 'conv_general_dilated':
        return True
      for value in equation.params.values():
        for inner in value if isinstance(value, (tuple, list)) else (value,):
          inner = getattr(inner, 'jaxpr', inner)  # a ClosedJaxpr's Jaxpr
          if hasattr(inner, 'eqns') and walk(inner):
            return True
    return False

  return walk(jax.make_jaxpr(step_fn)(state, batch).jaxpr)


def _dispatcher(config, family, batches: data.ShardedBatches, mesh, state):
  """(run_steps, stacked, capacity, description): run_steps(state, step, count) trains steps
  step .. step + count - 1 (count <= capacity) and returns (state, metrics on the device),
  stacked on a leading axis of capacity where `stacked`.

  steps_per_dispatch = 1 (and on a CPU for a step with convolutions): one jitted step per batch read
  on the host. Above 1: one compiled loop of up to that many steps per dispatch
  (`steps.gathered_steps`, `steps.streamed_steps`), equal to as many single steps. Its batches are
  gathered on the devices from the training split placed there once, where that takes at most
  data.device_budget_gib per device and the shards divide over the devices; otherwise they are read
  on the host and sent together (as many as fit in STREAMED_BYTES).
  """
  replicated = parallel.replicated(mesh)
  capacity = config.get('steps_per_dispatch', 1)
  single_why = ''
  if capacity > 1 and jax.default_backend() == 'cpu' and _convolves(family.train_step, state,
                                                                     batches.local_batch(0)):
    capacity, single_why = 1, (': a convolution inside an XLA loop runs ~6x slower on a CPU '
                               '(jax-ml/jax#12868)')
  if capacity <= 1:
    single = jax.jit(family.train_step, donate_argnums=0, out_shardings=replicated)

    def run_single(state, step, count):
      del count  # always 1: _next_boundary
      return single(state, parallel.global_batch(batches.local_batch(step), mesh,
                                                 config.batch_size))

    return run_single, False, 1, 'one step per dispatch, batches read on the host' + single_why
  num_shards = config.data.num_shards
  per_device = batches.resident_bytes() / len(mesh.local_devices)
  budget = config.data.get('device_budget_gib', 0.0) * 2**30
  if per_device <= budget and num_shards % mesh.size == 0:
    shards = {key: parallel.global_along(value, mesh, 0, num_shards)
              for key, value in batches.stacked_shards().items()}
    gathered = jax.jit(steps.gathered_steps(family.train_step, parallel.batch_sharded(mesh)),
                       donate_argnums=0, out_shardings=(replicated, replicated))

    def run_gathered(state, step, count):
      positions = np.zeros((capacity, len(batches.owned), batches.per_shard), np.int32)
      positions[:count] = batches.positions(step, count)
      return gathered(state, count, shards,
                      parallel.global_along(positions, mesh, 1, num_shards))

    return run_gathered, True, capacity, (
        f'up to {capacity} steps per dispatch, the training split in device memory '
        f'({per_device / 2**20:.0f} MiB per device)')
  streamed = jax.jit(steps.streamed_steps(family.train_step), donate_argnums=0,
                     out_shardings=(replicated, replicated))
  # Batches read on the host are stacked and sent together: at most STREAMED_BYTES of them.
  capacity = max(1, min(capacity, STREAMED_BYTES // batches.batch_bytes()))

  def run_streamed(state, step, count):
    local = [batches.local_batch(ahead) for ahead in range(step, step + count)]
    stacked = {}
    for key, first in local[0].items():
      value = np.zeros((capacity,) + first.shape, first.dtype)
      value[:count] = [batch[key] for batch in local]
      stacked[key] = parallel.global_along(value, mesh, 1, config.batch_size)
    return streamed(state, count, stacked)

  why = ('over data.device_budget_gib' if per_device > budget else
         f'{num_shards} data shards do not divide over {mesh.size} devices')
  return run_streamed, True, capacity, (
      f'up to {capacity} steps per dispatch, batches read on the host (the training split in '
      f'device memory would take {per_device / 2**20:.0f} MiB per device: {why})')


def _per_step(dispatches, stacked: bool) -> list[tuple[int, dict]]:
  """(step, metrics) pairs from dispatches' (first step, end, metrics) on the host, metrics
  stacked on a leading axis where steps_per_dispatch > 1."""
  history = []
  for step, end, metrics in dispatches:
    if not stacked:
      history.append((end, metrics))
      continue
    history += [(done, jax.tree.map(lambda value, i=done - step - 1: value[i], metrics))
                for done in range(step + 1, end + 1)]
  return history


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

  run_steps, stacked, capacity, dispatch = _dispatcher(config, family, batches, mesh, state)
  eval_fn = jax.jit(families.validation_step(family, config))
  tune = splits['tune']
  tune_batch = {key: np.asarray(tune[key][:config.eval_examples])
                for key in family.batch_keys(tune)}
  eval_every = config.eval_every or config.checkpoint_every
  if jax.process_index() == 0 and config.progress_bar:
    print(f'Training: {dispatch}', flush=True)
  bar = tqdm(total=total_steps, initial=start, unit='step', dynamic_ncols=True,
             disable=jax.process_index() != 0 or not config.progress_bar)
  pending, clock, clock_step, train_seconds = [], time.perf_counter(), start, 0.0
  with StopRequests(start, total_steps) as stop, contextlib.closing(batches):
    done = start
    while done < total_steps:
      step = done
      done = _next_boundary(step, capacity, config, eval_every, total_steps)
      state, metrics = run_steps(state, step, done - step)
      pending.append((step, done, metrics))
      last = done == total_steps
      log_now = done % config.log_every == 0 or last
      eval_now = done % eval_every == 0 or last
      # Asked once per dispatch: every process stops at the same step, and a stop comes with a
      # save.
      stopping = stop.reached(done)
      save_now = done % config.checkpoint_every == 0 or last or stopping
      if not (log_now or eval_now or save_now):
        continue
      history = _per_step(jax.device_get(pending), stacked)
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
        raise Preempted(stop.signum, done)
      clock, clock_step = time.perf_counter(), done
  bar.close()
  checkpoints.wait()
  evaluated = state
  if config.get('evaluate_checkpoint', 'final') == 'best':
    evaluated = checkpoints.restore_best(state) or state
  checkpoints.close()
  metric_writer.close()
  return TrainedRun(evaluated, splits, dict(
      steps=total_steps, train_seconds_this_run=train_seconds, num_train_examples=num_examples,
      resumed_from=start if restored is not None else None,
      evaluated_step=int(evaluated.step)), config)
