"""What several families share: view keys, networks from config sections, one optimizer, and
compiled apply functions over whole splits."""

from __future__ import annotations

import functools

import jax
import ml_collections
import numpy as np

from crossjax import evaluate, evaluators, linear
from crossjax.models import networks
from crossjax.train import steps
from crossjax.train.state import make_optimizer

VALIDATION_METRIC = 'loss'
VALIDATION_MODE = 'min'
PROGRESS_METRICS = ('loss',)
MISSING_VIEWS = 'refuse'
# Where config.output_dim leaves the code size to the data (0): at most this many.
DEFAULT_CODE_SIZE = 10


def view_keys(split: dict) -> list[str]:
  """'x1', 'x2', ... in view order."""
  return sorted((key for key in split if key[0] == 'x' and key[1:].isdigit()),
                key=lambda key: int(key[1:]))


def with_labels(split: dict) -> list[str]:
  return view_keys(split) + ['labels']


def network(section: ml_collections.ConfigDict, features: int):
  """An encoder/decoder from a config section {kind, ...network fields}; `kind` is a built-in
  name or 'package.module:Factory' (see `networks.build`)."""
  fields = {key: value for key, value in section.items() if key != 'kind'}
  return networks.build(section.kind, features, **fields)


def user_modules(modules: dict | None, name: str, count: int) -> list | None:
  """modules[name] (a list of `count` Flax modules given from Python), or None."""
  given = (modules or {}).get(name)
  if given is None:
    return None
  if len(given) != count:
    raise ValueError(f'{len(given)} {name} given for {count} views')
  return list(given)


def decoders(config, views: list, losses, modules: dict | None = None) -> list:
  """The user's decoders (modules['decoders']) or a config.decoder network per view, as wide as
  its reconstruction loss needs (`networks.decoder_features`)."""
  return (user_modules(modules, 'decoders', len(views))
          or [network(config.decoder, networks.decoder_features(loss, view.shape[1]))
              for loss, view in zip(losses, views)])


def initial_params(model, rngs: dict, example_batch: dict, method: str | None = 'loss') -> dict:
  """model.init(rngs, example_batch, train=False, method=method)['params'], compiled as one XLA
  program: run eagerly, init compiles each operation on its own (4-7 s per model on a CPU)."""
  init = functools.partial(model.init, method=method) if method else model.init
  return jax.jit(lambda rngs, batch: init(rngs, batch, False))(rngs, example_batch)['params']


def one_optimizer(config, total_steps):
  return {steps.PLAYER: make_optimizer(config.optimizer, total_steps)}


def prerequisites(config, workdir) -> list:
  del config, workdir
  return []


def correlation_scores(codes: dict, labels: dict | None, k: int, evaluation, seed: int,
                       view1: dict | None = None, params=None,
                       scored: tuple[str, ...] = ('tune', 'test')) -> dict:
  """Per-component correlations on the `scored` splits of a linear CCA fitted on the training
  `codes` (or of `params`) and their totals, then the protocols of evaluation.protocols on
  view-1 features: `view1`, or by evaluation.features the view-1 'codes' (default) or their
  'canonical' variates under that CCA (what Wang et al.'s code classifies and clusters)."""
  params = params if params is not None else evaluate.post_hoc_cca(codes['train'], k)
  if view1 is None and evaluation.get('features', 'codes') == 'canonical':
    view1 = {name: np.asarray(linear.transform(params, *views)[0])
             for name, views in codes.items()}
  correlations = {name: np.asarray(linear.component_correlations(params, *codes[name])).tolist()
                  for name in scored}
  results = {'correlations': correlations,
             'total_correlation': {name: float(np.sum(v)) for name, v in correlations.items()}}
  if 'test' in codes:
    results.update(evaluators.run(
        evaluation.protocols, view1 or {name: views[0] for name, views in codes.items()},
        labels, lambda: linear.transform(params, *codes['test']), seed))
  return results


def views_of(split: dict) -> list:
  return [split[key] for key in view_keys(split)]


def correlation_table(results: dict) -> list[str]:
  """A plain-text table: one row per component, one column per split, totals at the bottom."""
  names = list(results['correlations'])
  lines = ['component ' + ''.join(f'{name:>9}' for name in names)]
  for i, values in enumerate(zip(*(results['correlations'][n] for n in names)), start=1):
    lines.append(f'{i:>9} ' + ''.join(f'{value:9.4f}' for value in values))
  lines.append('    total ' + ''.join(f'{results["total_correlation"][n]:9.3f}' for n in names))
  return lines
