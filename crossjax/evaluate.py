"""Downstream metrics of the papers, on top of scikit-learn where it does the job."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from crossjax import linear


def chunked(apply, arrays: list[np.ndarray], batch_size: int):
  """apply(chunk) over whole arrays in fixed-size row chunks (the last one padded), so a jitted
  `apply` compiles once; returns its outputs (any pytree) concatenated over the rows."""
  n = len(arrays[0])
  batch_size = min(batch_size, n)
  outputs = []
  for start in range(0, n, batch_size):
    chunk = [a[start:start + batch_size] for a in arrays]
    size = len(chunk[0])
    chunk = [np.pad(c, ((0, batch_size - size),) + ((0, 0),) * (c.ndim - 1)) for c in chunk]
    outputs.append(jax.tree.map(lambda x, size=size: np.asarray(x)[:size], apply(chunk)))
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)


def post_hoc_correlations(train_codes: Sequence[np.ndarray], k: int,
                          **eval_codes: Sequence[np.ndarray]) -> dict[str, list[float]]:
  """Per-component correlations of a linear CCA fitted on training codes (Andrew et al. 2013).

  Deep CCA's codes are only correlated, not canonical: the paper fits linear CCA on the
  training encodings and reports the total correlation of the top k on held-out encodings.
  Two views use CCA, more views MCCA. Returns {name: correlations} for each `eval_codes` entry.
  """
  fit = linear.fit_cca if len(train_codes) == 2 else linear.fit_mcca
  params = fit(*train_codes, k) if len(train_codes) == 2 else fit(train_codes, k)
  return {name: np.asarray(linear.component_correlations(params, *codes)).tolist()
          for name, codes in eval_codes.items()}


def linear_svm_error(train: tuple[np.ndarray, np.ndarray], tune: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray],
                     regularisations: Sequence[float] = (0.01, 0.1, 1.0, 10.0)) -> dict:
  """Test error (%) of a linear SVM on features, C chosen on the tune split (Wang et al. 2015).

  Features are standardised on the training split. Returns test and tune error and the C.
  """
  best = None
  for c in regularisations:
    model = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=5000))
    model.fit(*train)
    tune_error = 100.0 * (1.0 - model.score(*tune))
    if best is None or tune_error < best[0]:
      best = (tune_error, c, model)
  tune_error, c, model = best
  return {'test_error': 100.0 * (1.0 - model.score(*test)), 'tune_error': tune_error, 'C': c}


def linear_classifier_accuracy(train: tuple[np.ndarray, np.ndarray],
                               test: tuple[np.ndarray, np.ndarray]) -> float:
  """Test accuracy (%) of a standardised multinomial logistic regression."""
  from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel
  model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
  model.fit(*train)
  return 100.0 * model.score(*test)


def _parzen_log_densities(samples: np.ndarray, points: np.ndarray, sigmas: Sequence[float],
                          batch_size: int = 1000) -> np.ndarray:
  """(len(sigmas), len(points)) log-densities of `points` under a Gaussian Parzen window of
  width sigma centred on each sample:
    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log n - (d / 2) log(2 pi sigma^2).
  Squared distances from one (batch, n) matrix product per chunk of points."""
  samples = jnp.asarray(samples, jnp.float32)
  sigmas = jnp.asarray(sigmas, jnp.float32)
  n, d = samples.shape
  sample_norms = jnp.sum(samples ** 2, axis=1)

  @jax.jit
  def log_density(x):
    squared = jnp.maximum(jnp.sum(x ** 2, axis=1)[:, None] + sample_norms[None, :]
                          - 2.0 * x @ samples.T, 0.0)
    exponents = -squared[None] / (2.0 * sigmas[:, None, None] ** 2)
    return (jax.nn.logsumexp(exponents, axis=2) - jnp.log(n)
            - 0.5 * d * jnp.log(2 * jnp.pi * sigmas[:, None] ** 2)).T

  return chunked(lambda chunk: log_density(jnp.asarray(chunk[0], jnp.float32)),
                 [np.asarray(points)], batch_size).T


def parzen_log_likelihood(samples: np.ndarray, tune: np.ndarray, test: np.ndarray,
                          sigmas: Sequence[float]) -> dict:
  """Gaussian Parzen-window log-likelihood of `test` under `samples` (Goodfellow et al. 2014,
  followed by Mirza and Osindero 2014): the window width is the one of `sigmas` with the
  highest mean log-likelihood of `tune`; returns the test mean, its standard error and sigma."""
  tune_means = _parzen_log_densities(samples, tune, sigmas).mean(axis=1)
  best = int(np.argmax(tune_means))
  test_values = _parzen_log_densities(samples, test, [sigmas[best]])[0]
  return {'test_mean': float(test_values.mean()),
          'test_standard_error': float(test_values.std() / np.sqrt(len(test_values))),
          'sigma': float(sigmas[best]), 'tune_mean': float(tune_means[best])}
