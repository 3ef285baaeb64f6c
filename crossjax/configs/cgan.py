"""Conditional GAN (Mirza and Osindero 2014) generating view 2 from view 1 of your own data.

  ./launch.sh train crossjax/configs/cgan.py --config.data.name=files \
      --config.data.views=condition.npy,target.npy

MLP players, the condition entering each through a dense layer, projection discriminator,
non-saturating loss with R1, Adam (b1 0.5). Views are standardised and G's output is linear
(gan.output='sigmoid' for pixels in [0, 1]). Without a judging
classifier the result is the Frechet distance between generated and real test targets.
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('cgan', variant)
  config.data.standardize = True
  config.num_classes = 0
  config.gan = ml_collections.ConfigDict(dict(
      noise_dim=32, condition='x1', target='x2', condition_dim=64, output='linear',
      loss='non_saturating', r1_weight=1.0, conditioning='projection',
      noise_distribution='normal', generator_branch_activation='leaky_relu'))
  config.generator = common.mlp((256, 256))
  config.generator_condition = common.mlp(())
  config.discriminator = common.mlp((256, 256), activation='leaky_relu', dropout=0.3)
  config.discriminator_condition = common.mlp(())
  config.optimizer = ml_collections.ConfigDict({
      'generator': common.optimizer_config(learning_rate=5e-4, b1=0.5),
      'discriminator': common.optimizer_config(learning_rate=2e-4, b1=0.5)})
  config.evaluation.transfer = 'view'
  return config
