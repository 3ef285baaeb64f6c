"""Cross-modal retrieval on test canonical variates: view 1 finds its own view 2, recall@k."""

import numpy as np

from crossjax import evaluate as metrics

RESULT = 'retrieval_view1_to_view2'
NEEDS_LABELS = False


def evaluate(view1, labels, pair, seed):
  del view1, labels, seed
  queries, gallery = pair()[:2]
  return metrics.retrieval_recall(np.asarray(queries), np.asarray(gallery))


def summary(result) -> str:
  return 'retrieval view 1 -> view 2 (test): ' + ', '.join(
      f'{k} {v:.1f} %' for k, v in result.items())
