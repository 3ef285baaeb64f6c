"""cgan_mnist with the generator of Mirza and Osindero 2014 ("Conditional Generative Adversarial
Nets", section 4.1): z of 100 dimensions drawn uniformly (U[-sqrt 3, sqrt 3], the unit-variance
uniform of Goodfellow et al.'s released code) and mapped to 200 ReLU units, the one-hot label
mapped to 1000 ReLU units, both joined in a layer of 1200 ReLU units (dropout 0.5) before a
sigmoid output of 784 pixels; batch 100; the state of the best Parzen estimate on tune digits
is evaluated (their stopping point).

Not as theirs: the discriminator (theirs maxout, 240 units x 5 pieces on x, 50 x 5 on y, a
joint 240 x 4; crossjax has no maxout layer, so cgan_mnist's projection discriminator), the
optimiser (theirs SGD from 0.1 decayed by 1.00004 per update to 1e-6, momentum 0.5 rising to
0.7; here cgan_mnist's Adam with the R1 penalty on D).

Reproduce:  ./launch.sh reproduce cgan_mnist_paper_generator
Smoke:      ./launch.sh train crossjax/configs/cgan_mnist_paper_generator.py:smoke
"""

import ml_collections

from crossjax.configs import cgan_mnist, common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cgan_mnist.get_config(variant)
  config.gan.noise_distribution = 'uniform'
  config.gan.generator_branch_activation = 'relu'
  config.gan.noise_code_dim = 200
  config.gan.generator_condition_dim = 1000
  config.generator_noise = common.mlp(())
  config.generator = common.mlp((1200,), activation='relu', dropout=0.5)
  config.batch_size = 100
  if variant == 'smoke':
    config.gan.noise_code_dim, config.gan.generator_condition_dim = 32, 64
    config.generator = common.mlp((128,), activation='relu', dropout=0.5)
  return config
