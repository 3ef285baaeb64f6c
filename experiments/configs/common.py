"""Defaults shared by the trained models' configs: data, loop, checkpoints, evaluation."""

import ml_collections

from crossjax.train.state import optimizer_config


def mlp(widths, activation='relu', layer_norm=False, dropout=0.0,
        dtype='float32') -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(kind='mlp', widths=tuple(widths), activation=activation,
                                        layer_norm=layer_norm, dropout=dropout, dtype=dtype))


def base(model: str, dataset: str) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = model
  config.seed = 0
  # num_shards: batches draw evenly from this many fixed shards of the training set, so any
  # process count that divides it reads only its shards and sees the same global batches.
  config.data = ml_collections.ConfigDict(
      dict(name=dataset, path='', seed=0, max_train_examples=0, num_shards=4))
  config.optimizer = optimizer_config()
  config.batch_size = 1000
  config.num_epochs = 10
  config.num_steps = 0  # > 0 overrides num_epochs
  config.log_every = 50
  config.checkpoint_every = 500
  config.eval_every = 0  # 0: at every checkpoint
  config.eval_examples = 5000  # tune examples in the validation batch (best checkpoint)
  config.max_to_keep = 2
  config.progress_bar = True
  config.evaluation = ml_collections.ConfigDict(
      dict(k=50, linear_baseline=False, svm=False, clustering=False, retrieval=False,
           batch_size=5000))
  return config


def correlation(name='dcca', k=0, ridge=1e-3) -> ml_collections.ConfigDict:
  """objective: 'dcca' (Andrew et al. 2013), 'ey' or 'ey_unbiased' (Chapman et al. 2023)."""
  return ml_collections.ConfigDict(dict(name=name, k=k, ridge=ridge))


def check_variant(variant: str) -> None:
  if variant not in ('', 'smoke'):
    raise ValueError(f'unknown variant {variant!r}; known: smoke')
