"""Quick start: linear CCA on scikit-learn's digits, left vs right 4 pixel columns.

Needs no data file and runs in seconds on a CPU:  ./launch.sh demo
"""

import ml_collections


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = 'linear_cca'
  config.data = ml_collections.ConfigDict(
      dict(name='digits_halves', path='', seed=0, max_train_examples=0))
  config.linear = ml_collections.ConfigDict(dict(k=10, r1=1e-3, r2=1e-3))
  if variant not in ('', 'smoke'):  # the demo is its own smoke run
    raise ValueError(f'unknown variant {variant!r}; known: smoke')
  return config
