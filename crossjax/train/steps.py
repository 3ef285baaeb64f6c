"""Pure, module-level train and eval steps.

One-player models (DCCA, DCCAE, autoencoders, the classifier): `model.loss(batch, train)` gives
(loss, metrics); the step differentiates it and applies the optimizer. The conditional GAN has
two players with a step of its own. Metrics come back as device scalars; the loop syncs them
only at log steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from crossjax.models import gan
from crossjax.train.state import TrainState

PLAYER = 'model'
EVAL_NOISE_SALT = 2**31 - 1  # eval noise: fold_in(key, salt), apart from every step's


def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
  """One optimizer step on `batch`; dropout, augmentation and latent noise draw from
  fold_in(key, step)."""

  def loss_fn(params):
    return state.model.apply({'params': params}, batch, True, method='loss',
                             rngs={'dropout': state.step_rng(0), 'augment': state.step_rng(1),
                                   'noise': state.step_rng(2)})

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params[PLAYER])
  new_state = state.apply_gradients(PLAYER, grads).replace(step=state.step + 1)
  metrics = {**metrics, 'loss': loss, 'grad_norm': optax.tree.norm(grads),
             'param_norm': optax.tree.norm(new_state.params[PLAYER])}
  return new_state, metrics


def eval_step(state: TrainState, batch: dict) -> dict:
  """The loss and metrics on `batch` without dropout and without an update."""
  loss, metrics = state.model.apply({'params': state.params[PLAYER]}, batch, False,
                                    method='loss')
  return {**metrics, 'loss': loss}


def gan_train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
  """One conditional-GAN step (Mirza and Osindero 2014): update D on real targets and fakes of
  the current G (plus the R1 penalty where model.r1_weight > 0), then G against the updated D
  with fresh noise. Both optimizers advance once."""
  model = state.model

  def players(generator, discriminator):
    return {'params': {gan.GENERATOR: generator, gan.DISCRIMINATOR: discriminator}}

  def discriminator_loss(params):
    variables = players(state.params[gan.GENERATOR], params)
    loss, metrics = model.apply(variables, batch, True, method='discriminator_loss',
                                rngs={'noise': state.step_rng(0), 'dropout': state.step_rng(1)})
    if model.r1_weight:
      metrics['r1'] = gan.r1_penalty(model, variables, batch, {'dropout': state.step_rng(4)})
      loss = loss + 0.5 * model.r1_weight * metrics['r1']
      metrics['d_loss'] = loss
    return loss, metrics

  (_, d_metrics), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
      state.params[gan.DISCRIMINATOR])
  state = state.apply_gradients(gan.DISCRIMINATOR, d_grads)

  def generator_loss(params):
    return model.apply(players(params, state.params[gan.DISCRIMINATOR]), batch, True,
                       method='generator_loss',
                       rngs={'noise': state.step_rng(2), 'dropout': state.step_rng(3)})

  (_, g_metrics), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
      state.params[gan.GENERATOR])
  state = state.apply_gradients(gan.GENERATOR, g_grads).replace(step=state.step + 1)
  return state, {**d_metrics, **g_metrics, 'd_grad_norm': optax.tree.norm(d_grads),
                 'g_grad_norm': optax.tree.norm(g_grads)}


def gan_eval_step(state: TrainState, batch: dict) -> dict:
  """Both players' losses on `batch` without dropout, with noise fixed by the run's key."""
  rngs = {'noise': jax.random.fold_in(state.key, EVAL_NOISE_SALT)}
  (_, d_metrics), (_, g_metrics) = state.model.apply({'params': state.params}, batch, False,
                                                     rngs=rngs)
  return {**d_metrics, **g_metrics}



def _steps(train_step_fn, state: TrainState, count, capacity: int, batch_at):
  """Runs train_step_fn `count` times (a traced count: one compiled loop for any count up to
  `capacity`), step i on batch_at(i); returns (state, metrics with a leading capacity axis,
  rows count and beyond left zero)."""
  shapes = jax.eval_shape(train_step_fn, state, batch_at(0))[1]
  buffers = jax.tree.map(lambda m: jnp.zeros((capacity,) + m.shape, m.dtype), shapes)

  def body(i, carry):
    state, buffers = carry
    state, metrics = train_step_fn(state, batch_at(i))
    return state, jax.tree.map(lambda buffer, value: buffer.at[i].set(value), buffers, metrics)

  return jax.lax.fori_loop(0, count, body, (state, buffers))


def streamed_steps(train_step_fn):
  """Several train steps in one dispatch: (state, count, batches) -> (state, metrics), where
  `batches` stack up to K batches on a leading axis and the first `count` are trained on."""

  def steps(state: TrainState, count, batches: dict):
    capacity = len(next(iter(batches.values())))
    return _steps(train_step_fn, state, count, capacity,
                  lambda i: {key: value[i] for key, value in batches.items()})

  return steps


def gathered_steps(train_step_fn, batch_sharding=None):
  """Several train steps in one dispatch on training data in device memory: (state, count,
  shards, positions) -> (state, metrics). `shards` are (shards, rows, ...) arrays
  (`data.ShardedBatches.stacked_shards`), `positions` (K, shards, rows per shard) indices;
  step i's batch is shards[s, positions[i, s]] for every shard s, listed shard by shard: the
  batch the host would have read. batch_sharding, where given, pins the gathered batch to the
  data axis (each device gathers from its own shards)."""

  def batch_at(shards, positions, i):
    batch = {}
    for key, value in shards.items():
      rows = jax.vmap(lambda shard, where: shard[where])(value, positions[i])
      rows = rows.reshape((-1,) + rows.shape[2:])
      batch[key] = (rows if batch_sharding is None
                    else jax.lax.with_sharding_constraint(rows, batch_sharding))
    return batch

  def steps(state: TrainState, count, shards: dict, positions):
    return _steps(train_step_fn, state, count, len(positions),
                  lambda i: batch_at(shards, positions, i))

  return steps
