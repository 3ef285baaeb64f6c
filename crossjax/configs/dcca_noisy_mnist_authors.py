"""DCCA on noisy MNIST as Wang et al. 2015 trained it: the settings of their released code
(`demo.m` and `DCCA_train.m` of the dccae package).

Encoders 784-1024-1024-1024-10 with sigmoid hidden units and linear codes (initialised as
`deepnetinit.m` does: uniform weights, +-4 sqrt(6 / (fan_in + fan_out)) into sigmoid units,
+-1 / sqrt(fan_in) into the codes; zero biases); ridge 1e-4 per
view; weight decay 1e-4 on every weight and bias (their penalty l2 ||w||^2, so weight_decay =
2e-4 here); SGD, learning rate 0.01, momentum 0.99; batch 800, 50 epochs (62 updates each).
The state kept is the one with the best tune objective (the whole tune split), checked once
per epoch (their F1opt); the features are the view-1 canonical variates of a linear CCA
fitted on the training codes, scored by libsvm's linear C-SVC and Ng-Jordan-Weiss spectral
clustering (`evaluators.svm_libsvm`, `clustering_njw`). Their demo prints a test error of
3.8 % (the paper, tuned on the tune split: 2.9 %). DCCAE: dccae_noisy_mnist_authors.py.

Reproduce:  ./launch.sh train crossjax/configs/dcca_noisy_mnist_authors.py
Smoke:      ./launch.sh train crossjax/configs/dcca_noisy_mnist_authors.py:smoke
"""

import ml_collections

from crossjax.configs import common

TRAIN_ROWS = 50000


def encoder(widths) -> ml_collections.ConfigDict:
  """Sigmoid hidden layers, a linear code layer, initialised as `deepnetinit.m` does."""
  return common.mlp(widths, activation='sigmoid', kernel_init='glorot_uniform_x4',
                    output_kernel_init='uniform_fan_in')


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('dcca', 'noisy_mnist')
  config.encoder = encoder((1024, 1024, 1024))
  config.output_dim = 10
  config.objective = common.correlation('dcca', ridge=1e-4)
  config.optimizer = common.optimizer_config(name='sgd', learning_rate=0.01, momentum=0.99,
                                             weight_decay=2e-4)
  config.batch_size = 800
  epoch = TRAIN_ROWS // config.batch_size
  config.num_epochs = 0
  config.num_steps = 50 * epoch
  config.eval_every = config.checkpoint_every = epoch
  config.log_every = epoch
  config.eval_examples = 10000  # the whole tune split
  config.evaluate_checkpoint = 'best'
  config.evaluation.k = 10
  config.evaluation.features = 'canonical'
  config.evaluation.protocols = ('svm_libsvm', 'clustering_njw')
  config.evaluation.embedding_examples = 3000
  if variant == 'smoke':
    config.data.max_train_examples = 3200
    config.encoder = encoder((128,))
    config.num_steps = 12
    config.eval_every = config.checkpoint_every = config.log_every = 4
    config.eval_examples = 1000
    config.evaluation.embedding_examples = 0
  return config
