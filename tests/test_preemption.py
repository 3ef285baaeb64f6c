"""Signals to a run of two processes: both stop at one step, save it, exit with 128 + the signal,
and the same command resumes to the state of an unbroken run; that run matches one process."""

import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from crossjax.train import preemption

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEPS = 60
OVERRIDES = [f'--config.num_steps={STEPS}', '--config.log_every=1',
             '--config.checkpoint_every=1000', '--config.encoder.widths=(64,)',
             '--config.progress_bar=False', '--config.evaluation.linear_baseline=False',
             '--config.evaluation.k=2', '--join_timeout=60']
EXIT_WITHIN_S = 30


def final_state(workdir, step=STEPS):
  """The checkpointed state (params, optimizer state, step, key) at `step`, on one device here:
  the run that wrote it spanned two processes."""
  path = pathlib.Path(workdir).resolve() / 'checkpoints' / 'latest' / str(step) / 'default'
  checkpointer = ocp.StandardCheckpointer()
  here = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=here),
                        checkpointer.metadata(path).item_metadata.tree)
  return checkpointer.restore(path, target)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class Run:
  """Two processes of crossjax/configs/demo.py in `workdir`, started as launch.sh starts them
  (a pid each) or by ./launch.sh train --processes 2 (launcher=True: in a process group of its
  own, as a terminal's foreground job). Their output goes to files in workdir."""

  def __init__(self, workdir, environment, started, launcher=False):
    self.workdir, self.launcher = workdir, launcher
    started.append(self)
    if launcher:
      commands = [['./launch.sh', 'train', '--processes', '2', 'crossjax/configs/demo.py',
                   *OVERRIDES]]
    else:
      port = free_port()
      commands = [[sys.executable, '-m', 'crossjax.main', '--config=crossjax/configs/demo.py',
                   f'--workdir={workdir}', *OVERRIDES, f'--coordinator_address=127.0.0.1:{port}',
                   '--num_processes=2', f'--process_id={index}'] for index in range(2)]
    run = len(list(workdir.glob('stderr*')))  # earlier runs in workdir keep their output
    self.names = [f'{run}.{index}' for index in range(len(commands))]
    self.processes = []
    for command, name in zip(commands, self.names):
      with open(workdir / f'stdout{name}', 'w') as stdout, \
          open(workdir / f'stderr{name}', 'w') as stderr:
        self.processes.append(subprocess.Popen(
            command, cwd=ROOT, env={**environment, 'WORKDIR': str(workdir)}, stdout=stdout,
            stderr=stderr, start_new_session=launcher))

  def output(self, kind='stderr') -> str:
    return '\n'.join((self.workdir / f'{kind}{name}').read_text() for name in self.names)

  def wait_for_step(self, step, timeout=240):
    """Waits until metrics.jsonl reaches `step`, every process still running."""
    path = self.workdir / 'metrics.jsonl'
    deadline = time.time() + timeout
    while time.time() < deadline:
      for process in self.processes:
        assert process.poll() is None, self.output()[-3000:]
      steps = re.findall(r'"step": (\d+),', path.read_text()) if path.exists() else []
      if steps and int(steps[-1]) >= step:
        return
      time.sleep(0.02)
    raise TimeoutError(f'step {step} not reached')

  def wait(self, timeout) -> list[int]:
    """The exit codes, where every process ends within `timeout` seconds."""
    deadline = time.time() + timeout
    try:
      return [process.wait(timeout=max(deadline - time.time(), 0.1))
              for process in self.processes]
    except subprocess.TimeoutExpired:
      self.kill()
      raise

  def kill(self):
    """Ends whatever of this run is left (the launcher's whole process group)."""
    for process in self.processes:
      if self.launcher:
        try:
          os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
      process.kill()
      process.wait()

  def stopped(self, signum, resumed_from=None) -> int:
    """The one step at which both processes say they stopped for `signum` (and exit with
    128 + signum within EXIT_WITHIN_S) after resuming from `resumed_from`; it is saved."""
    codes = self.wait(EXIT_WITHIN_S)
    stderr = self.output()
    assert codes == [128 + signum] * len(codes), stderr[-3000:]
    if self.launcher:
      with pytest.raises(ProcessLookupError):
        os.killpg(self.processes[0].pid, 0)  # no process of the group is left
    steps = re.findall(rf'stopped by {signal.Signals(signum).name} at step (\d+), checkpoint '
                       'saved', stderr)
    assert len(steps) == 2 and len(set(steps)) == 1, stderr[-3000:]
    step = int(steps[0])
    if resumed_from is not None:
      assert f'Resuming from the checkpoint at step {resumed_from}' in self.output('stdout')
    saved = [path.name for path in (self.workdir / 'checkpoints' / 'latest').iterdir()
             if path.name.isdigit() or 'tmp' in path.name]
    assert str(step) in saved and not any('tmp' in name for name in saved), saved
    assert step < STEPS
    return step


