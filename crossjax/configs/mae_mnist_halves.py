"""Multimodal autoencoder (Ngiam et al. 2011) on MNIST left/right halves: predict a missing half.

Encoders 392-512 per half, a 64-unit shared code, decoders 512-392 with Bernoulli
cross-entropy on pixel intensities; half of each batch shows one half only. Evaluated by a
linear classifier on the shared code from both halves and from each half alone, against each
raw half; halves.png shows right halves completed from the left ones.

Reproduce:  ./launch.sh train crossjax/configs/mae_mnist_halves.py
Smoke:      ./launch.sh train crossjax/configs/mae_mnist_halves.py:smoke
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('mae', 'mnist_halves')
  config.encoder = common.mlp((512,))
  config.decoder = common.mlp((512,))
  config.hidden_dim = 256
  config.code_dim = 64
  config.single_modality_fraction = 0.5
  config.reconstruction = ml_collections.ConfigDict(
      dict(losses=('bernoulli', 'bernoulli'), weights=(1.0, 1.0)))
  config.batch_size = 500
  config.num_epochs = 10
  config.evaluation.max_train_examples = 10000
  config.evaluation.halves_figure = True
  if variant == 'smoke':
    config.data.max_train_examples = 4000
    config.encoder = common.mlp((128,))
    config.decoder = common.mlp((128,))
    config.num_epochs = 2
    config.log_every = 4
    config.checkpoint_every = 8
    config.eval_examples = 1000
    config.evaluation.max_train_examples = 2000
  return config
