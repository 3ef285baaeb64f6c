"""Linear CCA on MNIST halves, 50 components (Andrew et al. 2013, Table 1: test 28.0, tune 28.1).

Reproduce:  ./launch.sh train crossjax/configs/cca_mnist.py
Smoke:      ./launch.sh train crossjax/configs/cca_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import cca


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cca.get_config()
  config.data.name = 'mnist_halves'
  # r = 0: rank-deficient views (constant border pixels) are whitened by the pseudo-inverse.
  config.linear.k = 50
  if variant == 'smoke':
    config.data.max_train_examples = 5000
  elif variant:
    raise ValueError(f'unknown variant {variant!r}; known: smoke')
  return config
