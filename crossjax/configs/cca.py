"""Closed-form linear CCA on your own views: 'cca' (ridge CCA, two views), or with
--config.model=mcca / gcca for two or more views.

  ./launch.sh train crossjax/configs/cca.py --config.data.name=files \
      --config.data.views=genes.csv,lipids.csv --config.linear.r1=0.1 --config.linear.r2=0.1

k 0: as many components as the views allow. r1, r2 (cca) and r (mcca, gcca) are ridges added to
the covariances. Evaluated by the per-component correlation on each split.
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('cca', variant)
  config.linear = ml_collections.ConfigDict(dict(k=0, r1=0.0, r2=0.0, r=0.0))
  return config
