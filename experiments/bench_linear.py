"""Benchmark: linear CCA fit (k = 50) on MNIST halves against NumPy float64 and scikit-learn.

  ./launch.sh bench linear [--workdir=runs/bench] [--sklearn_examples=2000]

crossjax fits in float32 under jit (compile time reported apart); the baseline is the same
closed form written in plain NumPy float64 (covariances, pseudo-inverse square roots with the
same cut-off, SVD), both timed in this run on arrays already in their library's format, their
calls alternating. scikit-learn's iterative CCA takes about 10 minutes on all 54k examples, so
it is timed on a subsample, against crossjax on the same subsample.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from absl import app, flags
from sklearn.cross_decomposition import CCA as SklearnCCA

import jax.numpy as jnp

from crossjax import data, linear, objectives, runtime
from crossjax.train import writer
from experiments import bench_utils

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write linear.json/.md.')
_SKLEARN_EXAMPLES = flags.DEFINE_integer('sklearn_examples', 2000,
                                         'Training examples for the scikit-learn comparison.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repetitions (median reported).')

K = 50


def numpy_float64_cca(x1, x2, k, rcond=objectives.DEFAULT_RCOND):
  """The same closed form in plain NumPy (float64 inputs): returns (means, weights)."""
  means = x1.mean(axis=0), x2.mean(axis=0)
  c1, c2 = x1 - means[0], x2 - means[1]
  n = len(x1)

  def inverse_sqrt(sigma):
    values, vectors = np.linalg.eigh(sigma)
    keep = values > rcond * values.max()
    scale = np.zeros_like(values)
    scale[keep] = values[keep] ** -0.5
    return (vectors * scale) @ vectors.T

  w1, w2 = inverse_sqrt(c1.T @ c1 / (n - 1)), inverse_sqrt(c2.T @ c2 / (n - 1))
  u, _, vt = np.linalg.svd(w1 @ (c1.T @ c2 / (n - 1)) @ w2)
  return means, (w1 @ u[:, :k], w2 @ vt[:k].T)


def total_correlation(z1, z2):
  z1, z2 = z1 - z1.mean(0), z2 - z2.mean(0)
  return float(np.sum((z1 * z2).sum(0) / np.sqrt((z1 ** 2).sum(0) * (z2 ** 2).sum(0))))


def paired_timings(x1, x2, y1, y2, repeats) -> dict:
  """`measure_alternating` of the crossjax fit (float32 x) and the NumPy one (float64 y)."""
  return bench_utils.measure_alternating(
      {'crossjax': lambda: linear.fit_cca(x1, x2, K),
       'numpy': lambda: numpy_float64_cca(y1, y2, K)}, repeats)


def paired_medians(x1, x2, y1, y2, repeats):
  """[crossjax s, NumPy f64 s, speed-up]: medians of alternating fits."""
  timings = paired_timings(x1, x2, y1, y2, repeats)
  jax_s, numpy_s = timings['crossjax']['median_s'], timings['numpy']['median_s']
  return [jax_s, numpy_s, numpy_s / jax_s]


def main(argv):
  del argv
  runtime.limit_lapack_threads()
  warnings.filterwarnings('ignore', message='Maximum number of iterations')
  splits = data.mnist_halves()
  test = splits['test']
  # Each library gets its native arrays, made before timing: device arrays for crossjax,
  # float64 NumPy arrays for the baseline.
  train = {key: jnp.asarray(value) for key, value in splits['train'].items()}
  train64 = {key: value.astype(np.float64) for key, value in splits['train'].items()}
  repeats = _REPEATS.value
  results = {'machine': writer.provenance(), 'k': K}

  # Full training set: crossjax float32 against the NumPy float64 closed form.
  timings = paired_timings(train['x1'], train['x2'], train64['x1'], train64['x2'], repeats)
  jax_time, numpy_time = timings['crossjax'], timings['numpy']
  round_speed_ups = [b / a for a, b in zip(jax_time['times_s'], numpy_time['times_s'])]
  results['numpy_speed_up_per_round'] = round_speed_ups
  params = linear.fit_cca(train['x1'], train['x2'], K)
  jax_total = float(linear.score(params, test['x1'], test['x2']))
  (m1, m2), (w1, w2) = numpy_float64_cca(train64['x1'], train64['x2'], K)
  numpy_total = total_correlation((test['x1'] - m1) @ w1, (test['x2'] - m2) @ w2)

  # Subsample: scikit-learn (NIPALS) against crossjax on the same examples.
  n_small = _SKLEARN_EXAMPLES.value
  small = {key: value[:n_small] for key, value in splits['train'].items()}
  small_jax = bench_utils.measure(lambda: linear.fit_cca(small['x1'], small['x2'], K), repeats)
  small_params = linear.fit_cca(small['x1'], small['x2'], K)
  small_jax_total = float(linear.score(small_params, test['x1'], test['x2']))
  start = time.perf_counter()
  sklearn_model = SklearnCCA(n_components=K, max_iter=500).fit(small['x1'], small['x2'])
  sklearn_seconds = time.perf_counter() - start
  sklearn_total = total_correlation(*sklearn_model.transform(test['x1'], test['x2']))

  rows = [
      ['crossjax float32 (jit)', len(train['x1']), jax_time['first_call_s'],
       jax_time['median_s'], 1.0, jax_total],
      ['NumPy float64 closed form', len(train['x1']), '-', numpy_time['median_s'],
       numpy_time['median_s'] / jax_time['median_s'], numpy_total],
      ['crossjax float32 (jit), subsample', n_small, small_jax['first_call_s'],
       small_jax['median_s'], 1.0, small_jax_total],
      ['scikit-learn CCA (NIPALS), subsample', n_small, '-', sklearn_seconds,
       sklearn_seconds / small_jax['median_s'], sklearn_total],
  ]
  results['comparison'] = [dict(zip(['method', 'n', 'first_call_s', 'median_s',
                                     'slowdown_vs_crossjax', 'test_total_correlation'], row))
                           for row in rows]

  # Scaling with n (MNIST halves) and with d (synthetic views of one latent signal).
  scaling_n = []
  for n in (1000, 5000, 10000, 27000, len(train['x1'])):
    x1, x2 = train['x1'][:n], train['x2'][:n]
    y1, y2 = train64['x1'][:n], train64['x2'][:n]
    scaling_n.append([n, 392, *paired_medians(x1, x2, y1, y2, repeats)])
  rng = np.random.default_rng(0)
  scaling_d = []
  for d in (98, 196, 392, 784, 1568):
    latent = rng.normal(size=(10000, 20)).astype(np.float32)
    x1 = latent @ rng.normal(size=(20, d)).astype(np.float32) + rng.normal(
        size=(10000, d)).astype(np.float32)
    x2 = latent @ rng.normal(size=(20, d)).astype(np.float32) + rng.normal(
        size=(10000, d)).astype(np.float32)
    y1, y2 = x1.astype(np.float64), x2.astype(np.float64)
    x1, x2 = jnp.asarray(x1), jnp.asarray(x2)
    scaling_d.append([10000, d, *paired_medians(x1, x2, y1, y2, repeats)])
  scaling_header = ['n', 'd per view', 'crossjax s', 'NumPy f64 s', 'speed-up']
  results['scaling_n'] = [dict(zip(scaling_header, row)) for row in scaling_n]
  results['scaling_d'] = [dict(zip(scaling_header, row)) for row in scaling_d]

  markdown = '\n\n'.join([
      f'## Linear CCA fit, k = {K}, MNIST halves (392 + 392 pixels)\n\n'
      f'Machine: {results["machine"]["cpu_count"]} CPUs, {results["machine"]["devices"]}, '
      f'jax {results["machine"]["jax"]}, commit {results["machine"]["commit"]}. Medians of '
      f'{repeats} warm runs, crossjax and NumPy alternating (A B A B ...) so that the '
      f"machine's slow spells hit both alike; per round the NumPy / crossjax ratio ranged "
      f'{min(round_speed_ups):.2f}-{max(round_speed_ups):.2f}. First call includes '
      f'compilation. scikit-learn is timed once, on the first {n_small} training examples '
      f'(all 54k take about 10 minutes).',
      bench_utils.markdown_table(
          ['method', 'train n', 'first call s', 'median s', 'time / crossjax',
           'test total corr'], rows),
      '### Fit time against n (MNIST halves)',
      bench_utils.markdown_table(scaling_header, scaling_n),
      '### Fit time against d (synthetic, n = 10000)',
      bench_utils.markdown_table(scaling_header, scaling_d)])
  bench_utils.write(_WORKDIR.value, 'linear', results, markdown)


if __name__ == '__main__':
  app.run(main)
