"""The reproduction table: paper numbers beside run results, verdicts, provenance."""

import json

from experiments import reproduce

PROVENANCE = {'commit': 'abc1234', 'cpu_count': 2, 'device_kind': 'cpu'}


def write(runs, name, results):
  (runs / name).mkdir(parents=True)
  (runs / name / 'results.json').write_text(json.dumps(results))


def test_table_sets_runs_beside_papers(tmp_path, monkeypatch):
  runs = tmp_path / 'runs'
  monkeypatch.setattr(reproduce, 'RUNS', runs)
  monkeypatch.setattr(reproduce, 'FIGURES', tmp_path / 'results')
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
    assert (reproduce.ROOT / 'experiments' / 'configs' / experiment.config).exists(), name
  assert reproduce.main(['no_such_experiment']) == 2
