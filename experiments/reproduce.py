"""Paper experiments by name, and the RESULTS.md tables built from their results.

  ./launch.sh reproduce NAME [NAME ...]   trains (or resumes) runs/NAME and evaluates it on the
                                          test split: results.json and figures in runs/NAME
  ./launch.sh reproduce --list            the names, with the command each one runs
  ./launch.sh reproduce --table           rewrites RESULTS.md from runs/*/results.json

Every number in RESULTS.md comes from a results.json, which records the commit, the devices
and the wall time of the run that made it. `--table` copies each run's results.json and PNG
figures to results/NAME/ (kept in git) and falls back to those copies for experiments not run
in this checkout, so a fresh clone rebuilds the same RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

from crossjax import data

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNS = ROOT / 'runs'  # one work directory per experiment name
PUBLISHED = ROOT / 'results'  # results.json and figures of each run, kept in git


@dataclasses.dataclass(frozen=True)
class Experiment:
  config: str
  overrides: tuple[str, ...] = ()

  def command(self, name: str) -> list[str]:
    return [sys.executable, '-m', 'crossjax.main', f'--config=crossjax/configs/{self.config}',
            f'--workdir=runs/{name}', *self.overrides]

  def shown(self) -> str:
    return ' '.join([f'./launch.sh train crossjax/configs/{self.config}', *self.overrides])


def batch_run(protocol: str, objective: str, size: int, devices: int = 1) -> str:
  """The experiment name of a row of the objective-by-batch-size table (Andrew et al.'s
  objective at noisy MNIST's batch 1000 on one device is dcca_noisy_mnist itself)."""
  if (protocol, objective, size, devices) == ('noisy_mnist', 'dcca', 1000, 1):
    return 'dcca_noisy_mnist'
  return f'dcca_{protocol}_{objective}_b{size}' + (f'_d{devices}' if devices > 1 else '')


def _batch(objective: str, size: int) -> tuple[str, ...]:
  return (f'--config.objective.name={objective}', f'--config.batch_size={size}')


EXPERIMENTS: dict[str, Experiment] = {
    'cca_mnist': Experiment('cca_mnist.py'),
    'dcca_mnist': Experiment('dcca_mnist.py'),
    'dccae_noisy_mnist': Experiment('dccae_noisy_mnist.py'),
    'dcca_noisy_mnist': Experiment('dccae_noisy_mnist.py', ('--config.model=dcca',)),
    'mae_mfeat': Experiment('mae_mfeat.py'),
    'mae_mnist_halves': Experiment('mae_mnist_halves.py'),
    'cgan_mnist': Experiment('cgan_mnist.py'),
    'cgan_mnist_paper_generator': Experiment('cgan_mnist_paper_generator.py'),
    'cgan_halves': Experiment('cgan_halves.py'),
    'cgan_noisy_mnist': Experiment('cgan_noisy_mnist.py'),
    'kcca_mnist': Experiment('kcca_mnist.py'),
    'cca_noisy_mnist': Experiment('cca_noisy_mnist.py'),
    'dcca_mfeat': Experiment('dcca_mfeat.py'),
    'dcca_noisy_mnist_authors': Experiment('dcca_noisy_mnist_authors.py'),
    'dccae_noisy_mnist_authors': Experiment('dccae_noisy_mnist_authors.py'),
    'splitae_noisy_mnist': Experiment('splitae_noisy_mnist.py'),
    'vcca_noisy_mnist': Experiment('vcca_noisy_mnist.py'),
    'vcca_private_noisy_mnist': Experiment('vcca_private_noisy_mnist.py'),
    # VCCA's 250 epochs (125,000 steps) take about 5 hours on 2 CPU cores at 7 steps/s: the
    # first 50 of them, as a run that fits a working session.
    'vcca_noisy_mnist_50_epochs': Experiment('vcca_noisy_mnist.py', ('--config.num_epochs=50',)),
    # Noisy MNIST's encoders trained by the losses of crossjax.contrastive instead (issue 13),
    # and by deep tensor CCA's objective (two views: the sum of squared correlations).
    **{f'{loss}_noisy_mnist': Experiment('contrastive_noisy_mnist.py',
                                         (f'--config.objective.name={loss}',))
       for loss in ('infonce', 'barlow_twins', 'vicreg', 'tcca')},
    # SigLIP at the constant learning rate stopped at the loss of constant codes (every pair at
    # one cosine: 7.907); a linear warm-up over 100 steps, then cosine decay, left it.
    'siglip_noisy_mnist': Experiment('contrastive_noisy_mnist.py', (
        '--config.objective.name=siglip', '--config.optimizer.schedule=cosine',
        '--config.optimizer.warmup_steps=100')),
    # Deep tensor CCA (Wong et al. 2021) on mfeat's six views: dcca_mfeat's encoders.
    'tcca_mfeat': Experiment('dcca_mfeat.py', ('--config.objective.name=tcca',)),
    # Andrew et al.'s objective against unbiased CCA-EY at a small and a large batch.
    **{f'dcca_mnist_{objective}_b{size}': Experiment('dcca_mnist.py', _batch(objective, size))
       for objective in ('dcca', 'ey_unbiased') for size in (100, 1000)},
    # (Noisy MNIST's Andrew et al. objective at batch 1000 is dcca_noisy_mnist itself.) With
    # InfoNCE, and the batch of 1000 as the global batch of 4 CPU devices (250 rows each).
    **{batch_run('noisy_mnist', objective, size, devices): Experiment(
        'dccae_noisy_mnist.py', ('--config.model=dcca', *_batch(objective, size),
                                 *((f'--cpu_devices={devices}',) if devices > 1 else ())))
       for objective, size, devices in (
           ('dcca', 100, 1), ('ey_unbiased', 100, 1), ('ey_unbiased', 1000, 1),
           ('infonce', 100, 1), ('infonce', 1000, 1),
           ('dcca', 1000, 4), ('ey_unbiased', 1000, 4), ('infonce', 1000, 4))},
}


def run(names: list[str]) -> int:
  unknown = [name for name in names if name not in EXPERIMENTS]
  if unknown:
    print(f'unknown experiments {unknown}; known: {", ".join(EXPERIMENTS)}', file=sys.stderr)
    return 2
  for name in names:
    print(f'== {name}: {EXPERIMENTS[name].shown()}', flush=True)
    status = subprocess.run(EXPERIMENTS[name].command(name), cwd=ROOT, check=False).returncode
    if status:
      return status
  return 0


# ------------------------------------------------------------------------------ RESULTS.md


def _publish() -> None:
  """Copies each run's results.json and PNG figures from runs/NAME to results/NAME."""
  import shutil  # pylint: disable=import-outside-toplevel
  for name in EXPERIMENTS:
    run, target = RUNS / name, PUBLISHED / name
    if (run / 'results.json').exists():
      target.mkdir(parents=True, exist_ok=True)
      for path in [run / 'results.json', *sorted(run.glob('*.png'))]:
        shutil.copyfile(path, target / path.name)


def _load(name: str) -> dict | None:
  """The published results of an experiment (see `_publish`), None where it never ran."""
  path = PUBLISHED / name / 'results.json'
  return json.loads(path.read_text()) if path.exists() else None


def _verdict(ours: float, paper: float, higher_is_better: bool = True,
             tolerance: float = 0.0) -> str:
  gap = (ours - paper) if higher_is_better else (paper - ours)
  if abs(gap) <= tolerance:
    return 'matches'
  return f'beats by {abs(gap):.2f}' if gap > 0 else f'misses by {abs(gap):.2f}'


def _where(results: dict | None) -> tuple[str, str, str]:
  """(wall time, hardware, commit) of a run's results."""
  if results is None:
    return ('not run', '-', '-')
  info = results.get('provenance', {})
  device = info.get('device_kind', '?')
  cores = f', {info["cpu_count"]} cores' if device == 'cpu' and info.get('cpu_count') else ''
  if 'fit_seconds' in results:
    time_taken = f'{results["fit_seconds"]:.1f} s fit'
  else:
    time_taken = (f'{results["train_seconds_all_runs"]:.0f} s training, '
                  f'{results["wall_seconds_this_run"]:.0f} s last run')
  return (time_taken, f'{device}{cores}', f'`{info.get("commit", "?")}`')


def _figures(names) -> list[str]:
  """Links to the published PNG figures of these experiments, a line each."""
  lines = []
  for name in names:
    pictures = sorted((PUBLISHED / name).glob('*.png'))
    if pictures:
      lines.append(f'- `{name}`: ' + ', '.join(
          f'[{picture.stem}]({PUBLISHED.name}/{name}/{picture.name})' for picture in pictures))
  return lines + ([''] if lines else [])


def _row(cells) -> str:
  return '| ' + ' | '.join(str(cell) for cell in cells) + ' |'


HEADER = ('method', 'paper', 'crossjax', 'verdict', 'command', 'time', 'hardware',
          'commit')


def _table(rows) -> list[str]:
  return [_row(HEADER), '|' + '---|' * len(HEADER)] + [_row(row) for row in rows]


def table() -> str:
  """RESULTS.md: one table per paper, paper numbers beside crossjax's (publishes the runs of
  this checkout first)."""
  _publish()
  lines = ['# Results', '',
           'Every crossjax number below is read from `results/NAME/results.json` (the copy of',
           '`runs/NAME/results.json` kept in git) by `./launch.sh reproduce --table`; rerun a',
           'row with `./launch.sh reproduce NAME`.',
           'Time: the training wall time summed over all runs of that work directory (resumed',
           'runs included), and the wall time of the last run (training, or restoring, and',
           'evaluation), on the stated hardware. A commit marked +dirty had uncommitted',
           'changes to tracked files when the run started (newer results.json files list them',
           'under provenance.uncommitted_files).', '']

  lines += ['## Andrew et al. 2013: MNIST halves, total correlation of the top 50 (test)', '']
  rows = []
  for method, name, paper in (('linear CCA', 'cca_mnist', 28.0),
                              ('kernel CCA (RBF, Nystrom)', 'kcca_mnist', 33.0),
                              ('Deep CCA', 'dcca_mnist', 39.7)):
    results = _load(name)
    ours = results['total_correlation']['test'] if results else None
    rows.append((method, paper, '-' if ours is None else f'{ours:.2f}',
                 '-' if ours is None else _verdict(ours, paper),
                 f'`./launch.sh reproduce {name}`', *_where(results)))
  lines += _table(rows)
  lines += ['', 'A PyTorch peer library reaches 47.0 for Deep CCA with modern training: the bar '
            'to beat.', '']
  lines += _figures(['cca_mnist', 'kcca_mnist', 'dcca_mnist'])

  lines += ['## Wang et al. 2015: noisy MNIST, 10 dimensions', '',
            'Spectral clustering accuracy / NMI of the view-1 test features (%, higher is '
            'better) and linear SVM test error (%, lower is better).', '']
  rows = []
  dccae, dcca = _load('dccae_noisy_mnist'), _load('dcca_noisy_mnist')
  # The linear CCA row is the raw-view baseline evaluated inside the DCCAE run.
  for method, name, run, scores, paper in (
      ('linear CCA', 'dccae_noisy_mnist', dccae, (dccae or {}).get('linear_cca'),
       (72.9, 56.0, 19.6)),
      ('DCCA', 'dcca_noisy_mnist', dcca, dcca, (97.0, 92.0, 2.9)),
      ('DCCAE', 'dccae_noisy_mnist', dccae, dccae, (97.5, 93.4, 2.2))):
    shown = verdicts = '-'
    if scores and 'clustering_view1' in scores:
      ours = (scores['clustering_view1']['accuracy'], scores['clustering_view1']['nmi'],
              scores['svm_view1']['test_error'])
      verdicts = ', '.join(_verdict(o, p, higher_is_better=i < 2)
                           for i, (o, p) in enumerate(zip(ours, paper)))
      shown = ' / '.join(f'{value:.1f}' for value in ours)
    rows.append((method, ' / '.join(str(p) for p in paper), shown, verdicts,
                 f'`./launch.sh reproduce {name}`', *_where(run)))
  lines += _table(rows) + ['']
  lines += ["Under the authors' protocol (issue 13; their released code: `linCCA.m` with ridges "
            "r1 = 0.01 and r2 = 100, `svmclassify.m`: libsvm's linear C-SVC, one-vs-one, no "
            'feature scaling, C in {0.01, 0.1, 1, 10} on the tune split, trained on all 50,000 '
            'training rows; the paper describes spectral clustering only as on a k-nearest-'
            'neighbour graph, so crossjax runs Ng, Jordan and Weiss on a Gaussian-weighted '
            'graph with k in {5, 10, 20, 50} and the width in {0.25, 0.5, 1, 2} x the median '
            'distance to the k-th neighbour, chosen by clustering accuracy on the tune split; '
            "weights below float64's epsilon are dropped, and a graph with more connected "
            'components than clusters, or on which ARPACK does not converge in 1,000 restarts '
            '(Lanczos on the normalised adjacency, then shift-invert on the Laplacian), '
            'is left out of the choice: at 0.25 x the median, Deep CCA codes leave points with '
            'degrees of 1e-250, on which ARPACK once ran for over 40 minutes). '
            'Target for the SVM: the 19.6 % that the authors\' demo prints. DCCA and DCCAE '
            'as the authors trained them (sigmoid units, SGD with momentum 0.99, weight decay, '
            'DCCAE\'s correlation batch of 800 beside a reconstruction batch of 100, the state '
            'of the best tune objective; their demo prints 3.8 % and 2.8 %, the paper 2.9 % and '
            '2.2 % after tuning), their features the canonical variates of view 1. VCCA and '
            'VCCA-private (Wang, Yan, Lee and Livescu 2016) as their paper and code set them up, '
            'features the means of q(z | x_1); that paper reports the SVM error only. Their '
            '250 epochs take about 5 hours a run on 2 CPU cores (7 steps/s), not run here; at '
            'a constant learning rate and stateless batch order, the 50-epoch row is the first '
            'fifth of the VCCA run, step for step.', '']
  rows = []
  for method, name, paper in (
      ('linear CCA', 'cca_noisy_mnist', (72.9, 56.0, 19.6)),
      ("DCCA, the authors' training", 'dcca_noisy_mnist_authors', (97.0, 92.0, 2.9)),
      ("DCCAE, the authors' training", 'dccae_noisy_mnist_authors', (97.5, 93.4, 2.2)),
      ('SplitAE', 'splitae_noisy_mnist', (None, None, None)),
      # Wang, Yan, Lee and Livescu 2016, Table 1 (SVM error only).
      ('VCCA', 'vcca_noisy_mnist', (None, None, 3.0)),
      ('VCCA-private', 'vcca_private_noisy_mnist', (None, None, 2.4)),
      ("VCCA, the first 50 of the paper's 250 epochs", 'vcca_noisy_mnist_50_epochs',
       (None, None, 3.0)),
      # dccae_noisy_mnist's encoders and training under other objectives (no paper numbers).
      ('InfoNCE (CLIP)', 'infonce_noisy_mnist', (None, None, None)),
      ('SigLIP', 'siglip_noisy_mnist', (None, None, None)),
      ('Barlow Twins', 'barlow_twins_noisy_mnist', (None, None, None)),
      ('VICReg', 'vicreg_noisy_mnist', (None, None, None)),
      ('deep tensor CCA objective', 'tcca_noisy_mnist', (None, None, None))):
    results = _load(name)
    shown = verdicts = '-'
    if results and 'libsvm_view1' in results:
      ours = (results['njw_clustering_view1']['accuracy'], results['njw_clustering_view1']['nmi'],
              results['libsvm_view1']['test_error'])
      verdicts = ', '.join(_verdict(o, p, higher_is_better=i < 2, tolerance=0.3 if i == 2 else 0)
                           for i, (o, p) in enumerate(zip(ours, paper)) if p is not None)
      shown = ' / '.join(f'{value:.1f}' for value in ours)
    rows.append((method, ' / '.join('-' if p is None else str(p) for p in paper), shown, verdicts,
                 f'`./launch.sh reproduce {name}`', *_where(results)))
  lines += _table(rows) + ['']
  demo = []
  for method, name, printed in (('DCCA', 'dcca_noisy_mnist_authors', 3.8),
                                ('DCCAE', 'dccae_noisy_mnist_authors', 2.8)):
    results = _load(name)
    if results and 'libsvm_view1' in results:
      demo.append(f"{method} {results['libsvm_view1']['test_error']:.2f} % against {printed} %")
  lines += ["Where the authors' DCCA and DCCAE miss the paper: crossjax runs the demo's settings "
            '(their initialisation, sigmoid units, SGD with momentum 0.99, weight decay 1e-4, '
            "DCCAE's lambda 1e-3 with squared error through sigmoid outputs and its 7,000 "
            "updates, the state of the best tune objective) once each; the paper's 2.9 % and "
            "2.2 % came after tuning lambda and the learning rate on the tune split's SVM "
            'error, which these CPU runs did not repeat. Against the error the demo prints with '
            'the same settings untuned: ' + ('; '.join(demo) or 'not run') + '.', '']
  lines += ['The contrastive and redundancy-reduction rows train the encoders of '
            "`dccae_noisy_mnist` (10-dimensional codes, batch 1000, 20 epochs, Adam) with only "
            'the objective changed (`crossjax/configs/contrastive_noisy_mnist.py`), scored as '
            "the rows above: InfoNCE on cosine similarities at temperature 0.1; Barlow Twins on "
            'the cross-correlation of codes standardised per unit over the batch (the diagonal '
            "whitening that relates it to CCA; off-diagonal weight 5e-3); VICReg's weights 25, "
            '25, 1 on the raw codes. These settings come from papers with projections of 2,048 '
            'to 8,192 dimensions and were not tuned for 10. SigLIP (its fixed scale 10 and bias '
            '-10) trains with a linear warm-up over 100 steps, then cosine decay: at the '
            "others' constant learning rate its loss stopped after about 100 steps at 7.907, "
            'the loss of codes that do not depend on the input (every pair at one cosine, 0.31), '
            'and at that rate learning the scale and bias, as the SigLIP paper does, left the '
            "same collapse in a 250-step check. Noisy MNIST's pairs share only their class: in "
            "a batch of 1000, about 100 of a row's 999 negatives are of its class, which the "
            "sigmoid loss scores one by one, where InfoNCE's softmax only ranks them (codes of "
            'the class alone can bring the sigmoid loss to about 5.6).', '']
  lines += _figures(['dcca_noisy_mnist', 'dccae_noisy_mnist'])

  lines += ['## Mirza and Osindero 2014: conditional GAN on MNIST', '',
            "Goodfellow et al.'s Parzen protocol (`parzen_ll.py`): 1,000 samples per class as "
            'the centres of Gaussian windows, the width from 10^-1 .. 10^0 chosen on tune '
            'digits (6,000), the mean log-likelihood of the 10,000 test digits. The state '
            'evaluated is the one of the best Parzen estimate on 2,000 tune digits, checked '
            'every 500 steps (the paper\'s stopping point); the yardstick row puts as many real '
            'training digits in place of the samples (the estimator on real data). The '
            "paper's generator: uniform z -> 200 ReLU, label -> 1000 ReLU, joint 1200 "
            '(dropout 0.5); its maxout discriminator and SGD schedule are not reproduced (see '
            'the config).', '']
  rows = []
  for name, label in (('cgan_mnist', 'cgan_mnist'),
                      ('cgan_mnist_paper_generator', "the paper's generator")):
    cgan = _load(name)
    if not cgan:
      continue
    parzen = cgan['parzen']
    rows.append((f'{label}: Parzen log-likelihood (test)', '132 +- 1.8',
                 f'{parzen["test_mean"]:.1f} +- {parzen["test_standard_error"]:.1f}',
                 _verdict(parzen['test_mean'], 132.0), f'`./launch.sh reproduce {name}`',
                 *_where(cgan)))
    if 'parzen_real_training' in cgan:  # the estimator's yardstick
      real = cgan['parzen_real_training']
      rows.append((f'{label}: Parzen, as many real training digits in place of samples', '-',
                   f'{real["test_mean"]:.1f} +- {real["test_standard_error"]:.1f}', '-', '', '',
                   '', ''))
    rows.append((f'{label}: digits of the requested class (%)', '-',
                 f'{cgan["conditional_accuracy"]:.2f}', 'target >= 97', '', '', '', ''))
    rows.append((f'{label}: Frechet distance, classifier features', '-',
                 f'{cgan.get("frechet_distance", float("nan")):.2f}', '-', '', '', '', ''))
    if 'evaluated_step' in cgan:
      rows.append((f'{label}: evaluated step', '-',
                   f'{cgan["evaluated_step"]} of {cgan.get("steps", "?")}', '-', '', '', '', ''))
  lines += _table(rows) + ['']
  lines += _figures(['cgan_mnist', 'cgan_mnist_paper_generator'])

  lines += ['## Modality transfer with the conditional GAN', '',
            'Accuracy (%) of a classifier on test images whose target part the generator made '
            'from the condition, against the real target and an uninformative one (no paper '
            'numbers). Right halves from left halves: the MNIST classifier on the real left '
            'half joined to each right half (target >= 90 %). Noisy MNIST view 2 from view 1: '
            'a classifier of noisy view-2 images on generated views, scored against the class '
            'of their view 1; shuffled real: real view 2 of other test pairs (chance).', '']
  rows = []
  for name, parts in (('cgan_halves', ('generated_right', 'real_right', 'empty_right')),
                      ('cgan_noisy_mnist', ('generated', 'real', 'shuffled_real'))):
    results = _load(name)
    if not results:
      continue
    transfer = results['transfer_accuracy']
    rows += [(f'{name}: {part.replace("_", " ")}', '-', f'{transfer[part]:.2f}', '',
              f'`./launch.sh reproduce {name}`' if part == parts[0] else '',
              *(_where(results) if part == parts[0] else ('', '', '')))
             for part in parts]
  lines += _table(rows) + ['']
  lines += _figures(['cgan_halves', 'cgan_noisy_mnist'])

  lines += ['## Ngiam et al. 2011: multimodal autoencoder, linear classifier accuracy (%)', '',
            'On the shared code from all modalities and from one alone (the others missing), '
            'against the raw modality (no paper numbers for these data).', '']
  rows = []
  for name in ('mae_mfeat', 'mae_mnist_halves'):
    results = _load(name)
    if not results:
      continue
    code, raw = results['code_accuracy'], results['raw_accuracy']
    names = dict(zip(raw, data.VIEW_NAMES[results['dataset']]))
    cells = [f'all {code["all"]:.1f}'] + [
        f'{names[key]}: {code["only_" + key]:.1f} vs raw {raw[key]:.1f}' for key in raw]
    rows.append((name, '-', '; '.join(cells), '', f'`./launch.sh reproduce {name}`',
                 *_where(results)))
  lines += _table(rows) + ['']
  lines += _figures(['mae_mfeat', 'mae_mnist_halves'])

  lines += ['## Andrew et al.\'s objective against unbiased CCA-EY (Chapman et al. 2023) by '
            'batch size', '',
            'Total correlation of the top k on the test split (MNIST halves: k = 50; noisy '
            'MNIST: k = 10), same network, optimizer and epochs; only the objective and the '
            'batch size change. On noisy MNIST also InfoNCE (CLIP), and the batch of 1000 as '
            'the global batch of 4 CPU devices (`--cpu_devices=4`): the objectives see the '
            'whole global batch, so those rows should match one device.', '']
  rows = []
  for protocol, objectives_run, shapes in (
      ('mnist', ('dcca', 'ey_unbiased'), ((100, 1), (1000, 1))),
      ('noisy_mnist', ('dcca', 'ey_unbiased', 'infonce'), ((100, 1), (1000, 1), (1000, 4)))):
    for objective in objectives_run:
      for size, devices in shapes:
        name = batch_run(protocol, objective, size, devices)
        results = _load(name)
        ours = f'{results["total_correlation"]["test"]:.2f}' if results else '-'
        shown = f'batch {size}' + (f' over {devices} devices' if devices > 1 else '')
        rows.append((f'{protocol}, {objective}, {shown}', '-', ours, '',
                     f'`./launch.sh reproduce {name}`', *_where(results)))
  lines += _table(rows) + ['']
  return '\n'.join(lines)


def main(argv: list[str]) -> int:
  if argv == ['--list']:
    for name, experiment in EXPERIMENTS.items():
      print(f'{name:32} {experiment.shown()}')
    return 0
  if argv == ['--table']:
    (ROOT / 'RESULTS.md').write_text(table() + '\n')
    print(f'Wrote {ROOT / "RESULTS.md"}')
    return 0
  if not argv or any(arg.startswith('-') for arg in argv):
    print(__doc__, file=sys.stderr)
    return 2
  return run(argv)


if __name__ == '__main__':
  os.chdir(ROOT)
  sys.exit(main(sys.argv[1:]))
