"""Deep CCA on MNIST halves, 50-dimensional codes (Andrew et al. 2013).

Encoders 392-1024-1024-50 (ReLU), the sum of all 50 canonical correlations as the objective
(ridge 1e-3), Adam 2e-3, batch 500, 12 epochs (about a minute on 2 CPU cores); evaluated as the
paper does, by the total correlation of a linear CCA fitted on the training codes, on the test
split (paper: 39.7, linear CCA 28.0). Batch 1000 with Adam 1e-3 for 10 epochs gave 46.4.

Reproduce:  ./launch.sh train crossjax/configs/dcca_mnist.py
CCA-EY:     ./launch.sh train crossjax/configs/dcca_mnist.py --config.objective.name=ey
Smoke:      ./launch.sh train crossjax/configs/dcca_mnist.py:smoke
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)
  config = common.base('dcca', 'mnist_halves')
  config.encoder = common.mlp((1024, 1024))
  config.output_dim = 50
  config.objective = common.correlation('dcca', ridge=1e-3)
  config.batch_size = 500
  config.optimizer.learning_rate = 2e-3
  config.num_epochs = 12
  config.evaluation.k = 50
  config.evaluation.linear_baseline = True
  config.evaluation.protocols = ('retrieval',)
  if variant == 'smoke':
    config.data.max_train_examples = 4000
    config.encoder = common.mlp((128,))
    config.batch_size = 500
    config.num_epochs = 2
    config.log_every = 4
    config.checkpoint_every = 8
    config.eval_examples = 1000
    config.evaluation.linear_baseline = False
  return config
