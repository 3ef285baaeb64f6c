"""Quick start: Deep CCA and linear CCA on scikit-learn's digits, left vs right 4 columns.

Needs no data file and runs in seconds on a CPU:  ./launch.sh demo
"""

import ml_collections

from crossjax.configs import common


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  common.check_variant(variant)  # the demo is its own smoke run
  config = common.base('dcca', 'digits_halves')
  config.encoder = common.mlp((256, 256))
  config.output_dim = 10
  config.objective = common.correlation('dcca', ridge=1e-3)
  config.batch_size = 256
  config.num_epochs = 30
  config.log_every = 20
  config.checkpoint_every = 40
  config.eval_examples = 359
  config.evaluation.k = 10
  config.evaluation.linear_baseline = True
  return config
