"""Benchmark: every model's jitted train step, at its paper config's sizes.

  ./launch.sh bench steps [--workdir=runs/bench] [--steps=20] [--models=dcca,dccae,...]

For each model (Deep CCA, DCCAE, multimodal autoencoder, conditional GAN, the MNIST
classifier): compile time apart from the median step time, samples per second, and the
step's achieved FLOP/s (XLA's own count for the compiled step) as a fraction of a jitted
float32 matmul measured in the same run; then, for Deep CCA, how the step time grows with the
batch size and with the number of devices the batch is sharded over (on a CPU the devices are
fake, carved out of the same cores: a correctness check of the sharded step, not a speed-up).
"""

from __future__ import annotations

import subprocess
import sys
import time

from absl import app, flags

_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write steps.json/.md.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps (median reported).')
_MODELS = flags.DEFINE_list('models', ['dcca', 'dccae', 'mae', 'cgan', 'classifier'],
                            'Models to time.')
_BATCH_SIZES = flags.DEFINE_list('batch_sizes', ['100', '250', '500', '1000', '2000'],
                                 'Deep CCA batch sizes for the scaling table.')
_DEVICE_COUNTS = flags.DEFINE_list('device_counts', ['1', '2', '4'],
                                   'Device counts for the scaling table (fake on a CPU).')
_DEVICES = flags.DEFINE_integer('devices', 0, 'Internal: time one sharded step on this many '
                                'devices and print the median seconds.')

CONFIGS = {  # model -> the config module whose sizes it runs at
    'dcca': 'dcca_mnist', 'dccae': 'dccae_noisy_mnist', 'mae': 'mae_mnist_halves',
    'cgan': 'cgan_mnist', 'classifier': 'mnist_classifier',
}


def load(model: str, batch_size: int | None = None):
  """(config, family, example batches) for `model` at its config's batch size."""
  import importlib  # pylint: disable=import-outside-toplevel
  from crossjax import data  # pylint: disable=import-outside-toplevel
  from crossjax import families  # pylint: disable=import-outside-toplevel
  config = importlib.import_module(f'crossjax.configs.{CONFIGS[model]}').get_config()
  if batch_size:
    config.batch_size = batch_size
  family = families.get(config.model)
  split = data.load_dataset(config.data.name, None, config.data.seed)['train']
  keys = family.batch_keys(split)
  size = config.batch_size
  batches = [{key: split[key][i * size:(i + 1) * size] for key in keys} for i in range(4)]
  return config, family, batches


def time_step(model: str, batch_size: int | None, steps: int, mesh=None) -> dict:
  """Compile time, median step time and XLA's FLOP count of one jitted, donated step."""
  import jax  # pylint: disable=import-outside-toplevel
  from crossjax.train import parallel  # pylint: disable=import-outside-toplevel
  from crossjax.train.state import create_state  # pylint: disable=import-outside-toplevel
  from experiments import bench_utils  # pylint: disable=import-outside-toplevel
  config, family, batches = load(model, batch_size)
  model_module, players = family.build(config, batches[0], jax.random.PRNGKey(0))
  state = create_state(model_module, players, family.optimizers(config, 1000),
                       jax.random.PRNGKey(1))
  if mesh is None:
    batches = [jax.device_put(batch) for batch in batches]
    step = jax.jit(family.train_step, donate_argnums=0)
  else:
    replicated = parallel.replicated(mesh)
    state = jax.device_put(state, replicated)
    batches = [parallel.global_batch(batch, mesh, config.batch_size) for batch in batches]
    step = jax.jit(family.train_step, donate_argnums=0, out_shardings=replicated)
  start = time.perf_counter()
  compiled = step.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  flops = float((cost[0] if isinstance(cost, list) else cost).get('flops', 0.0))
  median, state, _ = bench_utils.median_step_seconds(compiled, state, batches, steps)
  return {'model': model, 'config': CONFIGS[model], 'batch_size': config.batch_size,
          'compile_s': compile_s, 'median_step_s': median,
          'samples_per_s': config.batch_size / median, 'gflops_per_s': flops / median / 1e9}


