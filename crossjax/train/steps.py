"""Pure, module-level train and eval steps for one-player models (DCCA, DCCAE, autoencoders).

`model.loss(batch, train)` gives (loss, metrics); these steps differentiate it and apply the
optimizer. Metrics come back as device scalars; the loop syncs them only at log steps.
"""

from __future__ import annotations

import jax
import optax

from crossjax.train.state import TrainState

PLAYER = 'model'


def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
  """One optimizer step on `batch`; dropout and augmentation draw from fold_in(key, step)."""

  def loss_fn(params):
    return state.model.apply({'params': params}, batch, True, method='loss',
                             rngs={'dropout': state.step_rng(0), 'augment': state.step_rng(1)})

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
