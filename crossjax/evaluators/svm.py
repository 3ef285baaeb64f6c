"""Linear SVM on view-1 features, C chosen on the tune split (Wang et al. 2015)."""

from crossjax import evaluate as metrics

RESULT = 'svm_view1'
NEEDS_LABELS = True


def evaluate(view1, labels, pair, seed):
  del pair, seed
  return metrics.linear_svm_error(*[(view1[name], labels[name])
                                    for name in ('train', 'tune', 'test')])


def summary(result) -> str:
  return (f'linear SVM on view-1 features: test error {result["test_error"]:.2f} % '
          f'(C = {result["C"]})')
