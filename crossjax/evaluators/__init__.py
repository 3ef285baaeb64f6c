"""Downstream protocols, one small module each, chosen by name in a config.

`config.evaluation.protocols` lists them (e.g. ('svm', 'clustering') for Wang et al. 2015;
'svm_libsvm' and 'clustering_njw' are those protocols as the authors ran them).
Each module has RESULT (the key of its results), evaluate(view1, labels, pair, seed) -> dict
and summary(result) -> line; `view1` maps a split name to view-1 features, `labels` a split
name to its labels, `pair()` gives aligned view-1 and view-2 test features (canonical
variates) for retrieval. Protocols that need labels are skipped on unlabelled data.
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

PROTOCOLS = ('svm', 'clustering', 'retrieval', 'svm_libsvm', 'clustering_njw')


def _module(name: str):
  if name not in PROTOCOLS:
    raise ValueError(f'unknown evaluation protocol {name!r}; known: {", ".join(PROTOCOLS)}')
  return importlib.import_module(f'crossjax.evaluators.{name}')


def names(protocols: Sequence[str]) -> list[str]:
  """The protocol names; an entry may hold several separated by commas, as the command line
  gives them (--config.evaluation.protocols=svm,clustering)."""
  return [name.strip() for entry in protocols for name in entry.split(',') if name.strip()]


def check(protocols: Sequence[str]) -> None:
  """Refuses unknown protocol names (before training)."""
  for name in names(protocols):
    _module(name)


def run(protocols: Sequence[str], view1: dict, labels: dict | None, pair: Callable,
        seed: int) -> dict:
  results = {}
  for name in names(protocols):
    module = _module(name)
    if module.NEEDS_LABELS and labels is None:
      continue
    results[module.RESULT] = module.evaluate(view1, labels, pair, seed)
  return results


def summary(results: dict, prefix: str = '') -> list[str]:
  lines = []
  for name in PROTOCOLS:
    module = _module(name)
    if module.RESULT in results:
      lines.append(f'  {prefix}{module.summary(results[module.RESULT])}')
  return lines
