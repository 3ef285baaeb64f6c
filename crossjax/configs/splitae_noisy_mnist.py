"""SplitAE on noisy MNIST, 10-dimensional codes (the baseline of Wang et al. 2015): the
encoder of view 1 and the decoders of dccae_noisy_mnist.py (784-1024-1024-1024-10, mirrored,
sigmoid outputs with Bernoulli cross-entropy), trained to reconstruct both views from view 1;
the view-1 codes scored by the authors' libsvm SVM and Ng-Jordan-Weiss spectral clustering
(`evaluators.svm_libsvm`, `clustering_njw`), as the other rows of RESULTS.md's table under
their protocol.

Reproduce:  ./launch.sh train crossjax/configs/splitae_noisy_mnist.py
Smoke:      ./launch.sh train crossjax/configs/splitae_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import common, dccae_noisy_mnist


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  source = dccae_noisy_mnist.get_config(variant)
  config = common.base('splitae', 'noisy_mnist')
  for key in ('data', 'encoder', 'decoder', 'output_dim', 'batch_size', 'num_epochs',
              'log_every', 'checkpoint_every', 'eval_examples'):
    config[key] = source[key]
  config.reconstruction = ml_collections.ConfigDict(dict(losses=('bernoulli', 'bernoulli')))
  config.evaluation.protocols = ('svm_libsvm', 'clustering_njw')
  config.evaluation.embedding_examples = source.evaluation.embedding_examples
  return config
