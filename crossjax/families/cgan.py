"""Conditional GAN (Mirza and Osindero 2014): model 'cgan', conditioned on a label or on
another view (generate one view from another).

Judged by a classifier (`config.evaluation.classifier`), a declared prerequisite: the entry
point trains it into its own work directory before this run; evaluation only restores it.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from crossjax import data, evaluate as metrics, figures
from crossjax.families import classifier as judges
from crossjax.families import shared
from crossjax.families.shared import MISSING_VIEWS
from crossjax.models import gan
from crossjax.train import loop, steps
from crossjax.train.state import make_optimizer

# GAN losses do not rank checkpoints; the Parzen-window log-likelihood of the tune batch does
# (Mirza and Osindero stop at the best one): `validation_step`. The best state is evaluated
# where config.evaluate_checkpoint == 'best', else the final one.
VALIDATION_METRIC = 'parzen'
VALIDATION_MODE = 'max'
# Goodfellow et al.'s window widths for pixels in [0, 1] (parzen_ll.py: numpy.logspace(-1, 0, 10)),
# where a config gives no evaluation.parzen_sigmas.
PARZEN_SIGMAS = tuple(10.0 ** (-1 + i / 9) for i in range(10))
PROGRESS_METRICS = ('d_loss', 'g_loss')
train_step = steps.gan_train_step
eval_step = steps.gan_eval_step

# How a modality-conditioned cGAN is judged (config.evaluation.transfer; see evaluate).
TRANSFER_EVALUATIONS = {'halves': 'right half from left half', 'view': 'a whole view from another'}


def batch_keys(split: dict) -> list[str]:
  """The views, and the labels where the data has them (a label condition needs them)."""
  return shared.view_keys(split) + (['labels'] if 'labels' in split else [])


def build(config, example_batch, key, modules=None):
  settings = config.gan
  transfer = config.evaluation.get('transfer')
  if settings.condition != 'labels' and transfer not in TRANSFER_EVALUATIONS:
    # Refused before training, not after it.
    raise ValueError(f'unknown evaluation.transfer {transfer!r}; known: {TRANSFER_EVALUATIONS}')
  num_classes = config.num_classes if settings.condition == 'labels' else 0
  modules = modules or {}

  def condition_encoder(section, dim=settings.condition_dim, classes=num_classes,
                        activation='leaky_relu'):
    return gan.ConditionEncoder(shared.network(section, dim), num_classes=classes,
                                activation=activation)

  noise_encoder = None
  if 'generator_noise' in config:  # z through a layer of its own before the joint layers
    noise_encoder = condition_encoder(config.generator_noise, settings.noise_code_dim, 0,
                                      settings.generator_branch_activation)

  target_dim = example_batch[settings.target].shape[1]
  model = gan.ConditionalGAN(
      generator=gan.Generator(
          modules.get('generator') or shared.network(config.generator, target_dim),
          condition_encoder(config.generator_condition,
                            settings.get('generator_condition_dim', settings.condition_dim),
                            activation=settings.generator_branch_activation),
          output=settings.get('output', 'sigmoid'), noise_encoder=noise_encoder),
      discriminator=gan.Discriminator(
          modules.get('discriminator') or shared.network(
              config.discriminator,
              settings.condition_dim if settings.conditioning == 'projection' else 1),
          condition_encoder(config.discriminator_condition), conditioning=settings.conditioning),
      noise_dim=settings.noise_dim, condition_key=settings.condition,
      target_key=settings.target, loss_type=settings.loss,
      r1_weight=settings.r1_weight, noise_distribution=settings.noise_distribution)
  params = shared.initial_params(model, {'params': key, 'noise': key, 'dropout': key},
                                 example_batch, method=None)
  return model, {gan.GENERATOR: params[gan.GENERATOR],
                 gan.DISCRIMINATOR: params[gan.DISCRIMINATOR]}


def optimizers(config, total_steps):
  return {player: make_optimizer(config.optimizer[player], total_steps)
          for player in (gan.GENERATOR, gan.DISCRIMINATOR)}


def judge_run(config, workdir: str):
  """(config, work directory) of the judging classifier: `config.evaluation.classifier` in
  config.evaluation.classifier_workdir, by default a folder named after it beside `workdir`."""
  if 'classifier' not in config.evaluation:
    return None
  judge_config = config.evaluation.classifier.copy_and_resolve_references()
  judge_config.data.path = judge_config.data.path or config.data.path
  judge_config.progress_bar = config.progress_bar
  judge_config.num_devices = config.get('num_devices', 0)
  directory = config.evaluation.classifier_workdir or os.path.join(
      os.path.dirname(os.path.abspath(workdir)), judge_config.name)
  return judge_config, directory


def prerequisites(config, workdir) -> list:
  run = judge_run(config, workdir)
  return [run] if run else []


def validation_step(config):
  """eval_step of this config: both players' losses on the tune batch, and 'parzen', the mean
  Gaussian Parzen-window log-likelihood of its targets under samples of G (noise fixed by the
  run's key) at the best width of evaluation.parzen_sigmas. The samples: for a label condition
  evaluation.samples_per_class of each class (default 100), else one per tune row's condition."""
  sigmas = jnp.asarray(config.evaluation.get('parzen_sigmas', PARZEN_SIGMAS), jnp.float32)
  labels = None
  if config.gan.condition == 'labels':
    labels = jnp.repeat(jnp.arange(config.num_classes),
                        config.evaluation.get('samples_per_class', 100))

  def step(state, batch: dict) -> dict:
    losses = steps.gan_eval_step(state, batch)
    conditions = labels if labels is not None else batch[config.gan.condition]
    samples = state.model.apply(
        {'params': state.params}, conditions, method='generate',
        rngs={'noise': jax.random.fold_in(state.key, steps.EVAL_NOISE_SALT)})
    log_densities = metrics.parzen_log_densities(
        samples, jnp.asarray(batch[config.gan.target], jnp.float32), sigmas)
    return {**losses, 'parzen': jnp.max(jnp.mean(log_densities, axis=1))}

  return step


def generator(state):
  """(conditions, key, batch_size) -> G(z, c) for every row of `conditions`, z from `key` (one
  draw per row) by the model's noise distribution; jitted once for every call."""
  apply = jax.jit(lambda params, chunk: state.model.apply(
      {'params': params}, chunk[0], chunk[1], method='generate'))

  def generate_rows(conditions: np.ndarray, key: jax.Array, batch_size: int) -> np.ndarray:
    z = np.asarray(gan.draw_noise(key, (len(conditions), state.model.noise_dim),
                                  state.model.noise_distribution))
    return metrics.chunked(lambda chunk: apply(state.params, chunk), [conditions, z],
                           batch_size)
  return generate_rows


def generate(state, conditions: np.ndarray, key: jax.Array, batch_size: int) -> np.ndarray:
  """`generator(state)` applied once."""
  return generator(state)(conditions, key, batch_size)


def evaluate(state, splits, config, workdir) -> dict:
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
  and against real views of shuffled pairs (chance), and the Frechet distance of generated and
  of blank views to real views; transfer.png shows conditions, generated and real views.
  Without a judge (no evaluation.classifier, e.g. your own views without labels): the Frechet
  distance between generated and real test targets in the target space itself."""
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
  if judge_run(config, workdir) is None:
    test = splits['test']
    generated = generate(state, np.asarray(test[config.gan.condition]), key,
                         config.evaluation.batch_size)
    return {'frechet_distance_raw': metrics.frechet_distance(
        generated, np.asarray(test[config.gan.target]))}
  judge_config, judge_workdir = judge_run(config, workdir)
  judge_state, judge_splits = loop.restore(judge_config, judge_workdir)
  judge = judges.judge(judge_state)
  evaluation = config.evaluation
  size = evaluation.batch_size
  results = {'classifier': judges.evaluate(judge_state, judge_splits, judge_config, None)}
  if config.gan.condition == 'labels':
    labels = np.repeat(np.arange(config.num_classes), evaluation.samples_per_class)
    samples = generate(state, labels, key, evaluation.batch_size)
    predicted, sample_features = judge(samples, size)
    results['conditional_accuracy'] = 100.0 * float(np.mean(predicted == labels))
    results['frechet_distance'] = metrics.frechet_distance(
        sample_features, judge(splits['test'][config.gan.target], size)[1])
    # The estimator's own yardstick: as many real training targets in place of the samples.
    tune_targets = splits['tune'][config.gan.target][:evaluation.parzen_tune_examples]
    for name, centres in (('parzen', samples),
                          ('parzen_real_training', splits['train'][config.gan.target][
                              :len(samples)])):
      results[name] = metrics.parzen_log_likelihood(
          centres, tune_targets, splits['test'][config.gan.target], evaluation.parzen_sigmas)
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
  else:  # 'view' (build refuses other values)
    # A generator that ignored its condition, however good its images, scores as the real
    # targets of shuffled test pairs: chance.
    shuffled = np.random.default_rng(config.seed).permutation(len(target))
    images = {'generated': generated, 'real': target, 'shuffled_real': target[shuffled],
              'blank': np.zeros_like(target)}
    reference, compared = 'real', ('generated', 'blank')
  judged = {name: judge(image, size) for name, image in images.items()}
  results['transfer_accuracy'] = {
      name: 100.0 * float(np.mean(predicted == labels))
      for name, (predicted, _) in judged.items()}
  results['frechet_distance'] = {
      name: metrics.frechet_distance(judged[name][1], judged[reference][1])
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


def summary(results: dict) -> list[str]:
  lines = []
  if 'classifier' in results:
    lines.append(f'  judging classifier: {results["classifier"]["test_accuracy"]:.2f} % on its '
                 'test set')
  if 'conditional_accuracy' in results:
    lines.append(f'  generated digits of the requested class: '
                 f'{results["conditional_accuracy"]:.2f} %')
  for name, centres in (('parzen', 'generated samples'),
                        ('parzen_real_training', 'as many real training targets')):
    if name in results:
      parzen = results[name]
      lines.append(f'  Parzen log-likelihood (test) under {centres}: {parzen["test_mean"]:.1f} '
                   f'+- {parzen["test_standard_error"]:.1f} (sigma {parzen["sigma"]:.3f})')
  for name, accuracy in results.get('transfer_accuracy', {}).items():
    lines.append(f'  judging classifier on test images, {name.replace("_", " ")}: '
                 f'{accuracy:.2f} % of the condition\'s class')
  if 'frechet_distance_raw' in results:
    lines.append(f'  Frechet distance of generated to real test targets: '
                 f'{results["frechet_distance_raw"]:.2f}')
  distances = results.get('frechet_distance')
  if distances is not None:
    for name, value in (distances.items() if isinstance(distances, dict) else [('', distances)]):
      lines.append(f'  Frechet distance to real test digits in classifier features'
                   f'{" (" + name.replace("_", " ") + ")" if name else ""}: {value:.2f}')
  return lines
