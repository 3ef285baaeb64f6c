"""Deep encoders trained by a contrastive or redundancy-reduction loss on noisy MNIST
(Wang et al. 2015's two views), scored under the authors' protocol as the other rows of
RESULTS.md's noisy MNIST table: the view-1 canonical variates of a linear CCA fitted on the
training codes, libsvm's linear C-SVC (C on the tune split) and Ng-Jordan-Weiss spectral
clustering of the test variates (`evaluators.svm_libsvm`, `clustering_njw`).

objective.name: 'infonce' (CLIP's symmetric InfoNCE; temperature 0.1), 'siglip' (scale 10,
bias -10), 'barlow_twins' (off-diagonal weight 5e-3) or 'vicreg' (weights 25, 25, 1): see
crossjax/contrastive.py. Encoders, batch, epochs and optimizer are dccae_noisy_mnist's, so
that only the objective differs from its DCCA row. Every loss sees the whole global batch
(its negatives or batch statistics) on any number of devices. objective.name 'tcca': deep
tensor CCA's objective, for two views the sum of squared canonical correlations.

SigLIP needs a warm-up here: at the constant learning rate its loss stops at that of constant
codes (7.907) after about 100 steps; `./launch.sh reproduce siglip_noisy_mnist` adds
--config.optimizer.schedule=cosine --config.optimizer.warmup_steps=100.

Run:    ./launch.sh train crossjax/configs/contrastive_noisy_mnist.py --config.objective.name=vicreg
Smoke:  ./launch.sh train crossjax/configs/contrastive_noisy_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import common, dccae_noisy_mnist


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = dccae_noisy_mnist.get_config(variant)
  config.model = 'dcca'
  del config.decoder
  del config.reconstruction
  config.objective = common.correlation('infonce')
  config.evaluation.features = 'canonical'
  config.evaluation.protocols = ('svm_libsvm', 'clustering_njw')
  # Linear CCA on the raw views under this protocol is its own run (cca_noisy_mnist): scoring
  # it again with every loss cost minutes each and gave the same numbers.
  config.evaluation.linear_baseline = False
  return config
