"""Downstream metrics of the papers, on top of scikit-learn where it does the job."""

from __future__ import annotations

import os
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from crossjax import linear

# scikit-learn is imported where a metric uses it: a run without these evaluations (and every
# process of a multi-process run before its evaluation) starts ~2 s sooner on a CPU.


def chunked(apply, arrays: list[np.ndarray], batch_size: int):
  """apply(chunk) over whole arrays in fixed-size row chunks (the last one padded), so a jitted
  `apply` compiles once; returns its outputs (any pytree) concatenated over the rows."""
  n = len(arrays[0])
  batch_size = min(batch_size, n)
  outputs = None
  for start in range(0, n, batch_size):
    chunk = [a[start:start + batch_size] for a in arrays]
    size = len(chunk[0])
    chunk = [np.pad(c, ((0, batch_size - size),) + ((0, 0),) * (c.ndim - 1)) for c in chunk]
    parts, structure = jax.tree.flatten(apply(chunk))
    if outputs is None:  # filled in place: no list of parts and concatenated copy of them
      outputs = [np.empty((n,) + part.shape[1:], part.dtype) for part in parts]
    for output, part in zip(outputs, parts):
      output[start:start + size] = np.asarray(part)[:size]
  return jax.tree.unflatten(structure, outputs)


def post_hoc_cca(train_codes: Sequence[np.ndarray], k: int) -> linear.LinearCCAParams:
  """A linear CCA (two views) or MCCA (more) with k components fitted on training codes."""
  if len(train_codes) == 2:
    return linear.fit_cca(*train_codes, k)
  return linear.fit_mcca(train_codes, k)


def post_hoc_correlations(train_codes: Sequence[np.ndarray], k: int,
                          **eval_codes: Sequence[np.ndarray]) -> dict[str, list[float]]:
  """Per-component correlations of a linear CCA fitted on training codes (Andrew et al. 2013).

  Deep CCA's codes are only correlated, not canonical: the paper fits linear CCA on the
  training encodings and reports the total correlation of the top k on held-out encodings.
  Two views use CCA, more views MCCA. Returns {name: correlations} for each `eval_codes` entry.
  """
  params = post_hoc_cca(train_codes, k)
  return {name: np.asarray(linear.component_correlations(params, *codes)).tolist()
          for name, codes in eval_codes.items()}


def linear_svm_error(train: tuple[np.ndarray, np.ndarray], tune: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray],
                     regularisations: Sequence[float] = (0.01, 0.1, 1.0, 10.0)) -> dict:
  """Test error (%) of a linear SVM on features, C chosen on the tune split (Wang et al. 2015).

  Features are standardised on the training split. Returns test and tune error and the C.
  """
  from sklearn.pipeline import make_pipeline  # pylint: disable=import-outside-toplevel
  from sklearn.preprocessing import StandardScaler  # pylint: disable=import-outside-toplevel
  from sklearn.svm import LinearSVC  # pylint: disable=import-outside-toplevel
  return _tuned_classifier_error(
      lambda c: make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=5000)), train, tune,
      test, regularisations)


def map_over_cores(function: Callable, items: Sequence) -> list:
  """[function(item) for item in items] in threads, one per CPU core at most (joblib).

  For the tuning grids of the evaluations: libsvm, the nearest-neighbour searches, ARPACK and
  k-means spend their time in compiled code without Python's lock (a 4-point NJW grid on 2
  cores: 10.0 s in a loop, 5.9 s in threads; loky's processes 9.1 s with their start-up)."""
  from joblib import Parallel, delayed  # pylint: disable=import-outside-toplevel
  jobs = max(1, min(len(items), os.cpu_count() or 1))
  return Parallel(n_jobs=jobs, prefer='threads')(delayed(function)(item) for item in items)


def _tuned_classifier_error(model_of, train, tune, test, regularisations) -> dict:
  """Fits model_of(C) on train for each C (in parallel), keeps the one with the lowest tune
  error (the first C of a tie); returns its test and tune error (%) and C."""
  def fit(c):
    model = model_of(c).fit(*train)
    return 100.0 * (1.0 - model.score(*tune)), model

  fits = map_over_cores(fit, list(regularisations))
  best = min(range(len(fits)), key=lambda index: fits[index][0])
  tune_error, model = fits[best]
  return {'test_error': 100.0 * (1.0 - model.score(*test)), 'tune_error': tune_error,
          'C': regularisations[best]}


