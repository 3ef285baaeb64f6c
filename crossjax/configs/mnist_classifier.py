"""The MNIST digit classifier that judges generated and completed digits (a small conv net).

Trained once per work directory by the runs that need it (the cGAN evaluations put it beside
their own work directory) and restored afterwards; it can also be trained on its own. The
judge of generated noisy-MNIST view-2 images is the same network trained on those images
(`classifier('noisy_mnist', 'x2')`, 'noisy_mnist_x2_classifier').

Train:  ./launch.sh train crossjax/configs/mnist_classifier.py
Smoke:  ./launch.sh train crossjax/configs/mnist_classifier.py:smoke
"""

import ml_collections

from crossjax.configs import common


def classifier(dataset: str, view: str, variant: str) -> ml_collections.ConfigDict:
  """The classifier of `dataset`'s images in `view`, named after both."""
  common.check_variant(variant)
  config = common.base('classifier', dataset)
  config.name = ('mnist_classifier' if (dataset, view) == ('mnist', 'x1')
                 else f'{dataset}_{view}_classifier') + (f'_{variant}' if variant else '')
  config.view = view
  config.network = ml_collections.ConfigDict(
      dict(kind='conv_encoder', hidden=256, activation='relu', dropout=0.3))
  config.num_classes = 10
  config.batch_size = 128
  config.num_epochs = 8  # 99.18 % test accuracy (4 epochs: 98.94 %)
  config.optimizer = common.optimizer_config(learning_rate=2e-3, schedule='cosine',
                                             warmup_steps=100)
  config.evaluation.batch_size = 2000
  if variant == 'smoke':
    config.data.max_train_examples = 12000
    config.num_epochs = 2
    config.log_every = 20
    config.checkpoint_every = 100
    config.eval_examples = 2000
  return config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  return classifier('mnist', 'x1', variant)
