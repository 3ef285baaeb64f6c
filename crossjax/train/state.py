"""The one train-state pytree and the optimizers built from a config."""

from __future__ import annotations

from typing import Any, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.core import FrozenDict


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue: step, parameters and optimizer state per player.

  `params` and `opt_state` map a player name to its parameters and optimizer state: one player
  ('model') for DCCA and the autoencoders, two for a GAN. `key` is the run's base PRNG key; a
  step draws from fold_in(key, step), so a resumed run draws the same numbers. `model` and `tx`
  are static (not saved, not traced).
  """
  step: jax.Array
  params: Mapping[str, Any]
  opt_state: Mapping[str, Any]
  key: jax.Array
  model: nn.Module = flax.struct.field(pytree_node=False)
  tx: FrozenDict = flax.struct.field(pytree_node=False)

  def apply_gradients(self, player: str, grads) -> 'TrainState':
    """One optimizer update of `player`'s parameters (the step count is advanced apart)."""
    updates, opt_state = self.tx[player].update(grads, self.opt_state[player],
                                                self.params[player])
    return self.replace(params={**self.params, player: optax.apply_updates(self.params[player],
                                                                            updates)},
                        opt_state={**self.opt_state, player: opt_state})

  def step_rng(self, salt: int = 0) -> jax.Array:
    """The PRNG key of this step: fold_in(fold_in(key, step), salt)."""
    return jax.random.fold_in(jax.random.fold_in(self.key, self.step), salt)

  def checkpointed(self) -> dict:
    """The arrays a checkpoint holds."""
    return {'step': self.step, 'params': self.params, 'opt_state': self.opt_state,
            'key': self.key}


def make_optimizer(config: ml_collections.ConfigDict,
                   total_steps: int) -> optax.GradientTransformation:
  """An optax optimizer from `config` (name, learning_rate, schedule, warmup_steps,
  weight_decay, b1, b2, momentum, grad_clip_norm).

  weight_decay: decoupled for 'adamw' (Loshchilov and Hutter 2019); for 'sgd' and 'adam' the
  gradient of an L2 penalty (weight_decay / 2) ||w||^2 added to the loss's, every parameter
  (biases too), before momentum: Wang et al.'s DCCAE code, whose penalty l2 ||w||^2 is
  weight_decay = 2 l2."""
  if config.schedule == 'constant':
    learning_rate = optax.constant_schedule(config.learning_rate)
  elif config.schedule == 'cosine':
    learning_rate = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, min(config.warmup_steps, max(total_steps - 1, 0)),
        max(total_steps, 1))
  else:
    raise ValueError(f'unknown schedule {config.schedule!r}; known: constant, cosine')
  if config.weight_decay < 0:
    raise ValueError(f'weight_decay must be >= 0, got {config.weight_decay}')
  if config.name == 'adamw':
    optimizer = optax.adamw(learning_rate, b1=config.b1, b2=config.b2,
                            weight_decay=config.weight_decay)
  elif config.name in ('adam', 'sgd'):
    optimizer = (optax.adam(learning_rate, b1=config.b1, b2=config.b2) if config.name == 'adam'
                 else optax.sgd(learning_rate, momentum=config.momentum or None))
    if config.weight_decay:
      optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay), optimizer)
  else:
    raise ValueError(f'unknown optimizer {config.name!r}; known: adam, adamw, sgd')
  if config.grad_clip_norm:
    optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), optimizer)
  return optimizer


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  """The optimizer section of a config, with its defaults."""
  config = ml_collections.ConfigDict(dict(
      name='adam', learning_rate=1e-3, schedule='constant', warmup_steps=0, weight_decay=0.0,
      b1=0.9, b2=0.999, momentum=0.0, grad_clip_norm=0.0))
  config.update(overrides)
  return config


def create_state(model: nn.Module, players: Mapping[str, Any],
                 tx: Mapping[str, optax.GradientTransformation], key: jax.Array) -> TrainState:
  """A step-0 state from initial parameters per player and their optimizers."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=dict(players),
                    opt_state={name: tx[name].init(params) for name, params in players.items()},
                    key=key, model=model, tx=FrozenDict(tx))
