"""Downstream metrics of the papers, on top of scikit-learn where it does the job."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from crossjax import linear


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
