"""Defaults shared by the trained models' configs: data, loop, checkpoints, evaluation."""

import ml_collections

from crossjax import contrastive
from crossjax.train.state import optimizer_config


def mlp(widths, activation='relu', layer_norm=False, dropout=0.0, dtype='float32',
        kernel_init='lecun_normal', output_kernel_init='lecun_normal',
        input_dropout=0.0) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(kind='mlp', widths=tuple(widths), activation=activation,
                                        layer_norm=layer_norm, dropout=dropout,
                                        input_dropout=input_dropout, dtype=dtype,
                                        kernel_init=kernel_init,
                                        output_kernel_init=output_kernel_init))


def data_section(dataset: str) -> ml_collections.ConfigDict:
  """name: a built-in dataset or 'files'. For 'files' (your own views): views 'A,B[,C...]',
  each path.npy (memory-mapped), path.npz:key or path.csv; labels (optional, same forms);
  splits (an npz of index arrays train / tune / test) or fractions (a seeded split, stratified
  by the labels); drop_incomplete drops samples missing a view (a row entirely NaN); else
  the models that can use them do (the multimodal autoencoder masks them; linear CCA, MCCA and
  GCCA fit pairwise moments) and the others refuse.
  standardize: zero mean, unit variance by training statistics.
  num_shards: batches draw evenly from this many fixed shards of the training set, so any
  process count that divides it reads only its shards and sees the same global batches.
  prefetch: batches read ahead by as many threads while a step runs (views on disk).
  shuffle: 'rows' (each epoch a uniform permutation: random reads) or 'blocks' for views on
  disk larger than memory (random blocks of block_rows consecutive rows, shuffled together
  window_blocks at a time and read sequentially; see data.ShardedBatches).
  device_budget_gib: where the training split takes no more than this per device (and
  steps_per_dispatch > 1), it is placed in device memory once and batches are gathered there."""
  return ml_collections.ConfigDict(dict(
      name=dataset, path='', views='', labels='', splits='', fractions=(0.8, 0.1, 0.1),
      standardize=False, drop_incomplete=False, seed=0, max_train_examples=0, num_shards=4,
      prefetch=4, shuffle='rows', block_rows=512, window_blocks=8, device_budget_gib=2.0))


def base(model: str, dataset: str) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = model
  config.seed = 0
  config.data = data_section(dataset)
  config.optimizer = optimizer_config()
  config.batch_size = 1000
  config.num_epochs = 10
  config.num_steps = 0  # > 0 overrides num_epochs
  config.log_every = 50
  config.checkpoint_every = 500
  config.eval_every = 0  # 0: at every checkpoint
  # Train steps per dispatch to the devices (one compiled loop; results equal one step at a
  # time); with the training split in device memory (data.device_budget_gib) the batches are
  # gathered there too.
  config.steps_per_dispatch = 20
  config.num_devices = 0  # the devices a single process trains on: 0 all, n its first n
  config.eval_examples = 5000  # tune examples in the validation batch (best checkpoint)
  # The state evaluated after training: 'final', or 'best' by the validation metric on those
  # examples (early stopping, checked at every eval_every steps).
  config.evaluate_checkpoint = 'final'
  config.max_to_keep = 2
  config.progress_bar = True
  config.evaluation = ml_collections.ConfigDict(
      dict(k=50, linear_baseline=False, protocols=(),
           batch_size=5000))
  return config


def correlation(name='dcca', k=0, ridge=1e-3) -> ml_collections.ConfigDict:
  """objective: 'dcca' (Andrew et al. 2013), 'dcca_newton_schulz', 'ey' or 'ey_unbiased'
  (Chapman et al. 2023), 'tcca' (deep tensor CCA, Wong et al. 2021); or a loss of
  `crossjax.contrastive` ('infonce', 'siglip', 'barlow_twins', 'vicreg'), whose settings are the
  section's other keys (the papers' values by default): temperature (InfoNCE), scale and bias
  (SigLIP), off_diagonal_weight (Barlow Twins), weights (VICReg's invariance, variance and
  covariance weights)."""
  return ml_collections.ConfigDict(dict(name=name, k=k, ridge=ridge,
                                        **contrastive.DEFAULT_OPTIONS))


def check_variant(variant: str) -> None:
  if variant not in ('', 'smoke'):
    raise ValueError(f'unknown variant {variant!r}; known: smoke')


def generic(model: str, variant: str) -> ml_collections.ConfigDict:
  """A config of `model` that assumes no dataset: data.name='files' (give data.views), sizes
  that the data decides (batch_size 0: the largest up to 512 the training rows allow), 20
  epochs. Variant 'smoke' runs it for seconds on scikit-learn's digits halves (no file)."""
  check_variant(variant)
  config = base(model, 'files')
  config.batch_size = 0
  config.num_epochs = 20
  config.log_every = 20
  config.checkpoint_every = 200
  config.eval_examples = 2000
  config.evaluation.k = 0  # 0: the code size (or what the views allow)
  config.evaluation.batch_size = 2000
  if variant == 'smoke':
    config.data.name = 'digits_halves'
    config.num_epochs = 0
    config.num_steps = 20
    config.log_every = 10
    config.checkpoint_every = 10
    config.progress_bar = False
  return config
