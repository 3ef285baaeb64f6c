"""DCCAE (Wang et al. 2015) on your own views: Deep CCA plus per-view MLP decoders,
loss = -corr + lambda * squared reconstruction error (standardised views).

  ./launch.sh train crossjax/configs/dccae.py --config.data.name=files \
      --config.data.views=a.npy,b.npy

See dcca.py for the shared settings.
"""

import ml_collections

from crossjax.configs import common, dcca


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = dcca.get_config(variant)
  config.model = 'dccae'
  config.data.standardize = True
  config.decoder = common.mlp((256, 256))
  config.reconstruction = ml_collections.ConfigDict(dict(weight=1e-3, loss='squared_error'))
  return config
