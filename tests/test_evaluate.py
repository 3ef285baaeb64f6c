"""Downstream metrics against brute-force or closed-form references."""

import itertools

import numpy as np
from sklearn.datasets import make_blobs

from crossjax import evaluate


def test_cluster_accuracy_is_the_best_matching_by_brute_force():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, 200)
  clusters = np.where(rng.uniform(size=200) < 0.7, (labels + 1) % 4, rng.integers(0, 4, 200))
  best = max(np.mean(np.asarray(mapping)[clusters] == labels)
             for mapping in itertools.permutations(range(4)))
  assert np.isclose(evaluate.cluster_accuracy(labels, clusters), 100 * best)
  assert evaluate.cluster_accuracy(labels, (labels * 3 + 1) % 4) == 100.0  # a relabelling


def test_spectral_clustering_separates_blobs():
  features, labels = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
  scores = evaluate.spectral_clustering_scores(features, labels)
  assert scores == {'accuracy': 100.0, 'nmi': 100.0}


def test_retrieval_recall_against_a_full_sort():
  rng = np.random.default_rng(1)
  queries = rng.normal(size=(300, 8))
  gallery = queries + rng.normal(scale=1.5, size=(300, 8))
  result = evaluate.retrieval_recall(queries, gallery, ks=(1, 5, 10), batch_size=64)
  unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
  order = np.argsort(-(unit(queries) @ unit(gallery).T), axis=1)
  position = np.argmax(order == np.arange(300)[:, None], axis=1)
  for k in (1, 5, 10):
    assert np.isclose(result[f'recall@{k}'], 100 * np.mean(position < k))
  assert 0 < result['recall@1'] < result['recall@10'] < 100
  assert evaluate.retrieval_recall(queries, 2 * queries)['recall@1'] == 100.0


def test_frechet_distance_against_eigenvalue_formula():
  rng = np.random.default_rng(2)
  a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
  b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1.0
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # tr (S_a S_b)^(1/2) = sum of square roots of the (real, non-negative) eigenvalues of S_a S_b.
  root_trace = np.sum(np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)))
  expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
              - 2 * root_trace)
  np.testing.assert_allclose(evaluate.frechet_distance(a, b), expected, rtol=1e-8)
  # Singular covariances (a dead feature in both sets) give the same as without the feature.
  dead = lambda x: np.concatenate([x, np.zeros((len(x), 1))], axis=1)
  np.testing.assert_allclose(evaluate.frechet_distance(dead(a), dead(b)), expected, rtol=1e-8)
  shift = np.arange(6.0)
  np.testing.assert_allclose(evaluate.frechet_distance(a, a + shift), np.sum(shift ** 2),
                             rtol=1e-6, atol=1e-6)
