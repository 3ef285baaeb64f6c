"""Thread settings: only the OpenBLAS behind JAX's LAPACK is limited, NumPy's is not."""

import os

import pytest
from threadpoolctl import threadpool_info

from crossjax import runtime


def test_limits_scipy_openblas_only():
  if 'OPENBLAS_NUM_THREADS' in os.environ:
    pytest.skip('OPENBLAS_NUM_THREADS is set: the environment decides')
  limited = runtime.limit_lapack_threads()
  assert limited and all(f'{os.sep}scipy' in path for path in limited)
  threads = {info['filepath']: info['num_threads'] for info in threadpool_info()}
  assert all(threads[path] == 1 for path in limited)
  others = [n for path, n in threads.items() if path not in limited]
  if os.cpu_count() > 1 and others:
    assert max(others) > 1
