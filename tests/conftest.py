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
