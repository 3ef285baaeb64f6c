"""DCCAE on noisy MNIST, 10-dimensional codes (Wang et al. 2015).

Encoders 784-1024-1024-1024-10 and mirrored decoders (sigmoid outputs, Bernoulli
cross-entropy), loss = -corr + lambda * reconstruction. Evaluated as the paper does on view-1
codes: the error of a linear SVM, C chosen on the tune split (paper: DCCAE 2.2 %, DCCA 2.9 %,
linear CCA 19.6 %), and spectral clustering of the test codes, accuracy / NMI (paper: DCCAE
97.5 / 93.4 %, DCCA 97.0 / 92.0 %, CCA 72.9 / 56.0 %); the same for linear CCA on the raw
views. On 2 CPU cores (20 epochs, 9 minutes): SVM error 3.75 %, clustering 96.1 / 90.3 %.

Reproduce:  ./launch.sh train crossjax/configs/dccae_noisy_mnist.py
DCCA alone: ./launch.sh train crossjax/configs/dccae_noisy_mnist.py --config.model=dcca
Smoke:      ./launch.sh train crossjax/configs/dccae_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('dccae', 'noisy_mnist')
  config.encoder = common.mlp((1024, 1024, 1024))
  config.decoder = common.mlp((1024, 1024, 1024))
  config.output_dim = 10
  config.objective = common.correlation('dcca', ridge=1e-3)
  config.reconstruction = ml_collections.ConfigDict(dict(weight=1e-3, loss='bernoulli'))
  config.batch_size = 1000
  config.num_epochs = 20
  config.evaluation.k = 10
  config.evaluation.protocols = ('svm', 'clustering')
  # No retrieval: view 2 is another image of the same class, so rows are not instance pairs.
  config.evaluation.linear_baseline = True  # the CCA row of the paper's table
  config.evaluation.embedding_examples = 3000
  if variant == 'smoke':
    config.data.max_train_examples = 3000
    config.encoder = common.mlp((128,))
    config.decoder = common.mlp((128,))
    config.batch_size = 500
    config.num_epochs = 2
    config.log_every = 3
    config.checkpoint_every = 6
    config.eval_examples = 1000
    config.evaluation.embedding_examples = 300
    config.evaluation.linear_baseline = False
  return config
