"""The one entry point for experiments.

  python experiments/train.py --config=experiments/configs/NAME.py[:smoke] --workdir=DIR \
      [--config.key=value ...] [--coordinator_address=HOST:PORT --num_processes=N --process_id=I]

Trains (resuming from DIR if it holds checkpoints) and evaluates; writes the resolved config,
metrics, checkpoints, results and figures to DIR. On a cluster every host runs the same command;
the coordinator comes from the flags, the CROSSJAX_* environment, or JAX's detection.
"""

import sys

import jax

from absl import app, flags, logging
from ml_collections import config_flags

from crossjax import runtime
from crossjax.train import linear_fit, loop, parallel

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where to write everything the run makes.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', '', 'HOST:PORT of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', 0, 'Processes in a multi-host run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', -1, 'This process, 0 .. num_processes - 1.')
_JOIN_TIMEOUT = flags.DEFINE_integer('join_timeout', 300,
                                     'Seconds to wait for every process to join.')
flags.mark_flags_as_required(['config', 'workdir'])


def summary(results: dict) -> str:
  if 'correlations' in results and results.get('model') in (None, 'linear_cca', 'kernel_cca'):
    return linear_fit.format_table(results)
  lines = [f'{results["model"]} on {results["dataset"]}: {results["steps"]} steps']
  for name, values in results.get('total_correlation', {}).items():
    lines.append(f'  total correlation ({name}, top {len(results["correlations"][name])}): '
                 f'{values:.3f}')
  for name, values in results.get('linear_cca', {}).get('total_correlation', {}).items():
    lines.append(f'  linear CCA on the raw views ({name}): {values:.3f}')
  for name, accuracy in results.get('code_accuracy', {}).items():
    lines.append(f'  linear classifier on the shared code ({name}): {accuracy:.2f} %')
  for name, accuracy in results.get('raw_accuracy', {}).items():
    lines.append(f'  linear classifier on the raw view {name}: {accuracy:.2f} %')
  for label, scores in (('', results), ('linear CCA: ', results.get('linear_cca', {}))):
    if 'svm_view1' in scores:
      svm = scores['svm_view1']
      lines.append(f'  {label}linear SVM on view-1 features: test error '
                   f'{svm["test_error"]:.2f} % (C = {svm["C"]})')
    if 'clustering_view1' in scores:
      clustering = scores['clustering_view1']
      lines.append(f'  {label}spectral clustering of view-1 test features: accuracy '
                   f'{clustering["accuracy"]:.1f} %, NMI {clustering["nmi"]:.1f} %')
    if 'retrieval_view1_to_view2' in scores:
      lines.append(f'  {label}retrieval view 1 -> view 2 (test): ' + ', '.join(
          f'{k} {v:.1f} %' for k, v in scores['retrieval_view1_to_view2'].items()))
  for name in ('tune_accuracy', 'test_accuracy'):
    if name in results:
      lines.append(f'  {name.replace("_", " ")}: {results[name]:.2f} %')
  if 'classifier' in results:
    lines.append(f'  judging classifier: {results["classifier"]["test_accuracy"]:.2f} % on its '
                 'test set')
  if 'conditional_accuracy' in results:
    lines.append(f'  generated digits of the requested class: '
                 f'{results["conditional_accuracy"]:.2f} %')
  if 'parzen' in results:
    parzen = results['parzen']
    lines.append(f'  Parzen log-likelihood (test): {parzen["test_mean"]:.1f} +- '
                 f'{parzen["test_standard_error"]:.1f} (sigma {parzen["sigma"]:.3f})')
  for name, accuracy in results.get('transfer_accuracy', {}).items():
    lines.append(f'  judging classifier on test images, {name.replace("_", " ")}: '
                 f'{accuracy:.2f} % of the condition\'s class')
  distances = results.get('frechet_distance')
  if distances is not None:
    for name, value in (distances.items() if isinstance(distances, dict) else [('', distances)]):
      lines.append(f'  Frechet distance to real test digits in classifier features'
                   f'{" (" + name.replace("_", " ") + ")" if name else ""}: {value:.2f}')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # orbax reports every save at INFO
  runtime.limit_lapack_threads()
  parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                                  _JOIN_TIMEOUT.value)
  try:
    results = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except loop.Preempted as stopped:
    logging.warning('%s', stopped)
    sys.exit(128 + stopped.signum)
  except loop.NonFiniteError as error:
    logging.error('%s', error)
    sys.exit(f'crossjax: {error}')
  if jax.process_index() == 0:
    print(summary(results))
    print(f'Wrote {_WORKDIR.value}/')


if __name__ == '__main__':
  app.run(main)
