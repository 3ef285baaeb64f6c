"""Several train steps per dispatch: a scan over streamed batches, and batches gathered from
training data in device memory, each equal to the same steps one by one."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh

from crossjax import data
from crossjax.train import loop, parallel, steps
from tests.test_train import initial_state, small_config

BATCH = 64
SHARDS = 4
STEPS = 5


@pytest.mark.slow  # compile-bound (two loops of every kind): the slow tier
@pytest.mark.parametrize('num_devices', [1, 4])
def test_k_steps_in_one_dispatch_equal_k_single_steps(num_devices):
  mesh = Mesh(np.array(jax.devices()[:num_devices]), (parallel.DATA_AXIS,),
              axis_types=(AxisType.Auto,))
  replicated = parallel.replicated(mesh)
  split = data.digits_halves()['train']
  batches = data.ShardedBatches({key: split[key] for key in ('x1', 'x2')}, seed=2,
                                batch_size=BATCH, num_shards=SHARDS, owned=range(SHARDS))
  first = batches.steps_per_epoch - 2  # the scans cross an epoch boundary
  family, state = initial_state(small_config(), batches.local_batch(0))
  state = jax.device_put(state, replicated)

  one_step = jax.jit(family.train_step, out_shardings=replicated)
  expected, history = state, []
  for step in range(first, first + STEPS):
    expected, metrics = one_step(expected, parallel.global_batch(batches.local_batch(step),
                                                                 mesh, BATCH))
    history.append(metrics)
  expected_metrics = jax.tree.map(lambda *values: np.stack(values), *history)

  local = [batches.local_batch(step) for step in range(first, first + STEPS)]
  stacked = {key: parallel.global_along(np.stack([batch[key] for batch in local]), mesh, 1,
                                        BATCH) for key in ('x1', 'x2')}
  # Room for STEPS + 2 steps, STEPS of them run: one compiled loop serves any count.
  padding = {key: jnp.zeros((2,) + value.shape[1:], value.dtype) for key, value in stacked.items()}
  stacked = {key: parallel.global_along(np.concatenate([np.asarray(value), padding[key]]), mesh,
                                        1, BATCH) for key, value in stacked.items()}
  scanned, scanned_metrics = jax.jit(steps.streamed_steps(family.train_step),
                                     out_shardings=(replicated, None))(state, STEPS, stacked)

  shards = {key: parallel.global_along(value, mesh, 0, SHARDS)
            for key, value in batches.stacked_shards().items()}
  positions = parallel.global_along(batches.positions(first, STEPS), mesh, 1, SHARDS)
  gather = steps.gathered_steps(family.train_step, parallel.batch_sharded(mesh))
  gathered, gathered_metrics = jax.jit(gather, out_shardings=(replicated, None))(
      state, STEPS, shards, positions)

  for state_k, metrics_k in ((scanned, scanned_metrics), (gathered, gathered_metrics)):
    assert int(state_k.step) == STEPS
    chex.assert_trees_all_equal(jax.device_get(state_k.params), jax.device_get(expected.params))
    chex.assert_trees_all_equal(jax.device_get(state_k.opt_state),
                                jax.device_get(expected.opt_state))
    chex.assert_trees_all_equal(jax.tree.map(lambda m: m[:STEPS], jax.device_get(metrics_k)),
                                expected_metrics)


def test_a_step_with_convolutions_is_found_through_nested_jaxprs():
  """On a CPU the loop runs such a step one per dispatch (a convolution inside an XLA loop is
  ~6x slower there: jax-ml/jax#12868); the MLP steps keep the compiled loop."""
  batch = data.digits_halves()['train']
  batch = {key: batch[key][:BATCH] for key in ('x1', 'x2')}
  family, state = initial_state(small_config(), batch)
  assert not loop._convolves(family.train_step, state, batch)

  def convolving_step(state, batch):
    def body(carry, row):
      return carry + jnp.convolve(row, row)[0], None
    total = jax.lax.cond(state.step > 0, lambda: jax.lax.scan(body, 0.0, batch['x1'])[0],
                         lambda: 0.0)
    return state.step + total

  kernel = state.replace(step=jnp.ones(()), params={'conv': {'kernel': jnp.ones((3, 3, 1, 4))}})
  assert loop._convolves(convolving_step, kernel, batch)
