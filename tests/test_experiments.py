"""Experiment configs end to end: the paper's linear CCA number and the quick-start demo."""

import json
import pathlib
import subprocess
import sys

import pytest

from crossjax.train import linear_fit
from experiments.configs import cca_mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_linear_cca_on_mnist_halves_reproduces_andrew_et_al(data_dir, tmp_path):
  config = cca_mnist.get_config()
  config.data.path = str(data_dir)
  metrics = linear_fit.fit_and_evaluate(config, str(tmp_path))
  # Andrew et al. 2013, Table 1: linear CCA, 50 components, total correlation 28.0 (test).
  assert 27.5 <= metrics['total_correlation']['test'] <= 29.0
  assert 27.5 <= metrics['total_correlation']['tune'] <= 29.0
  assert len(metrics['correlations']['test']) == 50
  assert json.loads((tmp_path / 'results.json').read_text()) == metrics
  assert json.loads((tmp_path / 'config.json').read_text())['linear']['k'] == 50


def test_train_script_runs_demo_with_overrides(tmp_path):
  result = subprocess.run(
      [sys.executable, 'experiments/train.py', '--config=experiments/configs/demo.py',
       f'--workdir={tmp_path}', '--config.linear.k=5'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  assert 'total' in result.stdout
  assert json.loads((tmp_path / 'config.json').read_text())['linear']['k'] == 5
  metrics = json.loads((tmp_path / 'results.json').read_text())
  assert len(metrics['correlations']['test']) == 5
  assert 0.5 < metrics['correlations']['test'][0] < 1.0
  assert (tmp_path / 'spectrum.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_unknown_variant_is_refused():
  with pytest.raises(ValueError, match='unknown variant'):
    cca_mnist.get_config('full')
