"""Linear CCA on MNIST halves, 50 components (Andrew et al. 2013, Table 1: test 28.0, tune 28.1).

Reproduce:  ./launch.sh train experiments/configs/cca_mnist.py
Smoke:      ./launch.sh train experiments/configs/cca_mnist.py:smoke
"""

import ml_collections


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = 'linear_cca'
  config.data = ml_collections.ConfigDict(
      dict(name='mnist_halves', path='', seed=0, max_train_examples=0))
  # r = 0: rank-deficient views (constant border pixels) are whitened by the pseudo-inverse.
  config.linear = ml_collections.ConfigDict(dict(k=50, r1=0.0, r2=0.0))
  if variant == 'smoke':
    config.data.max_train_examples = 5000
  elif variant:
    raise ValueError(f'unknown variant {variant!r}; known: smoke')
  return config
