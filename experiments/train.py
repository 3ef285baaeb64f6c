"""The one entry point for experiments.

  python experiments/train.py --config=experiments/configs/NAME.py[:smoke] --workdir=DIR \
      [--config.key=value ...]

Writes the resolved config, metrics and figures to the work directory.
"""

from absl import app, flags
from ml_collections import config_flags

from crossjax import runtime
from crossjax.train import linear_fit

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where to write config, metrics and figures.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  runtime.limit_lapack_threads()
  config = _CONFIG.value
  if config.model == 'linear_cca':
    metrics = linear_fit.fit_and_evaluate(config, _WORKDIR.value)
    print(f'Linear CCA on {config.data.name} ({metrics["num_train_examples"]} training '
          f'examples, fit in {metrics["fit_seconds"]:.2f} s), canonical correlations:')
    print(linear_fit.format_table(metrics))
    print(f'Wrote {_WORKDIR.value}/config.json, metrics.json and spectrum.png')
  else:
    raise ValueError(f'unknown model {config.model!r}')


if __name__ == '__main__':
  app.run(main)