def linear_classifier_accuracy(train: tuple[np.ndarray, np.ndarray],
                               test: tuple[np.ndarray, np.ndarray]) -> float:
  """Test accuracy (%) of a standardised multinomial logistic regression."""
  from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel
  from sklearn.pipeline import make_pipeline  # pylint: disable=import-outside-toplevel
  from sklearn.preprocessing import StandardScaler  # pylint: disable=import-outside-toplevel
  model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
  model.fit(*train)
  return 100.0 * model.score(*test)


def parzen_log_densities(samples: jax.Array, points: jax.Array,
                         sigmas: jax.Array) -> jax.Array:
  """(len(sigmas), len(points)) log-densities of `points` under a Gaussian Parzen window of
  width sigma centred on each sample (a pure function, for use under jit):
    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log n - (d / 2) log(2 pi sigma^2).
  Squared distances from one (points, n) matrix product, then one sigma at a time."""
  n, d = samples.shape
  squared = jnp.maximum(jnp.sum(points ** 2, axis=1)[:, None]
                        + jnp.sum(samples ** 2, axis=1)[None, :] - 2.0 * points @ samples.T, 0.0)
  return jax.lax.map(
      lambda sigma: (jax.nn.logsumexp(-squared / (2.0 * sigma ** 2), axis=1) - jnp.log(n)
                     - 0.5 * d * jnp.log(2 * jnp.pi * sigma ** 2)), sigmas)


def _parzen_log_densities(samples: np.ndarray, points: np.ndarray, sigmas: Sequence[float],
                          batch_size: int = 1000) -> np.ndarray:
  """`parzen_log_densities` over chunks of `batch_size` points, on host arrays."""
  samples = jnp.asarray(samples, jnp.float32)
  sigmas = jnp.asarray(sigmas, jnp.float32)
  log_density = jax.jit(parzen_log_densities)
  return chunked(lambda chunk: log_density(samples, jnp.asarray(chunk[0], jnp.float32), sigmas).T,
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


def libsvm_error(train: tuple[np.ndarray, np.ndarray], tune: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray],
                 regularisations: Sequence[float] = (0.01, 0.1, 1.0, 10.0)) -> dict:
  """Test error (%) of libsvm's linear C-SVC (one-vs-one, hinge loss, no feature scaling: the
  authors' `svmclassify.m` of Wang et al. 2015), trained on every training row, C chosen by
  the tune split's error. Returns test and tune error and the C."""
  from sklearn.svm import SVC  # pylint: disable=import-outside-toplevel  (libsvm)
  return _tuned_classifier_error(lambda c: SVC(kernel='linear', C=c), train, tune, test,
                                 regularisations)


class UnclusterableGraph(ValueError):
  """The NJW eigenvectors of a graph are not defined or not found: more connected components
  than clusters (the top eigenvalue 1 then repeats more often than there are clusters), or
  ARPACK did not converge within its bound."""


