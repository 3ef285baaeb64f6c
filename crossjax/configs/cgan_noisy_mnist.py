"""Conditional GAN that generates noisy MNIST's view 2 from view 1 (Wang et al. 2015's views;
modality transfer as in Mirza and Osindero 2014 with another modality as the condition).

View 1 is a rotated digit; view 2 a different image of the same class under U[0, 1] pixel
noise, so the class is all that view 1 tells about view 2: G must draw a noisy digit of the
class it reads from the rotated one. View 1 enters each player through a dense layer; D
conditions by projection; otherwise the players, loss and optimizers of `cgan_mnist.py`.

Evaluated by a classifier of noisy view-2 images (the conv net of `mnist_classifier.py`
trained on them, 'noisy_mnist_x2_classifier' beside this run): its accuracy on generated test
views against the class of their view 1, on the real view 2 and on real views of shuffled
pairs (chance); transfer.png shows view 1, the generated and a real view 2.

Reproduce:  ./launch.sh train crossjax/configs/cgan_noisy_mnist.py
Smoke:      ./launch.sh train crossjax/configs/cgan_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import cgan_mnist, mnist_classifier


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cgan_mnist.gan('noisy_mnist', condition='x1', target='x2', variant=variant)
  config.evaluation.transfer = 'view'
  config.evaluation.classifier = mnist_classifier.classifier('noisy_mnist', 'x2', variant)
  return config
