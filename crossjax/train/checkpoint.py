"""The one checkpoint wrapper: orbax CheckpointManager for the latest and the best states.

Saves are asynchronous (the device-to-host copy happens before `save` returns, the writing in
the background), every N steps and at the end, keeping `max_to_keep`. The best state by a
validation metric is kept apart under best/. Restoring goes into an abstract, sharded state; a
checkpoint that cannot be read (a kill while writing, a truncated file) is skipped with a
warning and deleted, and the previous one is used.
"""

from __future__ import annotations

import logging
import os

import jax
import orbax.checkpoint as ocp

from crossjax.train.state import TrainState


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                      tree)


class Checkpointer:
  """Latest checkpoints under `directory`/latest, the best one under `directory`/best."""

  def __init__(self, directory: str, max_to_keep: int = 3, best_metric: str = '',
               best_mode: str = 'max'):
    directory = os.path.abspath(directory)
    for kind in ('latest', 'best'):
      folder = os.path.join(directory, kind)
      half_written = sorted(name for name in (os.listdir(folder) if os.path.isdir(folder) else [])
                            if '.orbax-checkpoint-tmp' in name)
      if half_written:
        logging.warning('skipping half-written checkpoints in %s (a run stopped while saving): '
                        '%s', folder, ', '.join(half_written))
    self.latest = ocp.CheckpointManager(
        os.path.join(directory, 'latest'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix='latest')))
    self.best_metric = best_metric
    self.best = None
    if best_metric:
      self.best = ocp.CheckpointManager(
          os.path.join(directory, 'best'),
          options=ocp.CheckpointManagerOptions(
              max_to_keep=1, create=True, cleanup_tmp_directories=True,
              best_fn=lambda metrics: metrics[best_metric], best_mode=best_mode,
              # Both managers may save one step at once: their barriers need distinct names.
              multiprocessing_options=ocp.options.MultiprocessingOptions(
                  barrier_sync_key_prefix='best')))

  def save(self, state: TrainState) -> None:
    """Starts an asynchronous save of `state` at its step."""
    self.latest.save(int(state.step), args=ocp.args.StandardSave(state.checkpointed()),
                     force=True)

  def save_best(self, state: TrainState, metrics: dict) -> None:
    """Keeps `state` under best/ if `metrics[best_metric]` beats the kept one."""
    if self.best is not None:
      self.best.save(int(state.step), args=ocp.args.StandardSave(state.checkpointed()),
                     metrics={self.best_metric: float(metrics[self.best_metric])}, force=True)

  def restore_latest(self, state: TrainState) -> TrainState | None:
    """The newest readable checkpoint restored into `state`'s shapes and shardings, or None.

    Best checkpoints after the resumed step are dropped: the run recomputes those steps.
    """
    target = _abstract(state.checkpointed())
    restored = None
    for step in sorted(self.latest.all_steps(), reverse=True):
      try:
        restored = state.replace(**self.latest.restore(step,
                                                       args=ocp.args.StandardRestore(target)))
        break
      except Exception as error:  # pylint: disable=broad-except
        logging.warning('checkpoint at step %d cannot be read (%s: %s); deleting it and '
                        'trying the previous one', step, type(error).__name__, error)
        self.latest.delete(step)
    resumed_step = 0 if restored is None else int(restored.step)
    if self.best is not None:
      for step in self.best.all_steps():
        if step > resumed_step:
          self.best.delete(step)
    return restored

  def restore_best(self, state: TrainState) -> TrainState | None:
    """The kept best state (by the validation metric) restored into `state`'s shapes and
    shardings, or None where none was kept."""
    step = self.best.best_step() if self.best is not None else None
    if step is None:
      return None
    target = _abstract(state.checkpointed())
    return state.replace(**self.best.restore(step, args=ocp.args.StandardRestore(target)))

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def wait(self) -> None:
    self.latest.wait_until_finished()
    if self.best is not None:
      self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    if self.best is not None:
      self.best.close()
