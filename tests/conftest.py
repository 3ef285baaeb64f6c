"""Test set-up: 4 fake CPU devices (for sharding tests), one persistent compilation cache for
the session and the shared data folder."""

import fcntl
import os
import pathlib
import shutil
import tempfile

# Before the backend starts (and inherited by the runs tests start in subprocesses): XLA's CPU
# backend at optimisation level 0. Most of a test's time is compiling small programs, which
# then run on tiny data; level 0 compiles ~3x faster (1.35 s instead of 3.8 s for a Deep CCA
# model's init), and the suite takes about a third less CPU time. Runs and benchmarks compile
# as usual.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_backend_optimization_level=0').strip()

import jax  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position

from crossjax import runtime  # pylint: disable=wrong-import-position

# Before any backend starts: four CPU devices let tests compare sharded and one-device runs.
jax.config.update('jax_num_cpu_devices', 4)
runtime.limit_lapack_threads()  # as the entry points do

# One persistent XLA compilation cache for the whole session: the workers of pytest-xdist and
# the runs they start in subprocesses (which inherit the variable) compile a program that
# another test already compiled only once. Most runs rebuild their jitted functions (a fresh
# closure per run), and XLA's CPU compiler is most of a short run's time. The controller makes
# the folder (pytest_configure) before it starts the workers; it is removed at the end.
CACHE_VARIABLE = 'CROSSJAX_TEST_COMPILATION_CACHE'


def pytest_configure(config):
  # pytest-xdist hands out one test at a time (conftest orders them longest first; see
  # pytest_collection_modifyitems), not runs of neighbouring tests that can leave one worker
  # the long ones: --maxschedchunk=1 unless given.
  if getattr(config.option, 'maxschedchunk', 0) is None:
    config.option.maxschedchunk = 1
  if not hasattr(config, 'workerinput') and CACHE_VARIABLE not in os.environ:
    os.environ[CACHE_VARIABLE] = tempfile.mkdtemp(prefix='crossjax-test-xla-cache-')
    config.crossjax_cache_made = os.environ[CACHE_VARIABLE]
  cache = os.environ[CACHE_VARIABLE]
  os.environ['JAX_COMPILATION_CACHE_DIR'] = cache  # for subprocesses
  jax.config.update('jax_compilation_cache_dir', cache)


def pytest_unconfigure(config):
  made = getattr(config, 'crossjax_cache_made', None)
  if made:
    shutil.rmtree(made, ignore_errors=True)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data'


@pytest.fixture(scope='session')
def data_dir() -> pathlib.Path:
  """../shared/data beside the checkout (or $CROSSJAX_DATA); skips where neither exists."""
  for folder in (os.environ.get('CROSSJAX_DATA'), SHARED_DATA):
    if folder and (pathlib.Path(folder) / 'mnist.npz').is_file():
      return pathlib.Path(folder)
  pytest.skip(f'no data folder: neither $CROSSJAX_DATA nor {SHARED_DATA} holds mnist.npz')


@pytest.fixture(scope='session')
def mnist_judge_dir(data_dir, tmp_path_factory) -> pathlib.Path:
  """The work directory of the smoke MNIST classifier (about 96 % test accuracy), trained once
  per session: the judge of generated digits in the cGAN tests. The pytest-xdist workers share
  it (a lock in their common temporary folder): the first trains it, a later one restores it."""
  from crossjax.train import loop  # pylint: disable=import-outside-toplevel
  from crossjax.configs import mnist_classifier  # pylint: disable=import-outside-toplevel
  config = mnist_classifier.get_config('smoke')
  config.data.path = str(data_dir)
  config.progress_bar = False
  config.num_devices = 1
  session = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    session = session.parent  # the folder of this session's workers
  directory = session / 'mnist_judge' / config.name
  directory.parent.mkdir(exist_ok=True)
  with open(session / 'mnist_judge.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
    loop.train(config, str(directory))  # trains, or restores the finished run
  return directory


# The order tests are handed to the two pytest-xdist workers (one at a time: --maxschedchunk=1
# in pytest_configure): the longest first, so that the workers finish together rather than one
# of them starting a two-minute run at the end. Whole runs in subprocesses and the paper
# configs' smoke runs, then the rest of the slow tier, then the fast tier; collection order
# within each.
LONGEST = ('test_preemption.py', 'test_experiments.py', 'test_train.py')


def pytest_collection_modifyitems(config, items):
  del config

  def rank(item):
    if item.get_closest_marker('slow') is None:
      return len(LONGEST) + 1
    name = item.path.name
    return LONGEST.index(name) if name in LONGEST else len(LONGEST)

  items.sort(key=rank)  # stable
  if not os.environ.get('CROSSJAX_EXTENDED_TESTS'):
    skip = pytest.mark.skip(reason='the extended tier: set CROSSJAX_EXTENDED_TESTS=1')
    for item in items:
      if item.get_closest_marker('extended') is not None:
        item.add_marker(skip)
