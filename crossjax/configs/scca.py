"""Sparse CCA of your own two views (crossjax.sparse): PMD (Witten et al. 2009) by default, or
elastic-net CCA (Waaijenborg et al. 2008) with --config.sparse.method=elastic_net.

  ./launch.sh train crossjax/configs/scca.py --config.data.name=files \
      --config.data.views=genes.csv,lipids.csv --config.linear.k=2

Penalties (PMD's L1 bounds c1, c2 in [1, sqrt(features)]; the elastic net's alpha) left at 0
are chosen by folds-fold cross-validation on held-out correlation within the training split
(grid_size values per view, the whole grid in one compiled call per fold). A warning names any
component that did not converge in max_iter alternations.
"""

import ml_collections

from crossjax.configs import cca


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = cca.get_config(variant)
  config.model = 'scca'
  config.sparse = ml_collections.ConfigDict(dict(
      method='pmd', c1=0.0, c2=0.0, alpha=0.0, l1_ratio=1.0, max_iter=500, tol=1e-6,
      grid_size=10, folds=5))
  if variant == 'smoke':
    config.sparse.grid_size, config.sparse.folds = 3, 2
  return config
