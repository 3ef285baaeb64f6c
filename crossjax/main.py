"""The one entry point for training: `crossjax-train` (installed), `python -m crossjax.main`, or
`./launch.sh train CONFIG`.

  crossjax-train --config=crossjax/configs/NAME.py[:smoke] --workdir=DIR \
      [--config.key=value ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I]

Trains (resuming from DIR if it holds checkpoints) or fits, and evaluates; writes the resolved
config, metrics, checkpoints, results and figures to DIR. Bad data or settings end the run
with one line on stderr (exit 2) before anything is written. On a cluster every host runs the
same command; the coordinator comes from the flags, the CROSSJAX_* environment, or JAX's
detection.
"""

import os
import sys

import jax

from absl import app, flags, logging
from ml_collections import config_flags

from crossjax import families, runtime
from crossjax.train import loop, parallel

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where to write everything the run makes.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', '', 'HOST:PORT of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', 0, 'Processes in a multi-host run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', -1, 'This process, 0 .. num_processes - 1.')
_JOIN_TIMEOUT = flags.DEFINE_integer('join_timeout', 300,
                                     'Seconds to wait for every process to join.')
_CPU_DEVICES = flags.DEFINE_integer(
    'cpu_devices', 0, 'On a CPU: split it into this many XLA devices (0: one), to run the '
    'data-parallel step over a global batch without accelerators.')
flags.mark_flags_as_required(['config', 'workdir'])


def summary(results: dict) -> str:
  lines = [f'{results["model"]} on {results["dataset"]}'
           + (f': {results["steps"]} steps' if 'steps' in results else '')]
  return '\n'.join(lines + families.get(results['model']).summary(results))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # orbax reports every save at INFO
  if _CPU_DEVICES.value < 0:
    raise app.UsageError(f'--cpu_devices must be >= 0, got {_CPU_DEVICES.value}')
  if _CPU_DEVICES.value:
    jax.config.update('jax_num_cpu_devices', _CPU_DEVICES.value)  # before the backend starts
  runtime.limit_lapack_threads()
  parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                                  _JOIN_TIMEOUT.value)
  try:
    results = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except ValueError as error:
    # Bad data or settings: one line, no traceback (CROSSJAX_DEBUG=1 shows it).
    if os.environ.get('CROSSJAX_DEBUG'):
      raise
    print(f'crossjax: {error}', file=sys.stderr)
    sys.exit(2)
  except loop.Preempted as stopped:
    logging.warning('%s', stopped)
    sys.exit(128 + stopped.signum)
  except loop.NonFiniteError as error:
    logging.error('%s', error)
    sys.exit(f'crossjax: {error}')
  if jax.process_index() == 0:
    print(summary(results))
    print(f'Wrote {_WORKDIR.value}/')


def run():
  """The console script `crossjax-train`."""
  app.run(main)


if __name__ == '__main__':
  run()
