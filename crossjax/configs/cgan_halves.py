"""Conditional GAN that generates the right half of an MNIST digit from its left half
(modality transfer; Mirza and Osindero 2014 with another modality as the condition).

The left half (392 pixels) enters each player through a dense layer and is joined to D's input
(concatenation, as in the paper: D sees whether the halves fit together); otherwise the
players, loss and optimizers of `cgan_mnist.py`. Evaluated by the MNIST classifier's accuracy
on test images made of the real left half and the generated right half, against real images
and left halves with an empty right half; halves.png shows completed halves.

Reproduce:  ./launch.sh train crossjax/configs/cgan_halves.py
Smoke:      ./launch.sh train crossjax/configs/cgan_halves.py:smoke
"""

import ml_collections

from crossjax.configs import cgan_mnist


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cgan_mnist.gan('mnist_halves', condition='x1', target='x2', variant=variant)
  config.gan.conditioning = 'concat'
  config.evaluation.transfer = 'halves'
  return config
