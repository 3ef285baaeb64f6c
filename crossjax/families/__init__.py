"""Model families, picked by a config's `model` name (as big_vision picks `model_name`).

Each family is one module of this package with the same function names, so that the loop and
the entry point never learn a family's name and a new family is one new file:

Trained families (the loop `crossjax.train.loop` trains them):
  build(config, example_batch, key, modules=None) -> (flax module, {player: params})
      `modules` holds user-given Flax modules (e.g. {'encoders': [...]}) that replace the
      config's networks.
  optimizers(config, total_steps) -> {player: optax transformation}
  train_step(state, batch) -> (state, metrics);  eval_step(state, batch) -> metrics
  validation_step(config) -> eval_step (optional): where validation needs the config (the
      cGAN's Parzen estimate); `validation_step` below picks it or eval_step
  batch_keys(split) -> the arrays a batch holds
  evaluate(state, splits, config, workdir) -> results (every process; process 0 draws figures)
  prerequisites(config, workdir) -> [(config, workdir)] of runs that must exist first (the
      cGAN's judge); the entry point trains them, evaluation only restores them
  VALIDATION_METRIC, VALIDATION_MODE ('' metric: no best checkpoint), PROGRESS_METRICS,
  MISSING_VIEWS: 'allow' where whole missing rows (NaN) are masked by the model, else 'refuse';
      missing_views(config) (optional) where it depends on the config's model

Closed-form families (fitted in one call):
  fit(config, splits) -> (params pytree, extra results);
  evaluate(params, splits, config, workdir) -> results

Both: summary(results) -> lines printed at the end of a run.
"""

from __future__ import annotations

import importlib
import types

# config.model -> the module of its family
_MODULES = {
    'cca': 'linear', 'mcca': 'linear', 'gcca': 'linear', 'pls': 'linear', 'tcca': 'linear',
    'scca': 'linear', 'kcca': 'kernel',
    'dcca': 'deep_cca', 'dccae': 'deep_cca', 'mae': 'autoencoder', 'splitae': 'split_autoencoder',
    'vcca': 'variational_cca', 'cgan': 'cgan',
    'classifier': 'classifier',
}
MODELS = tuple(_MODULES)


def get(model: str) -> types.ModuleType:
  """The family module of a config's `model` name."""
  if model not in _MODULES:
    raise ValueError(f'unknown model {model!r}; known: {", ".join(MODELS)}')
  return importlib.import_module(f'crossjax.families.{_MODULES[model]}')


def is_closed_form(family: types.ModuleType) -> bool:
  return hasattr(family, 'fit')


def validation_step(family: types.ModuleType, config):
  """(state, tune batch) -> metrics of the family for `config`: its validation_step(config)
  where it has one, else its eval_step."""
  return family.validation_step(config) if hasattr(family, 'validation_step') else family.eval_step


def missing_views(family: types.ModuleType, config) -> str:
  """'allow' or 'refuse' samples missing a view, for `config`: the family's
  missing_views(config) where it has one, else its MISSING_VIEWS."""
  return family.missing_views(config) if hasattr(family, 'missing_views') else family.MISSING_VIEWS
