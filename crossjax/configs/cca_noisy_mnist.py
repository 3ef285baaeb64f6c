"""Linear CCA on noisy MNIST under the protocol of Wang et al. 2015's released code: ridges
r1 = 0.01 and r2 = 100 added to the covariances (`linCCA.m` of their dccae package), 10
components; view-1 canonical variates scored by libsvm's linear C-SVC (one-vs-one, no scaling,
C in {0.01, 0.1, 1, 10} on the tune split; the authors' demo: 19.6 % test error) and by
Ng-Jordan-Weiss spectral clustering, its graph chosen on the tune split (paper: accuracy 72.9 %,
NMI 56.0 %).

Reproduce:  ./launch.sh train crossjax/configs/cca_noisy_mnist.py
Smoke:      ./launch.sh train crossjax/configs/cca_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import cca


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cca.get_config()
  config.data.name = 'noisy_mnist'
  config.linear.k = 10
  config.linear.r1 = 0.01
  config.linear.r2 = 100.0
  config.evaluation.protocols = ('svm_libsvm', 'clustering_njw')
  if variant == 'smoke':
    config.data.max_train_examples = 3000
  elif variant:
    raise ValueError(f'unknown variant {variant!r}; known: smoke')
  return config
