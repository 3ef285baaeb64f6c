"""The authors' SVM of Wang et al. 2015 on view-1 features: libsvm's linear C-SVC (one-vs-one,
no feature scaling), C in {0.01, 0.1, 1, 10} chosen on the tune split."""

from crossjax import evaluate as metrics

RESULT = 'libsvm_view1'
NEEDS_LABELS = True


def evaluate(view1, labels, pair, seed):
  del pair, seed
  return metrics.libsvm_error(*[(view1[name], labels[name]) for name in ('train', 'tune', 'test')])


def summary(result) -> str:
  return (f'libsvm linear SVC on view-1 features: test error {result["test_error"]:.2f} % '
          f'(C = {result["C"]})')
