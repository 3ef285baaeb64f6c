"""The linear family on your own views: 'cca' (ridge CCA, two views), or with
--config.model=pls (two views), mcca / gcca / tcca (two or more views).

  ./launch.sh train crossjax/configs/cca.py --config.data.name=files \
      --config.data.views=genes.csv,lipids.csv --config.linear.r1=0.1 --config.linear.r2=0.1

k 0: as many components as the views allow (one for tcca). r1, r2 (cca) and r (mcca, gcca,
tcca) are ridges added to the covariances; c1, c2 (cca) and c (mcca, gcca, tcca) shrink them
towards the identity, (1 - c) S + c I (c = 1: PLS); pls_mode 'svd' or 'canonical'. Sparse CCA
has its own config, scca.py. Evaluated by the per-component correlation on each split.
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('cca', variant)
  config.linear = ml_collections.ConfigDict(dict(k=0, r1=0.0, r2=0.0, r=0.0, c1=0.0, c2=0.0,
                                                   c=0.0, pls_mode='svd'))
  return config
