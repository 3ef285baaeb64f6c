"""VCCA on your own views (Wang, Yan, Lee and Livescu 2016): a Gaussian posterior q(z | x_1)
from an MLP encoder of view 1, an MLP decoder per view from z, trained on the negative evidence
lower bound with squared error on standardised views; VCCA-private with
--config.variational.private_dim > 0 (a private latent per view, from its own encoder).

  ./launch.sh train crossjax/configs/vcca.py --config.data.name=files \
      --config.data.views=a.npy,b.npy --config.data.labels=y.npy

output_dim (the shared latent size) 0 takes min(10, view 1's width); reconstruction.losses one
per view (empty: squared error for each; 'bernoulli' for data in [0, 1]). With labels,
evaluated on the means of q(z | x_1) by evaluation.protocols (default svm, clustering).
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('vcca', variant)
  config.data.standardize = True
  config.encoder = common.mlp((256, 256))
  config.decoder = common.mlp((256, 256))
  config.private_encoder = common.mlp((256, 256))
  config.output_dim = 0
  config.variational = ml_collections.ConfigDict(dict(private_dim=0, samples=1))
  config.reconstruction = ml_collections.ConfigDict(dict(losses=()))
  config.evaluation.protocols = ('svm', 'clustering')
  return config
