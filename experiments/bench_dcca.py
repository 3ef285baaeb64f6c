"""Benchmark: the Deep CCA train step on MNIST halves (Andrew et al. 2013 sizes).

  ./launch.sh bench dcca [--workdir=runs/bench] [--dtype=float32|bfloat16] [--steps=30]

Encoders 392-1024-1024-50 (ReLU) per view, batch 1000, Adam, the objective on all 50
correlations. Reports compile time apart from the median step time, samples per second, and
the step's achieved FLOP/s as a fraction of a jitted float32 matmul measured in the same run
(`bench_utils.matmul_gflops`). On a CPU it also times the step with SciPy's
OpenBLAS (the LAPACK behind JAX's Cholesky/SVD) on its default threads and on one thread, and
how the step time grows with the batch size.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from threadpoolctl import ThreadpoolController

from crossjax import data, runtime
from crossjax import families
from crossjax.train import writer
from crossjax.train.state import create_state
from experiments import bench_utils
from crossjax.configs import dcca_mnist

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write dcca.json/.md.')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'],
                           'Computation dtype of the encoders.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps (median reported).')
_BATCH_SIZES = flags.DEFINE_list('batch_sizes', ['250', '500', '1000', '2000'],
                                 'Batch sizes for the scaling table.')

WIDTHS = (392, 1024, 1024, 50)


def step_flops(batch_size: int) -> float:
  """Dense-layer FLOPs of one step: forward (2 B m n) plus backward (4 B m n), two views."""
  dense = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
  return 2 * 6.0 * batch_size * dense


def time_step(config, train, batch_size: int, steps: int) -> dict:
  """Compile time and median time of the jitted, donated train step on device-resident data."""
  family = families.get('dcca')
  batches = [{key: jnp.asarray(value[i * batch_size:(i + 1) * batch_size])
              for key, value in train.items()} for i in range(4)]
  model, players = family.build(config, batches[0], jax.random.PRNGKey(0))
  state = create_state(model, players, family.optimizers(config, 1000), jax.random.PRNGKey(1))
  start = time.perf_counter()
  compiled = jax.jit(family.train_step, donate_argnums=0).lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - start
  median, state, metrics = bench_utils.median_step_seconds(compiled, state, batches, steps)
  return {'batch_size': batch_size, 'compile_s': compile_s, 'median_step_s': median,
          'samples_per_s': batch_size / median,
          'gflops_per_s': step_flops(batch_size) / median / 1e9,
          'loss_finite': bool(np.isfinite(float(metrics['loss'])))}


def main(argv):
  del argv
  limited = runtime.limit_lapack_threads()
  config = dcca_mnist.get_config()
  config.encoder.dtype = _DTYPE.value
  splits = data.mnist_halves()
  largest = max(int(b) for b in _BATCH_SIZES.value)
  train = {key: splits['train'][key][:4 * max(largest, 1000)] for key in ('x1', 'x2')}
  steps = _STEPS.value
  on_cpu = jax.devices()[0].platform == 'cpu'

  matmul, matmul_label = bench_utils.matmul_gflops()
  main_row = time_step(config, train, 1000, steps)
  results = {'machine': writer.provenance(), 'dtype': _DTYPE.value,
             'matmul_gflops_per_s': matmul, 'step': main_row,
             'fraction_of_matmul': main_row['gflops_per_s'] / matmul}
  rows = [['crossjax DCCA step', _DTYPE.value, main_row['compile_s'],
           1e3 * main_row['median_step_s'], main_row['samples_per_s'],
           main_row['gflops_per_s'], main_row['gflops_per_s'] / matmul]]
  if on_cpu and limited:
    for library in ThreadpoolController().lib_controllers:
      if library.filepath in limited:
        library.set_num_threads(os.cpu_count())  # OpenBLAS' own default
    default = time_step(config, train, 1000, steps)
    runtime.limit_lapack_threads()
    results['step_with_default_openblas_threads'] = default
    rows.append(['same, SciPy OpenBLAS on default threads', _DTYPE.value, default['compile_s'],
                 1e3 * default['median_step_s'], default['samples_per_s'],
                 default['gflops_per_s'], default['gflops_per_s'] / matmul])
  scaling = [time_step(config, train, int(b), max(5, steps // 2)) for b in _BATCH_SIZES.value]
  results['batch_scaling'] = scaling

  device = results['machine']['devices'][0]
  markdown = '\n\n'.join([
      f'## Deep CCA train step, MNIST halves, encoders {"-".join(map(str, WIDTHS))}, Adam',
      f'Device: {device}; jax {results["machine"]["jax"]}; commit '
      f'{results["machine"]["commit"]}. Median of {steps} steps after 3 warm-up steps, data on '
      f'the device; FLOP/s count the dense layers (forward + backward); the reference is a '
      f'{matmul_label}.',
      bench_utils.markdown_table(
          ['step', 'dtype', 'compile s', 'median ms', 'samples/s', 'GFLOP/s',
           'fraction of matmul'], rows),
      '### Step time against batch size',
      bench_utils.markdown_table(
          ['batch', 'median ms', 'samples/s', 'GFLOP/s'],
          [[r['batch_size'], 1e3 * r['median_step_s'], r['samples_per_s'], r['gflops_per_s']]
           for r in scaling])])
  bench_utils.write(_WORKDIR.value, f'dcca_{_DTYPE.value}', results, markdown)


if __name__ == '__main__':
  app.run(main)
