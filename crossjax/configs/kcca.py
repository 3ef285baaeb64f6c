"""Approximate RBF kernel CCA (Nystrom features, then ridge CCA) on your own two views.

  ./launch.sh train crossjax/configs/kcca.py --config.data.name=files \
      --config.data.views=a.npy,b.npy

The kernel width (width_scales times each view's median distance) and the ridge are chosen on
the tune split from the grid; num_landmarks 0 takes min(2000, the training rows).
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('kcca', variant)
  config.kernel = ml_collections.ConfigDict(dict(
      k=10, num_landmarks=0, seed=0, width_scales=(0.5, 1.0, 2.0), ridges=(1e-3, 1e-1)))
  if variant == 'smoke':
    config.kernel.width_scales, config.kernel.ridges = (1.0,), (1e-2,)
  return config