def njw_spectral_clustering(features: np.ndarray, n_clusters: int, neighbours: int,
                            width: float, seed: int = 0, max_restarts: int = 1000) -> np.ndarray:
  """Spectral clustering of Ng, Jordan and Weiss (2002) on a Gaussian-weighted k-nearest-
  neighbour graph: W_ij = exp(-||x_i - x_j||^2 / (2 width^2)) for j among the `neighbours`
  nearest of i (symmetrised by the maximum), the top n_clusters eigenvectors of
  D^{-1/2} W D^{-1/2}, rows scaled to unit length, then k-means (10 starts). Labels (n,).

  Weights below float64's epsilon are dropped: a narrow width leaves points whose degrees
  are 1e-250 and less, numerically isolated, and an eigenvalue 1 repeated hundreds of times on
  which ARPACK spins for hours (it did on Deep CCA codes of noisy MNIST with widths of 0.25 x
  the median k-th neighbour distance). A graph with more connected components than clusters
  raises `UnclusterableGraph`, as does ARPACK not converging within `max_restarts`. The
  eigenvectors are the top ones of D^{-1/2} W D^{-1/2} (the smallest of the normalised
  Laplacian), by ARPACK's Lanczos on the largest algebraic eigenvalues: sparse products only.
  scikit-learn's `spectral_embedding` uses shift-invert instead, whose sparse LU of the
  Laplacian fills in on well-connected graphs: 19-55 s a graph on 10,000 linear-CCA codes of
  noisy MNIST, against 0.13-0.20 s here, with the same clusters. Where Lanczos does not
  converge (nearly disconnected groups: top eigenvalues within ~1e-4 of each other), shift-
  invert just below the Laplacian's 0 (as scikit-learn's), which pulls them apart, is tried."""
  from scipy.sparse import csgraph, identity  # pylint: disable=import-outside-toplevel
  from scipy.sparse.linalg import (  # pylint: disable=import-outside-toplevel
      ArpackNoConvergence, eigsh)
  from sklearn.cluster import KMeans  # pylint: disable=import-outside-toplevel
  from sklearn.neighbors import kneighbors_graph  # pylint: disable=import-outside-toplevel
  graph = kneighbors_graph(np.asarray(features, np.float64), neighbours, mode='distance',
                           include_self=False)
  graph.data = np.exp(-graph.data ** 2 / (2.0 * width ** 2))
  graph.data[graph.data < np.finfo(np.float64).eps] = 0.0
  graph.eliminate_zeros()
  graph = graph.maximum(graph.T).tocsr()
  components, _ = csgraph.connected_components(graph, directed=False)
  if components > n_clusters:
    raise UnclusterableGraph(f'{components} connected components for {n_clusters} clusters '
                             f'(k = {neighbours}, width {width:.3g})')
  degrees = np.asarray(graph.sum(axis=1)).ravel()
  # Isolated points (degree 0) get a zero row: eigenvalue 0, as scikit-learn's Laplacian 1.
  scale = np.where(degrees > 0, 1.0 / np.sqrt(np.where(degrees > 0, degrees, 1.0)), 0.0)
  adjacency = graph.multiply(scale[:, None]).multiply(scale[None, :]).tocsr()
  start = np.random.default_rng(seed).uniform(-1.0, 1.0, graph.shape[0])
  try:
    _, vectors = eigsh(adjacency, k=n_clusters, which='LA', tol=0.0, v0=start,
                       maxiter=max_restarts)
  except ArpackNoConvergence:
    laplacian = (identity(graph.shape[0], format='csr') - adjacency).tocsc()
    try:
      _, vectors = eigsh(laplacian, k=n_clusters, sigma=-1e-5, which='LM', tol=0.0, v0=start,
                         maxiter=max_restarts)
    except ArpackNoConvergence as error:
      raise UnclusterableGraph(f'ARPACK did not converge in {max_restarts} restarts, by '
                               f'Lanczos or shift-invert (k = {neighbours}, width '
                               f'{width:.3g})') from error
  rows = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
  return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(rows)


