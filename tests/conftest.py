"""Test set-up: 4 fake CPU devices (for sharding tests) and the shared data folder."""

import os
import pathlib

import jax
import pytest

from crossjax import runtime

# Before any backend starts: four CPU devices let tests compare sharded and one-device runs.
jax.config.update('jax_num_cpu_devices', 4)
runtime.limit_lapack_threads()  # as the entry points do

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
  per session: the judge of generated digits in the cGAN tests."""
  from crossjax.train import loop  # pylint: disable=import-outside-toplevel
  from crossjax.configs import mnist_classifier  # pylint: disable=import-outside-toplevel
  config = mnist_classifier.get_config('smoke')
  config.data.path = str(data_dir)
  config.progress_bar = False
  directory = tmp_path_factory.mktemp('judge') / config.name
  loop.train(config, str(directory))
  return directory
