"""Stopping on SIGTERM or SIGINT: every process of a run stops at one step, saves it, and exits.

A signal reaches the processes of a run at different times, or only one of them (a scheduler's
SIGTERM to one host). A process that stopped alone would leave the others blocked in the next
step's collectives, and itself in the checkpoint's barriers. So the processes agree on a stop
step over the coordination service's key-value store, by the protocol of JAX's preemption sync
manager (`multihost_utils.reached_preemption_sync_point`, which knows SIGTERM only):

1. A process that receives a signal posts a notice. A watcher thread in each process sees its
   own signal at once (through `signal.set_wakeup_fd`, even while the main thread waits in a
   collective) and another's notice within POLL_S.
2. The watcher freezes its loop after the step it is dispatching, publishes that step, and
   reads every process's: the stop step is the largest. The loop waits only while frozen, so
   while no signal came a step costs one uncontended lock and no cross-process traffic.
3. At its last step every process publishes too (one exchange per run), so a signal at the end
   stops either every process or none.

One process needs no agreement: it stops after the step during which the signal came. A second
signal while stopping changes nothing. JAX's own SIGTERM notifier is switched off
(`parallel.initialize_distributed`): it would swallow a SIGTERM that comes before the loop.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import sys
import threading
import time

import jax

SIGNALS = (signal.SIGTERM, signal.SIGINT)
POLL_S = 0.25  # how often a watcher looks for another process's notice
AGREE_TIMEOUT_S = 120  # a signalled process that hears from no peer for this long exits alone

_runs = itertools.count()  # one key namespace per training loop of this process


class Preempted(RuntimeError):
  """SIGTERM or SIGINT: a checkpoint was saved, the run stops; start it again to resume."""

  def __init__(self, signum: int, step: int):
    super().__init__(f'stopped by {signal.Signals(signum).name} at step {step}, checkpoint saved')
    self.signum = signum


def _coordination_client():
  """The client of JAX's coordination service in a multi-process run, else None."""
  if jax.process_count() == 1:
    return None
  from jax._src import distributed  # pylint: disable=import-outside-toplevel
  return distributed.global_state.client


