"""SplitAE on your own views: an MLP encoder of view 1 and an MLP decoder per view from its
code, squared error on standardised views (the baseline of Wang et al. 2015).

  ./launch.sh train crossjax/configs/splitae.py --config.data.name=files \
      --config.data.views=a.npy,b.npy --config.data.labels=y.npy

output_dim 0 takes min(10, view 1's width); reconstruction.losses one per view (empty: squared
error for each). With labels, evaluated on the view-1 codes by evaluation.protocols (default
svm, clustering).
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('splitae', variant)
  config.data.standardize = True
  config.encoder = common.mlp((256, 256))
  config.decoder = common.mlp((256, 256))
  config.output_dim = 0
  config.reconstruction = ml_collections.ConfigDict(dict(losses=()))
  config.evaluation.protocols = ('svm', 'clustering')
  return config