def tuned_spectral_clustering_scores(tune: tuple[np.ndarray, np.ndarray],
                                     test: tuple[np.ndarray, np.ndarray], seed: int = 0,
                                     neighbours: Sequence[int] = (5, 10, 20, 50),
                                     width_factors: Sequence[float] = (0.25, 0.5, 1.0, 2.0)
                                     ) -> dict:
  """`njw_spectral_clustering` with its graph (k, width) chosen by clustering accuracy on the
  tune split, then applied to the test split: accuracy and NMI (%) as Wang et al. 2015
  report. Widths are factors of the median distance to the k-th neighbour (of each split).
  Graphs that cannot be clustered (`UnclusterableGraph`) are left out of the choice and listed
  under 'unclusterable'; where the chosen one cannot be clustered on the test split, the next
  best on tune is taken."""
  from sklearn.metrics import normalized_mutual_info_score  # pylint: disable=import-outside-toplevel
  from sklearn.neighbors import NearestNeighbors  # pylint: disable=import-outside-toplevel

  def cluster(features, labels, k, factor):
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    width = factor * float(np.median(distances[:, k]))
    try:
      return njw_spectral_clustering(features, len(np.unique(labels)), k, width, seed)
    except UnclusterableGraph:
      return None

  def tune_accuracy(point):
    clusters = cluster(*tune, *point)
    return None if clusters is None else cluster_accuracy(tune[1], clusters)

  grid = [(k, f) for k in neighbours for f in width_factors]
  scores = dict(zip(grid, map_over_cores(tune_accuracy, grid)))
  unclusterable = [point for point in grid if scores[point] is None]
  for k, factor in sorted((point for point in grid if scores[point] is not None),
                          key=lambda point: -scores[point]):  # stable: the first of a tie
    clusters = cluster(*test, k, factor)
    if clusters is not None:
      return {'accuracy': cluster_accuracy(test[1], clusters),
              'nmi': 100.0 * normalized_mutual_info_score(test[1], clusters),
              'neighbours': k, 'width_factor': factor, 'tune_accuracy': scores[(k, factor)],
              'unclusterable': [list(point) for point in unclusterable]}
    unclusterable.append((k, factor))
  raise UnclusterableGraph(f'no graph of the grid k in {tuple(neighbours)}, width factor in '
                           f'{tuple(width_factors)} could be clustered on both splits')


def cluster_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
  """Clustering accuracy (%): the share of examples whose cluster maps to their label under the
  best one-to-one map of clusters to labels (Hungarian algorithm on the contingency table)."""
  from scipy.optimize import linear_sum_assignment  # pylint: disable=import-outside-toplevel
  from sklearn.metrics.cluster import contingency_matrix  # pylint: disable=import-outside-toplevel
  table = contingency_matrix(labels, clusters)
  rows, columns = linear_sum_assignment(table, maximize=True)
  return 100.0 * table[rows, columns].sum() / len(labels)


def spectral_clustering_scores(features: np.ndarray, labels: np.ndarray, seed: int = 0,
                               neighbours: int = 10) -> dict:
  """Spectral clustering of `features` into as many clusters as labels (Wang et al. 2015):
  accuracy (%, Hungarian matching) and normalised mutual information (%), on a symmetric
  k-nearest-neighbour affinity graph."""
  from sklearn.cluster import SpectralClustering  # pylint: disable=import-outside-toplevel
  from sklearn.metrics import normalized_mutual_info_score  # pylint: disable=import-outside-toplevel
  clusters = SpectralClustering(n_clusters=len(np.unique(labels)), affinity='nearest_neighbors',
                                n_neighbors=neighbours, assign_labels='cluster_qr',
                                random_state=seed).fit_predict(features)
  return {'accuracy': cluster_accuracy(labels, clusters),
          'nmi': 100.0 * normalized_mutual_info_score(labels, clusters)}


def retrieval_recall(queries: np.ndarray, gallery: np.ndarray, ks: Sequence[int] = (1, 5, 10),
                     batch_size: int = 2000) -> dict:
  """Cross-modal retrieval: row i of `queries` (one modality's codes) should find row i of
  `gallery` (the other's) by cosine similarity. Returns recall@k (%) for each k: the share of
  queries whose partner ranks among the k most similar gallery rows."""
  def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  queries, gallery = unit(queries), unit(gallery)
  ranks = []
  for start in range(0, len(queries), batch_size):
    similarity = queries[start:start + batch_size] @ gallery.T
    partner = similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))]
    ranks.append(np.sum(similarity > partner[:, None], axis=1))  # rows strictly closer
  ranks = np.concatenate(ranks)
  return {f'recall@{k}': 100.0 * float(np.mean(ranks < k)) for k in ks}


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
  |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in float64.

  tr (S_a S_b)^(1/2) is computed as the sum of square roots of the eigenvalues of the
  symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2) (the same spectrum), which stays exact when the
  covariances are singular (dead ReLU features), where a general matrix square root does not.
  """
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  values, vectors = np.linalg.eigh(cov_a)
  root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
  middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
  root_trace = np.sum(np.sqrt(np.clip(middle, 0, None)))
  return float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2) + np.trace(cov_a)
               + np.trace(cov_b) - 2.0 * root_trace)
