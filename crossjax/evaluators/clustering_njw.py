"""Spectral clustering of Ng, Jordan and Weiss on view-1 test features, its Gaussian
k-nearest-neighbour graph (k, width) chosen on the tune split: accuracy and NMI (the protocol
Wang et al. 2015 describe)."""

from crossjax import evaluate as metrics

RESULT = 'njw_clustering_view1'
NEEDS_LABELS = True


def evaluate(view1, labels, pair, seed):
  del pair
  return metrics.tuned_spectral_clustering_scores(
      *[(view1[name], labels[name]) for name in ('tune', 'test')], seed=seed)


def summary(result) -> str:
  return (f'NJW spectral clustering of view-1 test features: accuracy {result["accuracy"]:.1f} %, '
          f'NMI {result["nmi"]:.1f} % (k = {result["neighbours"]}, width {result["width_factor"]} '
          f'x median k-th neighbour distance, chosen on tune; {len(result["unclusterable"])} '
          'graphs of the grid not clusterable)')
