"""Benchmark: the Deep CCA objective by Newton-Schulz (matmuls only) against Cholesky + SVD.

  ./launch.sh bench newton_schulz [--workdir=runs/bench] [--repeats=30] [--dims=10,50]

Times the jitted value and gradient (wrt both views' codes, no encoder) of
`objectives.dcca_objective_newton_schulz` and `objectives.dcca_objective` (k = all) on one
batch of codes of each width, their calls alternating so that a shared machine's slow spells
hit both alike; compile time (the first call) apart from the median warm call. Also reports
how far the two agree (value, and gradient relative to its norm) and the whitening residual,
so a run on an accelerator checks its matmul precision too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from crossjax import objectives, runtime
from crossjax.train import writer
from experiments import bench_all, bench_utils

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench',
                               'Where to write newton_schulz.json/.md.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 1000, 'Rows of codes per view.')
_DIMS = flags.DEFINE_list('dims', ['10', '50'], 'Code widths D = E to time.')
_REPEATS = flags.DEFINE_integer('repeats', 30, 'Timed calls of each objective (median).')
_ITERATIONS = flags.DEFINE_integer('iterations', objectives.NEWTON_SCHULZ_ITERATIONS,
                                   'Newton-Schulz iterations.')
_RIDGE = flags.DEFINE_float('ridge', 1e-4, 'Ridge r1 = r2.')


def codes(batch_size: int, dim: int) -> tuple[jax.Array, jax.Array]:
  """Two views of codes with correlations spread over (0, 1): Z2 = Z1 W + noise."""
  rng = np.random.default_rng(0)
  z1 = rng.normal(size=(batch_size, dim))
  z2 = z1 @ rng.normal(size=(dim, dim)) / np.sqrt(dim) + rng.normal(size=(batch_size, dim))
  return jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32)


def time_width(batch_size: int, dim: int, repeats: int, iterations: int, ridge: float) -> dict:
  z1, z2 = codes(batch_size, dim)
  functions = {
      'cholesky_svd': lambda a, b: objectives.dcca_objective(a, b, None, ridge, ridge),
      'newton_schulz': lambda a, b: objectives.dcca_objective_newton_schulz(
          a, b, None, ridge, ridge, iterations)}
  value_and_grad = {name: jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
                    for name, fn in functions.items()}
  timings = bench_utils.measure_alternating(
      {name: (lambda f=f: f(z1, z2)) for name, f in value_and_grad.items()}, repeats)
  (v_ref, g_ref), (v_ns, g_ns) = (value_and_grad[name](z1, z2) for name in functions)
  g_ref, g_ns = (np.concatenate([np.ravel(g) for g in grads]) for grads in (g_ref, g_ns))
  _, residual = jax.jit(lambda a, b: objectives.dcca_objective_newton_schulz(
      a, b, None, ridge, ridge, iterations, return_residual=True))(z1, z2)
  return {'batch_size': batch_size, 'dim': dim, 'iterations': iterations, 'ridge': ridge,
          'timings': timings,
          'ratio': timings['newton_schulz']['median_s'] / timings['cholesky_svd']['median_s'],
          'value_cholesky_svd': float(v_ref), 'value_newton_schulz': float(v_ns),
          'value_relative_difference': abs(float(v_ns) - float(v_ref)) / abs(float(v_ref)),
          'gradient_relative_difference': float(np.linalg.norm(g_ns - g_ref)
                                                / np.linalg.norm(g_ref)),
          'whitening_residual': float(residual)}


def main(argv):
  del argv
  limited = runtime.limit_lapack_threads()
  rows = [time_width(_BATCH_SIZE.value, int(dim), _REPEATS.value, _ITERATIONS.value,
                     _RIDGE.value) for dim in _DIMS.value]
  results = {'machine': writer.provenance(), 'lapack_limited_to_one_thread': limited,
             'rows': rows}
  device = results['machine']['devices'][0]
  table = [[f'{r["batch_size"]} x {r["dim"]}', 1e3 * r['timings']['cholesky_svd']['median_s'],
            1e3 * r['timings']['newton_schulz']['median_s'], r['ratio'],
            r['timings']['cholesky_svd']['first_call_s'],
            r['timings']['newton_schulz']['first_call_s'], r['value_relative_difference'],
            r['gradient_relative_difference']] for r in rows]
  markdown = '\n\n'.join([
      '## Deep CCA objective: Newton-Schulz (matmuls only) against Cholesky + SVD',
      f'Device: {device}; jax {results["machine"]["jax"]}; commit '
      f'{results["machine"]["commit"]}. Jitted value and gradient wrt both views\' codes '
      f'(float32, all correlations, ridge {_RIDGE.value:g}, {_ITERATIONS.value} Newton-Schulz '
      f'iterations), calls alternating, median of {_REPEATS.value} after the first (compile) '
      f'call.',
      bench_utils.markdown_table(
          ['B x D (= E)', 'Cholesky + SVD ms', 'Newton-Schulz ms', 'ratio NS / Cholesky',
           'first call s (Cholesky)', 'first call s (NS)', 'value rel. diff.', 'grad rel. diff.'],
          table)])
  bench_utils.write(_WORKDIR.value, 'newton_schulz', results, markdown)
  bench_all.write_part(results['machine'], 'Deep CCA objective', markdown)


if __name__ == '__main__':
  app.run(main)