class StopRequests:
  """Records SIGTERM/SIGINT instead of dying mid-step; `reached(step)` says where to stop.

  A context manager around the loop over steps start + 1 .. total_steps: call `reached(done)`
  after each dispatch, `done` the steps done then; where it returns True, save and raise
  `Preempted(self.signum, done)`. A dispatch may run several steps if every process runs the
  same ones: all stop at the first `done` at or past the agreed step. Outside the main thread
  (an estimator fitted in a thread) signals cannot be caught and `reached` is always False.
  """

  def __init__(self, start: int, total_steps: int, timeout_s: float = AGREE_TIMEOUT_S):
    self._total = total_steps
    self._timeout_s = timeout_s
    self._prefix = f'crossjax/stop/{next(_runs)}/'
    self._received = None  # the first signal this process received
    self._agreed = None  # (stop step, signal) once the processes agree
    self._proposal = None  # the step this process published (then its loop is frozen)
    self._position = start  # the last step passed to `reached`
    self._condition = threading.Condition()
    self._closing = threading.Event()
    self._client = None
    self._previous = {}
    self._watcher = None

  @property
  def signum(self) -> int | None:
    """The signal to exit with: this process's own, else the one the others stopped for."""
    return self._received or (self._agreed[1] if self._agreed else None)

  def __enter__(self) -> 'StopRequests':
    if threading.current_thread() is not threading.main_thread():
      return self
    for signum in SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handler)
    self._client = _coordination_client()
    if self._client is not None:
      self._wakeup = os.pipe()
      os.set_blocking(self._wakeup[1], False)
      self._previous_wakeup = signal.set_wakeup_fd(self._wakeup[1], warn_on_full_buffer=False)
      self._watcher = threading.Thread(target=self._watch, name='crossjax-stop-watcher',
                                       daemon=True)
      self._watcher.start()
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, old in self._previous.items():
      signal.signal(signum, old)
    if self._watcher is not None:
      signal.set_wakeup_fd(self._previous_wakeup)
      self._closing.set()
      self._watcher.join()
      for fd in self._wakeup:
        os.close(fd)

  def _handler(self, signum, frame) -> None:
    del frame
    if self._received is None:  # a second signal while stopping changes nothing
      self._received = signum

  def reached(self, done: int) -> bool:
    """Whether the loop stops at step `done` (just dispatched). Waits only once a stop is
    being agreed, and at the last step of a multi-process run."""
    if self._client is None:
      return self._received is not None
    with self._condition:
      self._position = done
      if done < self._total and self._proposal is None:
        return False
    if done == self._total:
      self._agree(0)  # the last step: stop for a signal only if every process saw it
    with self._condition:
      while self._agreed is None:
        self._condition.wait(POLL_S)  # the watcher agrees, or ends the process
      return done >= self._agreed[0]

  def _watch(self) -> None:
    """The watcher thread: waits for a signal here or a notice from another process, then
    agrees on the stop step. Where no agreement comes (a process died), this process exits
    alone, with 128 + the signal."""
    notice = f'{self._prefix}notice'
    signum = None
    try:
      while signum is None and not self._closing.is_set():
        if select.select([self._wakeup[0]], [], [], POLL_S)[0]:
          caught = [s for s in os.read(self._wakeup[0], 64) if s in SIGNALS]
          if caught:
            # Only the handler sets this process's own signal: it runs them in one order, so
            # Ctrl-C's SIGINT comes first even where launch.sh's SIGTERM reaches another
            # thread first.
            signum = self._received or caught[0]
            try:
              self._client.key_value_set(notice, str(signum))
            except jax.errors.JaxRuntimeError as error:
              if 'ALREADY_EXISTS' not in str(error):
                raise
            break
        try:
          signum = int(self._client.key_value_try_get(notice))
        except jax.errors.JaxRuntimeError as error:
          if 'NOT_FOUND' not in str(error):
            raise
      if signum is not None:
        self._agree(signum)
    except Exception as error:  # pylint: disable=broad-except
      signum = self._received or signum
      if signum is None:  # the coordination service failed: JAX reports that itself
        return
      print(f'crossjax: process {jax.process_index()} could not agree on a step to stop at '
            f'with the other processes ({type(error).__name__}: {error}); exiting without a '
            'checkpoint: the last saved one is kept', file=sys.stderr, flush=True)
      os._exit(128 + signum)  # pylint: disable=protected-access

  def _agree(self, signum: int) -> None:
    """Publishes this process's step (once: its loop then stops there at the earliest) and
    sets the agreed (stop step, signal) from every process's. `signum` is 0 at the last step."""
    with self._condition:
      publish = self._proposal is None
      if publish:
        self._proposal = min(self._position + 1, self._total)
        signum = self._received or signum
    if publish:
      self._client.key_value_set(f'{self._prefix}step/{jax.process_index()}',
                                 f'{self._proposal} {signum}')
    deadline = time.monotonic() + self._timeout_s
    published = []
    for index in range(jax.process_count()):
      published.append(self._read(f'{self._prefix}step/{index}', deadline))
      if published[-1] is None:
        return  # the loop ended (an error) while agreeing
    steps, signals = zip(*(map(int, value.split()) for value in published))
    signals = [s for s in signals if s]
    with self._condition:
      self._agreed = (max(steps) if signals else self._total + 1,
                      signals[0] if signals else None)
      self._condition.notify_all()

  def _read(self, key: str, deadline: float) -> str | None:
    """A key another process publishes, waited for in slices: None once the loop ended."""
    while not self._closing.is_set():
      try:
        return self._client.blocking_key_value_get(key, int(POLL_S * 1000))
      except jax.errors.JaxRuntimeError as error:
        if 'DEADLINE_EXCEEDED' not in str(error):
          raise
      if time.monotonic() > deadline:
        raise TimeoutError(f'no answer from process {key.rsplit("/", 1)[1]} within '
                           f'{self._timeout_s} s')
    return None
