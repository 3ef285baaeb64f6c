"""A classifier of one view: model 'classifier' (the judge of generated images)."""

from __future__ import annotations

import jax
import numpy as np

from crossjax import evaluate as metrics
from crossjax.families import shared
from crossjax.families.shared import MISSING_VIEWS, one_optimizer as optimizers, prerequisites
from crossjax.models import classifier
from crossjax.train import steps

VALIDATION_METRIC = 'accuracy'
VALIDATION_MODE = 'max'
PROGRESS_METRICS = ('loss', 'accuracy')
batch_keys = shared.with_labels
train_step = steps.train_step
eval_step = steps.eval_step


def build(config, example_batch, key, modules=None):
  network = (modules or {}).get('network') or shared.network(config.network, config.num_classes)
  model = classifier.Classifier(network, view=config.view)
  params = shared.initial_params(model, {'params': key}, example_batch)
  return model, {steps.PLAYER: params}


def judge(state):
  """judge(images, batch_size) -> (labels, hidden features): one jitted classifier pass over
  whole arrays (compiled once per judge), the hidden layer before the logits being the
  feature space of the Frechet distance."""
  def outputs(params, chunk):
    logits, variables = state.model.apply({'params': params}, chunk[0],
                                          mutable=['intermediates'])
    return (jax.numpy.argmax(logits, axis=-1),
            variables['intermediates']['network']['features'][0])
  apply = jax.jit(outputs)
  return lambda images, batch_size: metrics.chunked(
      lambda chunk: apply(state.params[steps.PLAYER], chunk), [images], batch_size)


def evaluate(state, splits, config, workdir) -> dict:
  del workdir
  predict = judge(state)
  return {f'{name}_accuracy': 100.0 * float(np.mean(
      predict(splits[name][config.view], config.evaluation.batch_size)[0]
      == splits[name]['labels'])) for name in ('tune', 'test')}


def summary(results: dict) -> list[str]:
  return [f'  {name.replace("_", " ")}: {results[name]:.2f} %'
          for name in ('tune_accuracy', 'test_accuracy') if name in results]
