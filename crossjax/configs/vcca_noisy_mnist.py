"""VCCA on noisy MNIST (Wang, Yan, Lee and Livescu 2016, "Deep Variational Canonical
Correlation Analysis"), as their paper and TensorFlow code set it up.

q(z | x_1) from view 1 (784-1024-1024-1024 ReLU, then the means and log variances of a
40-dimensional z: d_z 40 was their choice on the tune split); decoders 40-1024-1024-1024-784
(ReLU): view 1 Bernoulli (sigmoid means, cross-entropy), view 2 a diagonal Gaussian with
sigmoid means and learned per-pixel log variances (`networks` loss 'gaussian'); KL to N(0, I)
with weight 1; 5 reparameterised draws per example; dropout of the inputs and of every hidden
layer, the sampled latents included (the paper tunes one rate in {0, ..., 0.4}; its choice is
not stated: 0.2 here); Adam at 1e-4, batch 100, 250 epochs, no weight decay. The features are
the means of q(z | x_1), scored by libsvm's linear C-SVC and Ng-Jordan-Weiss spectral
clustering (`evaluators.svm_libsvm`, `clustering_njw`), the protocol of RESULTS.md's noisy
MNIST table. Their paper: SVM error 3.0 % (VCCA-private, vcca_private_noisy_mnist.py: 2.4 %).

Not as theirs: weights initialised as Flax's default (theirs: uniform in +-0.05); both
decoders read the same draws of z (theirs draw separately per decoder).

Reproduce:  ./launch.sh train crossjax/configs/vcca_noisy_mnist.py
Smoke:      ./launch.sh train crossjax/configs/vcca_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import common

DROPOUT = 0.2


def network(widths, dropout=DROPOUT) -> ml_collections.ConfigDict:
  """ReLU layers with dropout of the input and after every hidden layer."""
  return common.mlp(widths, dropout=dropout, input_dropout=dropout)


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('vcca', 'noisy_mnist')
  config.encoder = network((1024, 1024, 1024))
  config.decoder = network((1024, 1024, 1024))
  config.private_encoder = network((1024, 1024, 1024))
  config.output_dim = 40
  config.variational = ml_collections.ConfigDict(dict(private_dim=0, samples=5))
  config.reconstruction = ml_collections.ConfigDict(dict(losses=('bernoulli', 'gaussian')))
  config.optimizer = common.optimizer_config(learning_rate=1e-4)
  config.batch_size = 100
  config.num_epochs = 250
  config.log_every = 500
  config.checkpoint_every = 5000
  config.eval_examples = 10000
  config.evaluation.protocols = ('svm_libsvm', 'clustering_njw')
  config.evaluation.embedding_examples = 3000
  if variant == 'smoke':
    config.data.max_train_examples = 3000
    for section in ('encoder', 'decoder', 'private_encoder'):
      config[section] = network((128,))
    config.output_dim = 10
    config.variational.samples = 2
    config.optimizer.learning_rate = 1e-3
    config.num_epochs = 0
    config.num_steps = 60
    config.log_every = 20
    config.checkpoint_every = 60
    config.eval_examples = 1000
    config.evaluation.embedding_examples = 0
  return config