def sharded_child(devices: int, steps: int) -> None:
  """In a fresh process: the Deep CCA step sharded over `devices` (fake CPU devices)."""
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update('jax_num_cpu_devices', devices)  # before any backend starts; CPU only
  from crossjax import runtime  # pylint: disable=import-outside-toplevel
  from crossjax.train import parallel  # pylint: disable=import-outside-toplevel
  runtime.limit_lapack_threads()
  row = time_step('dcca', None, steps, parallel.data_mesh())
  print(f'MEDIAN_STEP_S {row["median_step_s"]}')


def main(argv):
  del argv
  if _DEVICES.value:
    sharded_child(_DEVICES.value, _STEPS.value)
    return
  import jax  # pylint: disable=import-outside-toplevel
  from crossjax import runtime  # pylint: disable=import-outside-toplevel
  from crossjax.train import writer  # pylint: disable=import-outside-toplevel
  from experiments import bench_utils  # pylint: disable=import-outside-toplevel
  runtime.limit_lapack_threads()
  steps = _STEPS.value
  matmul, matmul_label = bench_utils.matmul_gflops()
  rows = [time_step(model, None, steps) for model in _MODELS.value]
  for row in rows:
    row['fraction_of_matmul'] = row['gflops_per_s'] / matmul
  batch_rows = [time_step('dcca', int(size), max(5, steps // 2)) for size in _BATCH_SIZES.value]
  device_rows = []
  for count in (int(c) for c in _DEVICE_COUNTS.value):
    if jax.default_backend() != 'cpu' and count > jax.device_count():
      continue
    child = subprocess.run([sys.executable, '-m', 'experiments.bench_steps', f'--devices={count}',
                            f'--steps={max(5, steps // 2)}'], capture_output=True, text=True,
                           check=True)
    seconds = float(child.stdout.split('MEDIAN_STEP_S')[-1])
    device_rows.append({'devices': count, 'median_step_s': seconds})
  machine = writer.provenance()
  results = {'machine': machine, 'matmul_gflops_per_s': matmul, 'steps': rows,
             'dcca_batch_scaling': batch_rows, 'dcca_device_scaling': device_rows}
  markdown = '\n\n'.join([
      '## Train steps of every model (paper config sizes)',
      f'Device: {machine["devices"][0]} ({machine["device_kind"]}, {machine["cpu_count"]} CPU '
      f'cores); jax {machine["jax"]}; commit {machine["commit"]}; {machine["date"]}. Median of '
      f'{steps} steps after 3 warm-up steps, data on the device; FLOPs are XLA\'s count for the '
      f'compiled step; the reference is a {matmul_label}.',
      bench_utils.markdown_table(
          ['model', 'config', 'batch', 'compile s', 'median ms', 'samples/s', 'GFLOP/s',
           'fraction of matmul'],
          [[r['model'], r['config'], r['batch_size'], r['compile_s'], 1e3 * r['median_step_s'],
            r['samples_per_s'], r['gflops_per_s'], r['fraction_of_matmul']] for r in rows]),
      '### Deep CCA step time against batch size',
      bench_utils.markdown_table(
          ['batch', 'median ms', 'samples/s', 'GFLOP/s'],
          [[r['batch_size'], 1e3 * r['median_step_s'], r['samples_per_s'], r['gflops_per_s']]
           for r in batch_rows]),
      '### Deep CCA step time against devices (global batch 500 sharded over them)',
      ('On a CPU these devices are carved out of the same cores, each with its own threads, '
       'and the reductions between them are memory copies: the table shows that the sharded '
       'step runs (tests/test_train.py checks that it agrees with one device), not a speed-up.'
       if jax.default_backend() == 'cpu' else ''),
      bench_utils.markdown_table(['devices', 'median ms'],
                                 [[r['devices'], 1e3 * r['median_step_s']]
                                  for r in device_rows])])
  bench_utils.write(_WORKDIR.value, 'steps', results, markdown)


if __name__ == '__main__':
  app.run(main)
