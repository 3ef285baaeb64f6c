"""What the loop needs to know of each model family: how to build it, step it and evaluate it.

A `Task` binds a config's `model` name to its modules, optimizers, pure steps and final
evaluation. The loop (`loop.train_and_evaluate`) is the same for all of them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import jax
import ml_collections
import numpy as np

from crossjax import data, evaluate, figures, linear
from crossjax.models import autoencoder, classifier, dcca, gan, networks
from crossjax.train import parallel, steps
from crossjax.train.state import make_optimizer


@dataclasses.dataclass(frozen=True)
class Task:
  """build(config, example_batch, key) -> (model, {player: params});
  optimizers(config, total_steps) -> {player: optax transformation};
  train_step(state, batch) -> (state, metrics); eval_step(state, batch) -> metrics;
  evaluate(state, splits, config, workdir) -> results (every process computes, process 0
  writes figures); batch_keys(split) -> the arrays a batch holds; the validation metric (in
  eval_step's metrics) that picks the best checkpoint ('' keeps no best checkpoint), whether
  lower is better, and the metrics the progress bar shows."""
  build: Callable
  optimizers: Callable
  train_step: Callable
  eval_step: Callable
  evaluate: Callable
  batch_keys: Callable
  validation_metric: str = 'loss'
  validation_mode: str = 'min'
  progress_metrics: tuple[str, ...] = ('loss',)


def view_keys(split: dict) -> list[str]:
  """'x1', 'x2', ... in view order."""
  return sorted((key for key in split if key[0] == 'x' and key[1:].isdigit()),
                key=lambda key: int(key[1:]))


def network(section: ml_collections.ConfigDict, features: int):
  """An encoder/decoder from a config section {kind, ...network fields}."""
  fields = {key: value for key, value in section.items() if key != 'kind'}
  return networks.build(section.kind, features, **fields)


def build_dcca(config, example_batch, key):
  views = [example_batch[k] for k in view_keys(example_batch)]
  encoders = [network(config.encoder, config.output_dim) for _ in views]
  common = dict(encoders=encoders, objective=config.objective.name, k=config.objective.k,
                ridge=config.objective.ridge)
  if config.model == 'dccae':
    model = dcca.DCCAE(decoders=[network(config.decoder, view.shape[1]) for view in views],
                       reconstruction_weight=config.reconstruction.weight,
                       reconstruction_loss=config.reconstruction.loss, **common)
  else:
    model = dcca.DCCA(**common)
  params = model.init({'params': key}, example_batch, False, method='loss')['params']
  return model, {steps.PLAYER: params}


def one_optimizer(config, total_steps):
  return {steps.PLAYER: make_optimizer(config.optimizer, total_steps)}


def encode(state, views: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
  """Deep CCA codes of whole splits."""
  apply = jax.jit(lambda params, chunk: state.model.apply({'params': params}, chunk, False,
                                                          method='encode'))
  return evaluate.chunked(lambda chunk: apply(state.params[steps.PLAYER], chunk), views, batch_size)


def evaluate_dcca(state, splits, config, workdir) -> dict:
  """Post-hoc linear CCA on training codes: top-k total correlation on tune and test. With
  config.evaluation.svm / clustering / retrieval, the protocol of Wang et al. 2015 on view-1
  codes (`evaluate.feature_scores`; retrieval on the test canonical variates). With
  linear_baseline, the same for linear CCA on the raw views. Writes spectrum.png and, with
  config.evaluation.embedding_examples > 0, embedding.png: a t-SNE map of that many view-1
  test codes coloured by class (process 0)."""
  evaluation = config.evaluation
  k = evaluation.k
  labels = {name: split['labels'] for name, split in splits.items()}
  raw = {name: [split[key] for key in view_keys(split)] for name, split in splits.items()}
  codes = {name: encode(state, views, evaluation.batch_size) for name, views in raw.items()}

  def scores(features, params, view1_features):
    correlations = {name: np.asarray(linear.component_correlations(
        params, *features[name])).tolist() for name in ('tune', 'test')}
    variates = (tuple(np.asarray(v) for v in linear.transform(params, *features['test']))
                if evaluation.retrieval else None)
    return {'correlations': correlations,
            'total_correlation': {name: float(np.sum(v)) for name, v in correlations.items()},
            **evaluate.feature_scores(view1_features, labels, variates, svm=evaluation.svm,
                                      clustering=evaluation.clustering, seed=config.seed)}

  results = scores(codes, evaluate.post_hoc_cca(codes['train'], k),
                   {name: views[0] for name, views in codes.items()})
  curves = {'deep, test': results['correlations']['test']}
  if evaluation.linear_baseline:
    params = evaluate.post_hoc_cca(raw['train'], k)
    # The linear model's features are its canonical variates of view 1.
    view1 = {name: np.asarray(linear.transform(params, *views)[0]) for name, views in raw.items()}
    results['linear_cca'] = scores(raw, params, view1)
    curves['linear, test'] = results['linear_cca']['correlations']['test']
  if jax.process_index() == 0:
    figures.correlation_spectrum(curves, os.path.join(workdir, 'spectrum.png'),
                                 title=f'{config.model.upper()} on {config.data.name}')
    shown = evaluation.get('embedding_examples', 0)
    if shown:
      figures.embedding(codes['test'][0][:shown], labels['test'][:shown],
                        os.path.join(workdir, 'embedding.png'),
                        title=f'{config.model.upper()} view-1 test codes (t-SNE, {shown})')
  return results


def build_autoencoder(config, example_batch, key):
  views = [example_batch[k] for k in view_keys(example_batch)]
  m = len(views)
  losses = tuple(config.reconstruction.losses) or ('squared_error',) * m
  weights = tuple(config.reconstruction.weights) or (1.0,) * m
  model = autoencoder.MultimodalAutoencoder(
      encoders=[network(config.encoder, config.hidden_dim) for _ in views],
      decoders=[network(config.decoder, view.shape[1]) for view in views],
      losses=losses, loss_weights=weights, code_dim=config.code_dim,
      single_modality_fraction=config.single_modality_fraction)
  params = model.init({'params': key}, example_batch, False, method='loss')['params']
  return model, {steps.PLAYER: params}


def shared_codes(state, views: list[np.ndarray], mask_row: np.ndarray,
                 batch_size: int) -> np.ndarray:
  """The autoencoder's shared code of whole splits with the modalities `mask_row` marks."""
  apply = jax.jit(lambda params, chunk, mask: state.model.apply(
      {'params': params}, chunk, mask, False, method='encode'))
  mask = np.broadcast_to(mask_row.astype(np.float32),
                         (min(batch_size, len(views[0])), len(views)))
  return evaluate.chunked(lambda chunk: apply(state.params[steps.PLAYER], chunk, mask), views,
                 batch_size)


def evaluate_autoencoder(state, splits, config, workdir) -> dict:
  """Linear classifier accuracy (%) on the shared code from all modalities and from each one
  alone (the others missing), against the same classifier on each raw modality; the
  classifiers train on at most config.evaluation.max_train_examples. For image halves
  (config.evaluation.halves_figure), halves.png shows right halves completed from left ones;
  config.evaluation.reconstruction_figure (view, height, title) draws reconstructions.png: that
  view of one test example per class, reconstructed from all modalities and from each alone."""
  keys = view_keys(splits['train'])
  limit = config.evaluation.get('max_train_examples', 0) or None
  views = {name: [split[key][:limit if name == 'train' else None] for key in keys]
           for name, split in splits.items()}
  labels = {name: split['labels'][:limit if name == 'train' else None]
            for name, split in splits.items()}
  conditions = {'all': np.ones(len(keys))}
  conditions.update({f'only_{key}': np.eye(len(keys))[i] for i, key in enumerate(keys)})
  results = {'code_accuracy': {}, 'raw_accuracy': {}}
  for name, mask in conditions.items():
    codes = {split: shared_codes(state, views[split], mask, config.evaluation.batch_size)
             for split in ('train', 'test')}
    results['code_accuracy'][name] = evaluate.linear_classifier_accuracy(
        (codes['train'], labels['train']), (codes['test'], labels['test']))
  for i, key in enumerate(keys):
    results['raw_accuracy'][key] = evaluate.linear_classifier_accuracy(
        (views['train'][i], labels['train']), (views['test'][i], labels['test']))
  figure = config.evaluation.get('reconstruction_figure', None)
  if figure and jax.process_index() == 0:
    test = splits['test']
    examples = np.array([np.flatnonzero(test['labels'] == label)[0]
                         for label in np.unique(test['labels'])])
    index = keys.index(figure.view)
    rows = {'truth': test[figure.view][examples]}
    for name, mask in conditions.items():
      code = shared_codes(state, [test[key][examples] for key in keys], mask, len(examples))
      rows[name] = np.asarray(state.model.apply({'params': state.params[steps.PLAYER]}, code,
                                                method='decode')[index])
    figures.image_rows(rows, figure.height, os.path.join(workdir, 'reconstructions.png'),
                       title=f'{figure.title}: reconstructed from all views and from each alone')
  if config.evaluation.get('halves_figure', False) and jax.process_index() == 0:
    left, right = (v[:12] for v in views['test'][:2])
    code = shared_codes(state, [left, right], np.array([1.0, 0.0]), len(left))
    logits = state.model.apply({'params': state.params[steps.PLAYER]}, code, method='decode')[1]
    figures.completed_halves(left, right, np.asarray(jax.nn.sigmoid(logits)),
                             os.path.join(workdir, 'halves.png'))
  return results


def build_classifier(config, example_batch, key):
  model = classifier.Classifier(network(config.network, config.num_classes), view=config.view)
  params = model.init({'params': key}, example_batch, False, method='loss')['params']
  return model, {steps.PLAYER: params}


def classifier_judge(state):
  """judge(images, batch_size) -> (labels, hidden features): one jitted classifier pass over
  whole arrays (compiled once per judge), the hidden layer before the logits being the
  feature space of the Frechet distance."""
  def outputs(params, chunk):
    logits, variables = state.model.apply({'params': params}, chunk[0],
                                          mutable=['intermediates'])
    return (jax.numpy.argmax(logits, axis=-1),
            variables['intermediates']['network']['features'][0])
  apply = jax.jit(outputs)
  return lambda images, batch_size: evaluate.chunked(
      lambda chunk: apply(state.params[steps.PLAYER], chunk), [images], batch_size)


def evaluate_classifier(state, splits, config, workdir) -> dict:
  del workdir
  judge = classifier_judge(state)
  return {f'{name}_accuracy': 100.0 * float(np.mean(
      judge(splits[name][config.view], config.evaluation.batch_size)[0] == splits[name]['labels']))
          for name in ('tune', 'test')}


def trained_classifier(config, workdir: str):
  """The digit classifier that judges generated images: `config.evaluation.classifier`, trained
  once in its own work directory (config.evaluation.classifier_workdir, by default a folder
  named after the classifier beside `workdir`) and restored from there afterwards. Returns
  (state, its results on the tune and test splits)."""
  from crossjax.train import loop  # pylint: disable=import-outside-toplevel  (loop imports us)
  classifier_config = config.evaluation.classifier.copy_and_resolve_references()
  classifier_config.data.path = classifier_config.data.path or config.data.path
  classifier_config.progress_bar = config.progress_bar
  directory = config.evaluation.classifier_workdir or os.path.join(
      os.path.dirname(os.path.abspath(workdir)), classifier_config.name)
  run = loop.train(classifier_config, directory)
  state = parallel.local_copy(run.state)
  return state, evaluate_classifier(state, run.splits, classifier_config, directory)


# How a modality-conditioned cGAN is judged (config.evaluation.transfer; see evaluate_cgan).
TRANSFER_EVALUATIONS = {'halves': 'right half from left half', 'view': 'a whole view from another'}


def build_cgan(config, example_batch, key):
  settings = config.gan
  transfer = config.evaluation.get('transfer')
  if settings.condition != 'labels' and transfer not in TRANSFER_EVALUATIONS:
    # Refused before training, not after it.
    raise ValueError(f'unknown evaluation.transfer {transfer!r}; known: {TRANSFER_EVALUATIONS}')
  num_classes = config.num_classes if settings.condition == 'labels' else 0

  def condition_encoder(section):
    return gan.ConditionEncoder(network(section, settings.condition_dim),
                                num_classes=num_classes)

  target_dim = example_batch[settings.target].shape[1]
  model = gan.ConditionalGAN(
      generator=gan.Generator(network(config.generator, target_dim),
                              condition_encoder(config.generator_condition)),
      discriminator=gan.Discriminator(
          network(config.discriminator,
                  settings.condition_dim if settings.conditioning == 'projection' else 1),
          condition_encoder(config.discriminator_condition), conditioning=settings.conditioning),
      noise_dim=settings.noise_dim, condition_key=settings.condition,
      target_key=settings.target, loss_type=settings.loss,
      r1_weight=settings.r1_weight)
  params = model.init({'params': key, 'noise': key, 'dropout': key}, example_batch, False)[
      'params']
  return model, {gan.GENERATOR: params[gan.GENERATOR],
                 gan.DISCRIMINATOR: params[gan.DISCRIMINATOR]}


def gan_optimizers(config, total_steps):
  return {player: make_optimizer(config.optimizer[player], total_steps)
          for player in (gan.GENERATOR, gan.DISCRIMINATOR)}


def generate(state, conditions: np.ndarray, key: jax.Array, batch_size: int) -> np.ndarray:
  """G(z, c) for every row of `conditions`, z ~ N(0, I) from `key` (one draw per row)."""
  z = np.asarray(jax.random.normal(key, (len(conditions), state.model.noise_dim)))
  apply = jax.jit(lambda params, chunk: state.model.apply(
      {'params': params}, chunk[0], chunk[1], method='generate'))
  return evaluate.chunked(lambda chunk: apply(state.params, chunk), [conditions, z], batch_size)


def evaluate_cgan(state, splits, config, workdir) -> dict:
  """Label-conditioned (config.gan.condition == 'labels'): the share of generated digits the
  classifier assigns to the requested class (samples_per_class of each) and the Gaussian
  Parzen-window log-likelihood of the test set under those samples, window width chosen on
  the tune split (the protocol of Goodfellow et al. 2014 that Mirza and Osindero follow), and
  the Frechet distance between samples and test digits in the classifier's feature space;
  digits.png shows a row of samples per class.
  Modality-conditioned, config.evaluation.transfer 'halves' (left half -> right half): the
  classifier's accuracy on test images made of the real left half and the generated right half
  (coherence), against real images and left halves with an empty right half, and the Frechet
  distance of both to the real images; halves.png shows completed halves. 'view' (a whole view
  from another, e.g. noisy MNIST's view 2 from view 1): the accuracy of a classifier of that
  view on generated test views (labelled by their condition's class), against the real views
  and against real views of shuffled pairs (chance), and the Frechet distance of generated to
  real views; transfer.png shows conditions, generated and real views."""
  judge_state, judge_results = trained_classifier(config, workdir)
  judge = classifier_judge(judge_state)
  evaluation = config.evaluation
  size = evaluation.batch_size
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
  results = {'classifier': judge_results}
  if config.gan.condition == 'labels':
    labels = np.repeat(np.arange(config.num_classes), evaluation.samples_per_class)
    samples = generate(state, labels, key, evaluation.batch_size)
    predicted, sample_features = judge(samples, size)
    results['conditional_accuracy'] = 100.0 * float(np.mean(predicted == labels))
    results['frechet_distance'] = evaluate.frechet_distance(
        sample_features, judge(splits['test'][config.gan.target], size)[1])
    results['parzen'] = evaluate.parzen_log_likelihood(
        samples, splits['tune'][config.gan.target][:evaluation.parzen_tune_examples],
        splits['test'][config.gan.target], evaluation.parzen_sigmas)
    if jax.process_index() == 0:
      grid = samples.reshape(config.num_classes, evaluation.samples_per_class, -1)
      figures.digit_grid(grid[:, :10], os.path.join(workdir, 'digits.png'),
                         title='Conditional GAN: one row per requested class')
    return results
  test = splits['test']
  condition, target, labels = test[config.gan.condition], test[config.gan.target], test['labels']
  generated = generate(state, condition, key, evaluation.batch_size)
  if evaluation.transfer == 'halves':
    # The judge sees whole digits: the real left half beside each kind of right half.
    images = {name: data.join_halves(condition, right) for name, right in (
        ('generated_right', generated), ('real_right', target),
        ('empty_right', np.zeros_like(target)))}
    reference, compared = 'real_right', ('generated_right', 'empty_right')
  else:  # 'view' (build_cgan refuses other values)
    # A generator that ignored its condition, however good its images, scores as the real
    # targets of shuffled test pairs: chance.
    shuffled = np.random.default_rng(config.seed).permutation(len(target))
    images = {'generated': generated, 'real': target, 'shuffled_real': target[shuffled]}
    reference, compared = 'real', ('generated',)
  judged = {name: judge(image, size) for name, image in images.items()}
  results['transfer_accuracy'] = {
      name: 100.0 * float(np.mean(predicted == labels))
      for name, (predicted, _) in judged.items()}
  results['frechet_distance'] = {
      name: evaluate.frechet_distance(judged[name][1], judged[reference][1])
      for name in compared}
  if jax.process_index() == 0:
    shown = slice(0, 12)
    if evaluation.transfer == 'halves':
      figures.completed_halves(condition[shown], target[shown], generated[shown],
                               os.path.join(workdir, 'halves.png'),
                               title='Right halves generated from left halves (cGAN)')
    else:
      figures.image_rows(
          {f'given {config.gan.condition}': condition[shown],
           f'generated {config.gan.target}': generated[shown],
           f'a real {config.gan.target}': target[shown]}, 28,  # 28 x 28 MNIST views
          os.path.join(workdir, 'transfer.png'),
          title=f'{config.data.name}: {config.gan.target} generated from {config.gan.condition}')
  return results


DCCA_TASK = Task(build=build_dcca, optimizers=one_optimizer, train_step=steps.train_step,
                 eval_step=steps.eval_step, evaluate=evaluate_dcca, batch_keys=view_keys)


def with_labels(split: dict) -> list[str]:
  return view_keys(split) + ['labels']


TASKS: dict[str, Task] = {
    'dcca': DCCA_TASK, 'dccae': DCCA_TASK,
    'mae': Task(build=build_autoencoder, optimizers=one_optimizer, train_step=steps.train_step,
                eval_step=steps.eval_step, evaluate=evaluate_autoencoder, batch_keys=view_keys),
    'classifier': Task(build=build_classifier, optimizers=one_optimizer,
                       train_step=steps.train_step, eval_step=steps.eval_step,
                       evaluate=evaluate_classifier, batch_keys=with_labels,
                       validation_metric='accuracy', validation_mode='max',
                       progress_metrics=('loss', 'accuracy')),
    # GAN losses do not rank checkpoints: no best checkpoint, the final state is evaluated.
    'cgan': Task(build=build_cgan, optimizers=gan_optimizers, train_step=steps.gan_train_step,
                 eval_step=steps.gan_eval_step, evaluate=evaluate_cgan, batch_keys=with_labels,
                 validation_metric='', progress_metrics=('d_loss', 'g_loss')),
}


def get(name: str) -> Task:
  if name not in TASKS:
    raise ValueError(f'unknown model {name!r}; known: {sorted(TASKS)}, linear_cca and kernel_cca')
  return TASKS[name]
