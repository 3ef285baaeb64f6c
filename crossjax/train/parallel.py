"""Devices and hosts: distributed start-up, the data mesh, and global batches from local rows.

One mesh axis, 'data', spans every device of every process. Parameters are replicated
(P()), batches are sharded over 'data' (P('data')); `jax.jit` then computes on the global
batch and XLA inserts the reductions, so a CCA objective sees the whole batch, exactly as on
one device.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def initialize_distributed(coordinator_address: str = '', num_processes: int = 0,
                           process_id: int = -1, timeout_s: int = 300) -> int:
  """Joins the processes of a multi-host run; returns the process count.

  Sources, in order: the arguments (flags), the environment (CROSSJAX_COORDINATOR_ADDRESS,
  CROSSJAX_NUM_PROCESSES, CROSSJAX_PROCESS_ID), then JAX's own detection on SLURM and TPU pods.
  With none of them this is a single-process run and nothing is started. A process that cannot
  reach all the others within `timeout_s` exits with a message that says so.
  """
  coordinator_address = coordinator_address or os.environ.get('CROSSJAX_COORDINATOR_ADDRESS', '')
  num_processes = num_processes or int(os.environ.get('CROSSJAX_NUM_PROCESSES', '0'))
  if process_id < 0:
    process_id = int(os.environ.get('CROSSJAX_PROCESS_ID', '-1'))
  cluster = (int(os.environ.get('SLURM_NTASKS', '1')) > 1
             or 'TPU_WORKER_HOSTNAMES' in os.environ
             or 'MEGASCALE_COORDINATOR_ADDRESS' in os.environ)
  if coordinator_address:
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ValueError(f'a coordinator needs num_processes >= 1 and 0 <= process_id < '
                       f'num_processes, got {num_processes} and {process_id}')
    kwargs = dict(coordinator_address=coordinator_address, num_processes=num_processes,
                  process_id=process_id)
  elif cluster:
    kwargs = {}  # JAX detects the coordinator, process count and id
  else:
    return 1
  message = (f'crossjax: process {process_id} could not join {num_processes or "the"} '
             f'processes at {coordinator_address or "the detected coordinator"} within '
             f'{timeout_s} s: some process never connected. Start every process with the same '
             f'coordinator address and process count, and a distinct process id.')
  # JAX ends a process that times out here with an abort (a C++ fatal error, no Python
  # exception), so a watchdog says what went wrong first, then exits.
  watchdog = threading.Timer(timeout_s, lambda: (print(message, file=sys.stderr, flush=True),
                                                 os._exit(1)))  # pylint: disable=protected-access
  watchdog.daemon = True
  watchdog.start()
  # JAX's preemption notifier would take SIGTERM from the default action (a process signalled
  # before its loop would go on training): the loop's StopRequests handles signals instead.
  jax.config.update('jax_enable_preemption_service', False)
  try:
    jax.distributed.initialize(initialization_timeout=timeout_s + 30, **kwargs)
  finally:
    watchdog.cancel()
  logging.info('process %d of %d, %d local of %d devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  return jax.process_count()


def data_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D mesh, axis 'data' (automatic sharding), over all devices of all processes, or over
  the first `num_devices` of a single process (0: all)."""
  if not num_devices:
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(AxisType.Auto,))
  if jax.process_count() > 1:
    raise ValueError(f'num_devices = {num_devices}: a run of {jax.process_count()} processes '
                     'trains on every device (0)')
  if not 0 < num_devices <= jax.device_count():
    raise ValueError(f'num_devices = {num_devices}, but this process has '
                     f'{jax.device_count()} devices')
  return Mesh(np.array(jax.devices()[:num_devices]), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def process_shards(num_shards: int) -> range:
  """The data shards this process reads: a contiguous block of num_shards / processes."""
  processes = jax.process_count()
  if num_shards % processes:
    raise ValueError(f'{num_shards} data shards cannot be split over {processes} processes: '
                     f'set config.data.num_shards to a multiple of the process count')
  per_process = num_shards // processes
  return range(jax.process_index() * per_process, (jax.process_index() + 1) * per_process)


def global_batch(local_rows: dict[str, np.ndarray], mesh: Mesh,
                 global_batch_size: int) -> dict[str, jax.Array]:
  """Global arrays, sharded over 'data', from this process's rows of the batch."""
  return {key: global_along(value, mesh, 0, global_batch_size)
          for key, value in local_rows.items()}


def local_copy(tree):
  """This process's copy of a replicated tree, on its first local device.

  For work every process does alike and on its own (evaluation): no cross-process traffic.
  """
  return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


def global_along(local: np.ndarray, mesh: Mesh, axis: int, global_size: int) -> jax.Array:
  """A global array sharded over 'data' along `axis`, from this process's contiguous part of
  it (`global_batch` is the case axis 0; stacked batches of several steps use axis 1)."""
  spec = P(*([None] * axis), DATA_AXIS)
  shape = local.shape[:axis] + (global_size,) + local.shape[axis + 1:]
  return jax.make_array_from_process_local_data(NamedSharding(mesh, spec), local, shape)
