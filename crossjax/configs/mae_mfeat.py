"""Multimodal autoencoder (Ngiam et al. 2011) on the six UCI multiple-features views.

Per-view encoders (256 hidden, 128 out), a 64-unit shared code, per-view decoders, squared
error on standardised features; half of each batch shows one view only. Evaluated by a linear
classifier on the shared code from all six views and from each view alone, against each raw view;
reconstructions.png shows the pixel view rebuilt from all views and from each view alone.

Reproduce:  ./launch.sh train crossjax/configs/mae_mfeat.py
Smoke:      ./launch.sh train crossjax/configs/mae_mfeat.py:smoke
"""

import ml_collections

from crossjax.configs import common, mae


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = mae.get_config()  # its networks, code and augmentation
  config.data.name = 'mfeat'
  config.progress_bar = True
  config.batch_size = 200
  config.num_epochs = 300
  config.log_every = 50
  config.checkpoint_every = 300
  config.eval_examples = 400
  config.evaluation.batch_size = 400
  # 'pix' (x4) holds 15 x 16 pixel averages of the digit image: draw its reconstructions.
  config.evaluation.reconstruction_figure = ml_collections.ConfigDict(
      dict(view='x4', height=16, title='mfeat pixel view'))
  if variant == 'smoke':
    config.num_epochs = 5
    config.log_every = 10
    config.checkpoint_every = 30
  return config
