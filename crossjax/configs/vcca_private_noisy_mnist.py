"""VCCA-private on noisy MNIST (Wang, Yan, Lee and Livescu 2016): vcca_noisy_mnist.py with a
30-dimensional private latent per view, q(h_i | x_i) from view i (784-1024-1024-1024 ReLU),
decoder i reading [z, h_i]. The features stay the means of q(z | x_1). Their paper: SVM error
2.4 %.

Reproduce:  ./launch.sh train crossjax/configs/vcca_private_noisy_mnist.py
Smoke:      ./launch.sh train crossjax/configs/vcca_private_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import vcca_noisy_mnist


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = vcca_noisy_mnist.get_config(variant)
  config.variational.private_dim = 5 if variant == 'smoke' else 30
  return config
