"""Spectral clustering of view-1 test features: accuracy and NMI (Wang et al. 2015)."""

from crossjax import evaluate as metrics

RESULT = 'clustering_view1'
NEEDS_LABELS = True


def evaluate(view1, labels, pair, seed):
  del pair
  return metrics.spectral_clustering_scores(view1['test'], labels['test'], seed=seed)


def summary(result) -> str:
  return (f'spectral clustering of view-1 test features: accuracy {result["accuracy"]:.1f} %, '
          f'NMI {result["nmi"]:.1f} %')
