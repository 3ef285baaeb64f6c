"""Deep CCA (Andrew et al. 2013) on your own views: one MLP encoder per view (two or more).

  ./launch.sh train crossjax/configs/dcca.py --config.data.name=files \
      --config.data.views=a.npy,b.npy [--config.data.labels=y.npy]

output_dim 0 takes min(10, the narrowest view); objective 'dcca' (Andrew et al.),
'dcca_newton_schulz' (the same on all correlations of two views by matmuls only, no Cholesky
or SVD: for accelerators), 'ey' or 'ey_unbiased' (CCA-EY, Chapman et al. 2023: unbiased at any
batch size). Evaluated by the total correlation of a linear CCA fitted on the training codes,
on tune and test; with labels, add --config.evaluation.protocols=svm,clustering.
Your own encoder: --config.encoder.kind=package.module:Factory (its fields: the other keys of
config.encoder).
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = common.generic('dcca', variant)
  config.encoder = common.mlp((256, 256))
  config.output_dim = 0
  config.objective = common.correlation('dcca', ridge=1e-3)
  return config
