"""Process-level settings for the entry points (experiments, benchmarks, tests)."""

from __future__ import annotations

import os


def limit_lapack_threads(threads: int = 1) -> list[str]:
  """Runs the LAPACK behind JAX's CPU `cholesky`/`eigh`/`svd` on `threads` threads.

  jaxlib calls LAPACK from SciPy's bundled OpenBLAS. After a call its worker threads keep
  spinning for a while and take both cores of a small CPU away from XLA's own thread pool, so
  the matrix multiplies that follow run slower: a Deep CCA step measured ~95 ms with OpenBLAS'
  default threads and ~55 ms with one. The decompositions here are small (<= 1568 x 1568), so
  one thread costs them little. Only SciPy's copy is limited: NumPy's own OpenBLAS (a separate
  library) keeps its threads, so NumPy code and baselines run as usual. An explicit
  OPENBLAS_NUM_THREADS in the environment wins. Returns the paths of the limited libraries.
  """
  if 'OPENBLAS_NUM_THREADS' in os.environ:
    return []
  # jaxlib loads SciPy's OpenBLAS only at its first decomposition: load it now, or there is
  # nothing yet to limit (and the limit never comes).
  import scipy.linalg  # pylint: disable=import-outside-toplevel,unused-import
  from threadpoolctl import ThreadpoolController  # pylint: disable=import-outside-toplevel
  controller = ThreadpoolController()
  limited = []
  for library in controller.lib_controllers:
    if f'{os.sep}scipy' in library.filepath and library.internal_api == 'openblas':
      library.set_num_threads(threads)
      limited.append(library.filepath)
  return limited


def release_free_memory() -> bool:
  """Returns the C heap's free memory to the operating system (glibc's malloc_trim), as the
  allocator keeps what training freed (batches, windows, dispatch buffers) resident: on Deep
  CCA from 1M memory-mapped rows, 1054 -> 586 MiB before the evaluation. True where it ran
  (Linux with glibc); elsewhere a no-op."""
  import ctypes  # pylint: disable=import-outside-toplevel
  import ctypes.util  # pylint: disable=import-outside-toplevel
  try:
    ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim(0)
  except (OSError, AttributeError):  # not glibc: no malloc_trim
    return False
  return True