def assert_same_numbers(one, two):
  """The run in `two` (two processes) logged the losses of the run in `one` (one process) at
  every step and gave its results: the global batch decides the numbers, not the processes.

  The float32 sums run in another order (each process's rows, then across processes): the
  losses differ by rounding, 1e-7 at step 1, growing through the updates to 1e-5 by step 12
  and 1e-4 by step 60 (measured). A process that read other rows or took its objective on
  its own half of the batch would be off by percents from step 1."""
  results = [json.loads((path / 'results.json').read_text()) for path in (one, two)]
  for split in ('tune', 'test'):
    np.testing.assert_allclose(results[1]['total_correlation'][split],
                               results[0]['total_correlation'][split], rtol=1e-3)
  metrics = [[json.loads(line) for line in (path / 'metrics.jsonl').read_text().splitlines()]
             for path in (one, two)]
  assert [m['step'] for m in metrics[0]] == [m['step'] for m in metrics[1]]
  assert len(metrics[0]) >= STEPS
  for a, b in zip(*metrics):
    np.testing.assert_allclose(a['loss'], b['loss'], rtol=1e-4 if a['step'] <= 12 else 1e-3)


@pytest.fixture
def environment(tmp_path_factory):
  """One persistent compilation cache for the runs: the later ones skip XLA's compiler."""
  cache = tmp_path_factory.mktemp('jax_cache')
  return {**os.environ, 'JAX_COMPILATION_CACHE_DIR': str(cache),
          'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}


@pytest.fixture
def started():
  """The runs a test starts: any left running when it ends (it failed) are killed."""
  runs = []
  yield runs
  for run in runs:
    run.kill()


def test_one_process_stops_after_the_step_of_the_signal():
  """Without other processes: no agreement, the next `reached` stops; a second signal keeps
  the first, and the handlers before are back afterwards."""
  before = signal.getsignal(signal.SIGTERM)
  with preemption.StopRequests(0, 10) as stop:
    assert not stop.reached(1)
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.reached(2) and stop.signum == signal.SIGINT
  assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_signals_stop_every_process_at_one_step_and_the_run_resumes(environment, started,
                                                                     tmp_path):
  """Three stops of one run, each resumed by the same command: (a) SIGTERM to process 1
  only, (b) SIGTERM to both processes 0.3 s apart, (c) Ctrl-C (SIGINT to the process group)
  on ./launch.sh. The run then ends where an unbroken one does, bitwise. The unbroken run of
  two processes also gives the numbers of the same run in one process."""
  unbroken = tmp_path / 'unbroken'
  unbroken.mkdir()
  reference = Run(unbroken, environment, started, launcher=True)
  assert reference.wait(300) == [0], reference.output()[-3000:]
  one = subprocess.run([sys.executable, '-m', 'crossjax.main', '--config=crossjax/configs/demo.py',
                        f'--workdir={tmp_path / "one"}', *OVERRIDES], cwd=ROOT, env=environment,
                       capture_output=True, text=True, timeout=300, check=False)
  assert one.returncode == 0, one.stderr[-3000:]
  assert_same_numbers(tmp_path / 'one', unbroken)
  workdir = tmp_path / 'stopped'
  workdir.mkdir()
  pick = random.Random()

  run = Run(workdir, environment, started)  # (a)
  at = pick.randint(2, 8)
  run.wait_for_step(at)
  run.processes[1].send_signal(signal.SIGTERM)
  step = run.stopped(signal.SIGTERM)
  assert step >= at, (step, at)

  run = Run(workdir, environment, started)  # (b)
  at = step + pick.randint(2, 8)
  run.wait_for_step(at)
  run.processes[0].send_signal(signal.SIGTERM)
  time.sleep(0.3)
  run.processes[1].send_signal(signal.SIGTERM)
  step = run.stopped(signal.SIGTERM, resumed_from=step)
  assert step >= at, (step, at)

  run = Run(workdir, environment, started, launcher=True)  # (c)
  at = step + pick.randint(2, 8)
  run.wait_for_step(at)
  os.killpg(run.processes[0].pid, signal.SIGINT)
  step = run.stopped(signal.SIGINT, resumed_from=step)
  assert step >= at, (step, at)

  run = Run(workdir, environment, started, launcher=True)
  assert run.wait(300) == [0], run.output()[-3000:]
  assert f'Resuming from the checkpoint at step {step}' in run.output('stdout')
  chex.assert_trees_all_equal(final_state(workdir), final_state(unbroken))
