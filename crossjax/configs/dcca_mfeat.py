"""Deep multi-view CCA on the six UCI multiple-features views (Fourier, profile, Karhunen-Loeve,
pixel, Zernike and morphological features of 2000 handwritten digits).

One MLP encoder per view (256, 256 hidden units, 10-dimensional codes), trained end to end on
the sum of the top-10 eigenvalues of the codes' multi-view CCA (the MAXVAR generalised CCA of
deep GCCA, Benton et al. 2019, whose eigenvalues are those of the whitened joint covariance:
`objectives.mcca_objective`), ridge 1e-3, on standardised features. Evaluated by the total of
the per-component correlations (averaged over the 15 pairs of views) of an MCCA fitted on the
training codes, and on view-1 features by a linear SVM and spectral clustering (10 classes).

Reproduce:  ./launch.sh train crossjax/configs/dcca_mfeat.py
Smoke:      ./launch.sh train crossjax/configs/dcca_mfeat.py:smoke
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('dcca', 'mfeat')
  config.data.standardize = True
  config.encoder = common.mlp((256, 256))
  config.output_dim = 10
  config.objective = common.correlation('dcca', k=10, ridge=1e-3)
  config.batch_size = 400
  config.num_epochs = 100
  config.log_every = 40
  config.checkpoint_every = 400
  config.eval_examples = 200
  config.evaluation.k = 10
  config.evaluation.batch_size = 400
  config.evaluation.protocols = ('svm', 'clustering')
  config.evaluation.linear_baseline = True  # MCCA on the raw views, the same protocols
  if variant == 'smoke':
    config.encoder = common.mlp((64,))
    config.num_epochs = 3
    config.log_every = 4
    config.checkpoint_every = 12
    config.evaluation.linear_baseline = False
  return config
