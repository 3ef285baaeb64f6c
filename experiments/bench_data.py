"""Benchmark: Deep CCA trained from memory-mapped .npy views larger than this machine's memory.

  ./launch.sh bench data [--size_gib=26] [--folder=runs/bench_data] [--keep] [--steps=300]

Generates two float32 views of N rows x 1024 features (N from --size_gib; written chunk by
chunk, never whole in memory): a shared 10-dimensional latent through a random linear map per
view, plus unit noise, scaled so that the views' population canonical correlations run from
0.9 down to 0.1 (Deep CCA may pass their total, 5.0, with nonlinear functions of the latent).
Then trains Deep CCA (crossjax/configs/dcca.py, batch 1000) in fresh processes, alternating the
memory-mapped views with an in-memory subset of them: their first --subset_rows rows in an
.npz, which `files` loads whole instead of mapping, so the baseline reads no file while it
trains. Reports each run's peak resident memory (the kernel's high-water mark) and median step
time (over the log intervals of metrics.jsonl, the first, which compiles, left out), their
ratio, and apart the time of the validation pass of `files` (one sequential read of every row,
before training), run alone.

The views are reused while they match (generation takes minutes) and deleted at the end unless
--keep. Results go to --workdir/data.json and .md; BENCHMARKS.md gets them, as its part
'<hardware>: out-of-core data', only when the views are larger than memory: a smaller run is a
trial.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from crossjax.train import writer
from experiments import bench_all, bench_utils

ROOT = pathlib.Path(__file__).resolve().parents[1]

_SIZE_GIB = flags.DEFINE_float('size_gib', 26.0, 'Total size of the two views, GiB.')
_FOLDER = flags.DEFINE_string('folder', str(ROOT / 'runs' / 'bench_data'),
                              'Scratch folder for the views and the training runs.')
_KEEP = flags.DEFINE_bool('keep', False, 'Keep the generated data for the next run.')
_STEPS = flags.DEFINE_integer('steps', 300, 'Training steps of each run.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 1000, 'Training batch size.')
_LOG_EVERY = flags.DEFINE_integer('log_every', 10, 'Steps per timed log interval.')
_ROUNDS = flags.DEFINE_integer('rounds', 2, 'Rounds of (memory-mapped run, in-memory run).')
_SUBSET_ROWS = flags.DEFINE_integer('subset_rows', 200_000,
                                    'Rows of the in-memory subset (at most half the rows).')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/bench', 'Where to write data.json/.md.')
_SHUFFLE = flags.DEFINE_enum('shuffle', 'blocks', ['blocks', 'rows'],
                             'data.shuffle of the compared runs (both the same).')
_REFERENCE_RUN = flags.DEFINE_bool('reference_run', True, 'Also one memory-mapped run with '
                              "data.shuffle='rows' (random row reads), for reference.")

FEATURES = 1024
LATENT = 10
HELD_OUT = 5000  # rows of tune and of test each
CHUNK_ROWS = 1 << 15  # rows generated at a time: 128 MiB per view
SEED = 0
GIB = 1 << 30
CORRELATIONS = np.linspace(0.9, 0.1, LATENT)  # the views' population canonical correlations

# The validation pass alone, in a fresh process: `files` checks and scans every row.
_VALIDATE = '''
import json, sys, time
from crossjax import files
start = time.perf_counter()
files.load_files(sys.argv[1], splits=sys.argv[2])
print(json.dumps({'seconds': time.perf_counter() - start}))
'''


def view_maps() -> list[np.ndarray]:
  """Each view's (LATENT, FEATURES) map of the latent. Latent i's row has squared norm
  snr_i = rho_i / (1 - rho_i) over unit noise, so its best projections in the two views
  correlate by snr_i / (1 + snr_i) = rho_i (random directions in 1024 dimensions are nearly
  orthogonal)."""
  rng = np.random.default_rng(SEED)
  snr = CORRELATIONS / (1 - CORRELATIONS)
  maps = []
  for _ in range(2):
    directions = rng.standard_normal((LATENT, FEATURES))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    maps.append((np.sqrt(snr)[:, None] * directions).astype(np.float32))
  return maps


def write_splits(path: pathlib.Path, num_rows: int) -> None:
  """Train: all rows but the last 2 * HELD_OUT; tune and test: HELD_OUT each."""
  cut = num_rows - 2 * HELD_OUT
  np.savez(path, train=np.arange(cut), tune=np.arange(cut, cut + HELD_OUT),
           test=np.arange(cut + HELD_OUT, num_rows))


def generate(folder: pathlib.Path, rows: int, subset_rows: int) -> dict[str, pathlib.Path]:
  """The views, their splits and the subset in `folder`, made unless a finished generation
  of the same shape is there (views.json is written last)."""
  paths = {name: folder / name for name in
           ('view_1.npy', 'view_2.npy', 'splits.npz', 'subset.npz', 'subset_splits.npz')}
  manifest_path = folder / 'views.json'
  manifest = {'rows': rows, 'features': FEATURES, 'latent': LATENT, 'seed': SEED,
              'chunk_rows': CHUNK_ROWS, 'subset_rows': subset_rows}
  if (manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest
      and all(path.exists() for path in paths.values())):
    print(f'Reusing the views in {folder}', flush=True)
    return paths
  manifest_path.unlink(missing_ok=True)
  needed = 2 * rows * FEATURES * 4 + 2 * subset_rows * FEATURES * 4
  if shutil.disk_usage(folder).free < needed + GIB:
    raise SystemExit(f'{folder}: {needed / GIB:.1f} GiB of views need more free disk than the '
                     f'{shutil.disk_usage(folder).free / GIB:.1f} GiB there')
  print(f'Generating 2 views of {rows} x {FEATURES} float32 ({needed / GIB:.1f} GiB with the '
        f'subset) in {folder}', flush=True)
  start = time.perf_counter()
  views = [paths['view_1.npy'], paths['view_2.npy']]
  for path in views:
    # The header and the file's size: the rows are written chunk by chunk below.
    np.lib.format.open_memmap(path, mode='w+', dtype=np.float32, shape=(rows, FEATURES))
  maps = view_maps()
  for begin in range(0, rows, CHUNK_ROWS):
    end = min(begin + CHUNK_ROWS, rows)
    rng = np.random.default_rng([SEED, begin // CHUNK_ROWS])
    latent = rng.standard_normal((end - begin, LATENT), np.float32)
    for path, mapping in zip(views, maps):
      # Mapped afresh per chunk: unmapping drops the written pages from this process.
      out = np.lib.format.open_memmap(path, mode='r+')
      out[begin:end] = latent @ mapping + rng.standard_normal((end - begin, FEATURES),
                                                              np.float32)
      out.flush()
      del out
  write_splits(paths['splits.npz'], rows)
  sources = [np.load(path, mmap_mode='r') for path in views]
  np.savez(paths['subset.npz'], x1=sources[0][:subset_rows], x2=sources[1][:subset_rows])
  write_splits(paths['subset_splits.npz'], subset_rows)
  manifest_path.write_text(json.dumps(manifest))
  print(f'Generated in {time.perf_counter() - start:.0f} s', flush=True)
  return paths


def _memory_fields(pid: int) -> dict[str, int]:
  """RssAnon, RssFile, ... of /proc/PID/status, in KiB ({} once the process is gone)."""
  try:
    with open(f'/proc/{pid}/status') as status:
      lines = status.read().splitlines()
  except OSError:
    return {}
  fields = (line.partition(':') for line in lines)
  return {name: int(value.split()[0]) for name, _, value in fields if name.startswith('Rss')}


def run_measured(command: list[str], log_path: pathlib.Path) -> dict:
  """Runs command in a fresh process (output to log_path) and measures its memory: the
  kernel's exact peak RSS (wait4's ru_maxrss) and the peaks of its parts RssAnon (heap,
  arrays) and RssFile (mapped file pages), sampled every 0.1 s."""
  peaks = {'RssAnon': 0, 'RssFile': 0}
  start = time.perf_counter()
  with open(log_path, 'w') as log:
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
  try:
    while True:
      # wait4 rather than Popen.poll: it also gives this child's own resource usage.
      pid, status, usage = os.wait4(process.pid, os.WNOHANG)
      if pid:
        break
      for name, kib in _memory_fields(process.pid).items():
        if name in peaks:
          peaks[name] = max(peaks[name], kib)
      time.sleep(0.1)
  except BaseException:
    process.kill()
    process.wait()
    raise
  process.returncode = os.waitstatus_to_exitcode(status)
  wall = time.perf_counter() - start
  if process.returncode:
    tail = ''.join(log_path.read_text().splitlines(keepends=True)[-20:])
    raise SystemExit(f'{" ".join(command[:4])} ... failed (exit {process.returncode}); the '
                     f'end of {log_path}:\n{tail}')
  return {'wall_s': wall, 'peak_rss_gib': usage.ru_maxrss / (1 << 20),
          'peak_rss_anon_gib': peaks['RssAnon'] / (1 << 20),
          'peak_rss_file_gib': peaks['RssFile'] / (1 << 20)}


def interval_step_seconds(metrics_path: pathlib.Path) -> list[float]:
  """Seconds per step of each log interval, the first (compilation) left out."""
  rows = [json.loads(line) for line in metrics_path.read_text().splitlines()]
  rates = [row['steps_per_second'] for row in rows if row['split'] == 'train']
  return [1 / rate for rate in rates[1:]]


def train(name: str, views: str, splits: pathlib.Path, workdir: pathlib.Path,
          shuffle: str, device_budget_gib: float = 0.0) -> dict:
  """One Deep CCA run from scratch in a fresh process: its memory, step times and results."""
  shutil.rmtree(workdir, ignore_errors=True)
  workdir.mkdir(parents=True)
  steps = _STEPS.value
  command = [sys.executable, '-m', 'crossjax.main', '--config=crossjax/configs/dcca.py',
             f'--workdir={workdir}', '--config.data.name=files', f'--config.data.views={views}',
             f'--config.data.splits={splits}', f'--config.num_steps={steps}',
             f'--config.batch_size={_BATCH_SIZE.value}', f'--config.log_every={_LOG_EVERY.value}',
             f'--config.checkpoint_every={steps}', '--config.progress_bar=False',
             f'--config.data.shuffle={shuffle}',
             f'--config.data.device_budget_gib={device_budget_gib}']
  print(f'Training on the {name}, data.shuffle={shuffle} ({workdir})', flush=True)
  run = run_measured(command, workdir / 'log.txt')
  times = interval_step_seconds(workdir / 'metrics.jsonl')
  results = json.loads((workdir / 'results.json').read_text())
  run.update(data=name, shuffle=shuffle,
             batches='in device memory' if device_budget_gib else 'read on the host',
             median_step_s=statistics.median(times), step_s=times,
             train_seconds=results['train_seconds_this_run'],
             num_train_examples=results['num_train_examples'],
             test_total_correlation=results['total_correlation']['test'])
  print(f'  peak RSS {run["peak_rss_gib"]:.2f} GiB, median step '
        f'{1e3 * run["median_step_s"]:.1f} ms, test total correlation '
        f'{run["test_total_correlation"]:.2f}', flush=True)
  return run


def memory_bytes() -> int:
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def main(argv):
  del argv
  folder = pathlib.Path(_FOLDER.value).resolve()
  folder.mkdir(parents=True, exist_ok=True)
  rows = int(_SIZE_GIB.value * GIB) // (2 * FEATURES * 4)
  subset_rows = min(_SUBSET_ROWS.value, rows // 2)
  if subset_rows <= 2 * HELD_OUT + _BATCH_SIZE.value:
    raise app.UsageError(f'--size_gib={_SIZE_GIB.value} gives {rows} rows: too few for a '
                         f'subset that holds out {2 * HELD_OUT} rows and trains batches of '
                         f'{_BATCH_SIZE.value}')
  view_bytes = 2 * rows * FEATURES * 4
  out_of_core = view_bytes > memory_bytes()
  if not out_of_core:
    print(f'The views ({view_bytes / GIB:.1f} GiB) fit in memory ({memory_bytes() / GIB:.1f} '
          'GiB): a trial, BENCHMARKS.md is left alone', flush=True)
  paths = generate(folder, rows, subset_rows)
  big_views = f'{paths["view_1.npy"]},{paths["view_2.npy"]}'
  subset = paths['subset.npz']

  print('Timing the validation pass of the views', flush=True)
  validation = run_measured([sys.executable, '-c', _VALIDATE, big_views, str(paths['splits.npz'])],
                            folder / 'validation_log.txt')
  printed = (folder / 'validation_log.txt').read_text().splitlines()
  validation['seconds'] = json.loads(next(line for line in printed if line[:1] == '{'))['seconds']
  validation['gb_per_s'] = view_bytes / 1e9 / validation['seconds']
  print(f'  {validation["seconds"]:.1f} s ({validation["gb_per_s"]:.2f} GB/s), peak RSS '
        f'{validation["peak_rss_gib"]:.2f} GiB', flush=True)

  runs = []
  for round_ in range(1, _ROUNDS.value + 1):
    for name, views, splits, num_rows in (
        ('memory-mapped views', big_views, paths['splits.npz'], rows),
        ('in-memory subset', f'{subset}:x1,{subset}:x2', paths['subset_splits.npz'],
         subset_rows)):
      run = train(name, views, splits, folder / 'runs' / f'{name.split()[0]}_{round_}',
                  _SHUFFLE.value)
      runs.append(dict(run, round=round_, data_gib=2 * num_rows * FEATURES * 4 / GIB))
  big = [run for run in runs if run['data'] == 'memory-mapped views']
  small = [run for run in runs if run['data'] == 'in-memory subset']
  other = 'rows' if _SHUFFLE.value == 'blocks' else 'blocks'
  if _REFERENCE_RUN.value:
    run = train('memory-mapped views', big_views, paths['splits.npz'],
                folder / 'runs' / f'memory-mapped_{other}', other)
    runs.append(dict(run, round=_ROUNDS.value + 1, data_gib=view_bytes / GIB))
    run = train('in-memory subset', f'{subset}:x1,{subset}:x2', paths['subset_splits.npz'],
                folder / 'runs' / 'in-memory_device', _SHUFFLE.value, device_budget_gib=2.0)
    runs.append(dict(run, round=_ROUNDS.value + 1,
                     data_gib=2 * subset_rows * FEATURES * 4 / GIB))
  ratio = (statistics.median(t for run in big for t in run['step_s'])
           / statistics.median(t for run in small for t in run['step_s']))
  round_ratios = [b['median_step_s'] / s['median_step_s'] for b, s in zip(big, small)]
  config = json.loads((folder / 'runs' / 'memory-mapped_1' / 'config.json').read_text())

  machine = writer.provenance()
  results = {'machine': machine, 'memory_gib': memory_bytes() / GIB, 'rows': rows,
             'features': FEATURES, 'view_bytes': view_bytes, 'subset_rows': subset_rows,
             'out_of_core': out_of_core, 'validation': validation, 'runs': runs,
             'step_time_ratio': ratio, 'step_time_ratio_per_round': round_ratios}
  model = f'{FEATURES}-{"-".join(map(str, config["encoder"]["widths"]))}-{config["output_dim"]}'
  table = bench_utils.markdown_table(
      ['data', 'shuffle', 'batches', 'round', 'views GiB', 'training rows', 'peak RSS GiB',
       'RssAnon GiB', 'RssFile GiB', 'median step ms', 'process wall s', 'test total corr'],
      [[run['data'], run['shuffle'], run['batches'], run['round'], run['data_gib'],
        run['num_train_examples'], run['peak_rss_gib'], run['peak_rss_anon_gib'],
        run['peak_rss_file_gib'], 1e3 * run['median_step_s'], run['wall_s'],
        run['test_total_correlation']] for run in runs])
  markdown = '\n\n'.join([
      '## Out-of-core data: Deep CCA from memory-mapped .npy views',
      f'`./launch.sh bench data --size_gib={_SIZE_GIB.value:g} --steps={_STEPS.value} '
      f'--shuffle={_SHUFFLE.value} --rounds={_ROUNDS.value}'
      f'{"" if _REFERENCE_RUN.value else " --noreference_run"}`. '
      f'Machine: {machine["cpu_count"]} CPUs, {memory_bytes() / GIB:.1f} GiB memory, '
      f'{machine["devices"]}; jax {machine["jax"]}; commit {machine["commit"]}; '
      f'{machine["date"]}. Two float32 views of {rows} rows x {FEATURES} features, '
      f'{view_bytes / GIB:.1f} GiB together: a shared {LATENT}-dimensional latent through a '
      f'random linear map per view, plus unit noise (population canonical correlations '
      f'{CORRELATIONS[0]:.1f} ... {CORRELATIONS[-1]:.1f}, total {CORRELATIONS.sum():.1f}, which '
      f'Deep CCA may pass with nonlinear functions of the latent). Deep CCA '
      f'(crossjax/configs/dcca.py: encoders {model}, batch {config["batch_size"]}, Adam), '
      f'{_STEPS.value} steps per run, each run in a fresh process, alternating the '
      f'memory-mapped views with an in-memory subset (their first {subset_rows} rows, loaded '
      f'from an .npz); both hold out {HELD_OUT} rows each for tune and test, both with '
      f'data.shuffle={_SHUFFLE.value} (see crossjax.data.ShardedBatches; blocks of '
      f'{config["data"]["block_rows"]} rows, {config["data"]["window_blocks"]} per window and '
      f'shard), batches read on the host (data.device_budget_gib=0: the loop of a view '
      f'larger than memory, {config["steps_per_dispatch"]} steps per dispatch at most). For '
      f'reference{"" if _REFERENCE_RUN.value else " (not run: --noreference_run)"}, last: '
      f'the memory-mapped views with data.shuffle={other}, and the subset in device memory '
      '(the default where it fits: batches gathered on the device). Step time: median '
      f'of the {_LOG_EVERY.value}-step log intervals, the first (compilation) left out. Peak '
      "RSS: the kernel's high-water mark of the process (all of it: loading, validation, "
      'training, evaluation on every training row); RssAnon and RssFile: its parts, sampled '
      'every 0.1 s.',
      table,
      f'Step time, memory-mapped / in-memory, data.shuffle={_SHUFFLE.value}: {ratio:.3f} '
      f'(medians over all rounds; per round '
      f'{min(round_ratios):.3f}-{max(round_ratios):.3f}). The validation pass of `files` '
      f'(finiteness and statistics: one sequential read of every row, before training), timed '
      f'alone in a fresh process: {validation["seconds"]:.1f} s ({validation["gb_per_s"]:.2f} '
      f'GB/s), peak RSS {validation["peak_rss_gib"]:.2f} GiB.'])
  bench_utils.write(_WORKDIR.value, 'data', results, markdown)
  if out_of_core:
    bench_all.write_part(machine, 'out-of-core data', markdown)
  if not _KEEP.value:
    for path in [*paths.values(), folder / 'views.json']:
      path.unlink(missing_ok=True)
    print(f'Deleted the generated data in {folder} (--keep keeps it)')


if __name__ == '__main__':
  app.run(main)
