"""The reproduction table: paper numbers beside run results, verdicts, provenance."""

import importlib
import json
import subprocess

import pytest

from crossjax import families
from crossjax.train import writer
from experiments import reproduce

PROVENANCE = {'commit': 'abc1234', 'cpu_count': 2, 'device_kind': 'cpu'}


def write(runs, name, results):
  (runs / name).mkdir(parents=True)
  (runs / name / 'results.json').write_text(json.dumps(results))


@pytest.fixture(name='runs')
def runs_folder(tmp_path, monkeypatch):
  """An empty runs/ and results/ under tmp_path in place of the checkout's."""
  monkeypatch.setattr(reproduce, 'RUNS', tmp_path / 'runs')
  monkeypatch.setattr(reproduce, 'PUBLISHED', tmp_path / 'results')
  return tmp_path / 'runs'


def test_table_sets_runs_beside_papers(tmp_path, runs):
  write(runs, 'cca_mnist', {'total_correlation': {'test': 28.43}, 'fit_seconds': 0.4,
                            'provenance': PROVENANCE})
  wang = {'clustering_view1': {'accuracy': 98.0, 'nmi': 90.0}, 'svm_view1': {'test_error': 3.0}}
  write(runs, 'dccae_noisy_mnist', {
      **wang, 'linear_cca': wang, 'train_seconds_all_runs': 300.0,
      'wall_seconds_this_run': 320.0, 'provenance': PROVENANCE})
  (runs / 'cca_mnist' / 'spectrum.png').write_bytes(b'\x89PNG')
  text = reproduce.table()
  cca = next(line for line in text.splitlines() if line.startswith('| linear CCA | 28.0'))
  assert '| 28.43 | beats by 0.43 |' in cca and '`abc1234`' in cca and 'cpu, 2 cores' in cca
  dccae = next(line for line in text.splitlines() if line.startswith('| DCCAE |'))
  # Clustering: higher is better; SVM error: lower is better.
  assert 'beats by 0.50, misses by 3.40, misses by 0.80' in dccae
  assert '300 s training, 320 s last run' in dccae
  assert '| Deep CCA | 39.7 | - | - |' in text and 'not run' in text
  assert '[spectrum](results/cca_mnist/spectrum.png)' in text
  assert (tmp_path / 'results' / 'cca_mnist' / 'spectrum.png').exists()


def test_every_name_runs_an_existing_config():
  for name, experiment in reproduce.EXPERIMENTS.items():
    assert (reproduce.ROOT / 'crossjax' / 'configs' / experiment.config).exists(), name
    module = importlib.import_module(f'crossjax.configs.{experiment.config[:-3]}')
    for variant in ('', 'smoke'):
      assert module.get_config(variant).model in families.MODELS, (name, variant)
  assert reproduce.main(['no_such_experiment']) == 2


def test_table_without_runs_rebuilds_from_published_results(runs):
  write(runs, 'kcca_mnist', {'total_correlation': {'test': 31.5}, 'fit_seconds': 80.0,
                             'provenance': PROVENANCE})
  (runs / 'kcca_mnist' / 'spectrum.png').write_bytes(b'\x89PNG')
  with_runs = reproduce.table()
  assert '| kernel CCA (RBF, Nystrom) | 33.0 | 31.50 | misses by 1.50 |' in with_runs
  for path in (runs / 'kcca_mnist').iterdir():
    path.unlink()
  (runs / 'kcca_mnist').rmdir()
  assert reproduce.table() == with_runs  # a fresh clone: the published copies


def test_benchmarks_keep_the_parts_of_other_hardware():
  from experiments import bench_all  # pylint: disable=import-outside-toplevel
  document = bench_all.merge_part('', '2 CPU cores', '### Linear\n\n| a |')
  document = bench_all.merge_part(document, '1 x NVIDIA H100 80GB HBM3', '### Linear\n\n| b |')
  document = bench_all.merge_part(document, '2 CPU cores', '### Linear\n\n| c |')
  assert document.startswith(bench_all.PREAMBLE)
  assert '| a |' not in document
  assert document.index('## On 2 CPU cores\n\n### Linear\n\n| c |') < document.index(
      '## On 1 x NVIDIA H100 80GB HBM3\n\n### Linear\n\n| b |')


def test_benchmark_baselines_are_timed_in_alternation():
  from experiments import bench_utils  # pylint: disable=import-outside-toplevel
  calls = []
  timings = bench_utils.measure_alternating(
      {'crossjax': lambda: calls.append('a'), 'numpy': lambda: calls.append('b')}, repeats=3)
  assert ''.join(calls) == 'ab' + 'ab' * 3  # the first calls, then rounds of both
  assert [len(t['times_s']) for t in timings.values()] == [3, 3]
  assert all(t['median_s'] == sorted(t['times_s'])[1] for t in timings.values())


@pytest.mark.parametrize('changed, commit', [
    ('', 'abc1234'),
    (' M BENCHMARKS.md\n M results/dcca_mnist/results.json', 'abc1234'),
    (' M RESULTS.md\n M crossjax/linear.py', 'abc1234+dirty'),
    ('M  experiments/reproduce.py', 'abc1234+dirty')])
def test_provenance_marks_changed_code_dirty_but_not_changed_records(changed, commit,
                                                                     monkeypatch):
  def git(args, **_):
    out = 'abc1234' if args[1] == 'rev-parse' else changed
    return subprocess.CompletedProcess(args, 0, stdout=out + '\n', stderr='')

  monkeypatch.delenv('CROSSJAX_COMMIT', raising=False)
  monkeypatch.setattr(subprocess, 'run', git)
  found = writer.provenance()
  assert found['commit'] == commit
  assert found['uncommitted_files'] == [line.split()[1] for line in changed.splitlines()]
