"""Multimodal autoencoder (Ngiam et al. 2011) on your own views, two or more, some of them
possibly missing per sample (an entirely NaN row in a view's file).

  ./launch.sh train crossjax/configs/mae.py --config.data.name=files \
      --config.data.views=a.npy,b.npy,c.csv [--config.data.labels=y.npy]

Per-view MLP encoders into a 64-unit shared code, per-view decoders, squared error on
standardised views; half of each batch shows one view only. With labels, evaluated by a linear
classifier on the shared code from all views and from each alone.
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('mae', variant)
  config.data.standardize = True
  config.encoder = common.mlp((256,))
  config.decoder = common.mlp((256,))
  config.hidden_dim = 128
  config.code_dim = 64
  config.single_modality_fraction = 0.5
  config.reconstruction = ml_collections.ConfigDict(dict(losses=(), weights=()))
  return config
