"""The authors' protocols of Wang et al. 2015: libsvm's linear SVC and Ng-Jordan-Weiss spectral
clustering on a Gaussian k-nearest-neighbour graph, against a dense naive construction."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from crossjax import evaluate


def blobs(n_per_class=60, classes=4, seed=0, spread=0.6):
  rng = np.random.default_rng(seed)
  centres = rng.normal(scale=4.0, size=(classes, 3))
  x = np.concatenate([c + spread * rng.normal(size=(n_per_class, 3)) for c in centres])
  return x, np.repeat(np.arange(classes), n_per_class)


def naive_njw(x, clusters, neighbours, width, seed):
  n = len(x)
  distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  w = np.zeros((n, n))
  for i in range(n):
    for j in np.argsort(distances[i])[1:neighbours + 1]:  # itself first (distance 0)
      w[i, j] = np.exp(-distances[i, j] ** 2 / (2 * width ** 2))
  w = np.maximum(w, w.T)
  d = 1 / np.sqrt(w.sum(1))
  _, vectors = np.linalg.eigh(d[:, None] * w * d[None])
  top = vectors[:, -clusters:]
  rows = top / np.linalg.norm(top, axis=1, keepdims=True)
  return KMeans(clusters, n_init=10, random_state=seed).fit_predict(rows)


def test_njw_clustering_matches_a_dense_naive_construction_and_tunes_on_tune():
  x, labels = blobs()
  ours = evaluate.njw_spectral_clustering(x, 4, 8, 1.5, seed=0)
  assert adjusted_rand_score(ours, naive_njw(x, 4, 8, 1.5, 0)) == 1.0
  assert evaluate.cluster_accuracy(labels, ours) > 95.0
  # Overlapping blobs: the graph chosen on the tune split, scored on the test split.
  tune, test = blobs(seed=1, spread=1.0), blobs(seed=1, spread=1.0)
  rng = np.random.default_rng(2)
  test = (test[0] + 0.1 * rng.normal(size=test[0].shape), test[1])
  result = evaluate.tuned_spectral_clustering_scores(tune, test, neighbours=(5, 15),
                                                     width_factors=(0.5, 2.0))
  assert result['neighbours'] in (5, 15) and result['width_factor'] in (0.5, 2.0)
  assert result['accuracy'] > 80.0 and 0.0 < result['nmi'] <= 100.0


def test_njw_refuses_numerically_disconnected_graphs_and_the_tuner_skips_them():
  # Blobs with scattered outliers: at a narrow width the outliers' weights underflow (degrees
  # of 1e-250 on Deep CCA codes once left ARPACK iterating for hours); such a graph is refused.
  x, labels = blobs()
  rng = np.random.default_rng(4)
  picked = rng.choice(len(x), 20)
  x = np.concatenate([x, x[picked] + 1.5 * rng.normal(size=(20, 3))])
  labels = np.concatenate([labels, labels[picked]])
  with pytest.raises(evaluate.UnclusterableGraph, match='17 connected components'):
    evaluate.njw_spectral_clustering(x, 4, 5, 0.15, seed=0)
  with pytest.raises(evaluate.UnclusterableGraph, match='ARPACK did not converge'):
    evaluate.njw_spectral_clustering(x, 8, 5, 0.6, seed=0, max_restarts=1)
  result = evaluate.tuned_spectral_clustering_scores((x, labels), (x, labels), neighbours=(5,),
                                                     width_factors=(0.25, 1.0))
  assert result['unclusterable'] == [[5, 0.25]] and result['width_factor'] == 1.0
  assert result['accuracy'] > 90.0
  with pytest.raises(evaluate.UnclusterableGraph, match='no graph of the grid'):
    evaluate.tuned_spectral_clustering_scores((x, labels), (x, labels), neighbours=(5,),
                                              width_factors=(0.25,))


def test_libsvm_error_chooses_c_on_tune():
  (x, y), (xt, yt), (xs, ys) = (blobs(seed=3, spread=s) for s in (2.0, 2.0, 2.0))
  result = evaluate.libsvm_error((x, y), (xt, yt), (xs, ys))
  assert result['C'] in (0.01, 0.1, 1.0, 10.0)
  from sklearn.svm import SVC
  tune_errors = {c: 100 * (1 - SVC(kernel='linear', C=c).fit(x, y).score(xt, yt))
                 for c in (0.01, 0.1, 1.0, 10.0)}
  assert result['tune_error'] == min(tune_errors.values())
  assert result['test_error'] < 30.0
