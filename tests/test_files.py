"""The files dataset: formats, splits, lazy rows, standardisation, missing views, bad input,
the mfeat round trip and resident memory on a large memory-mapped view."""

import os

import numpy as np
import pytest

from crossjax import data
from crossjax import files


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def _save(path, array):
  """Writes `array` to .npy or .csv (exact decimal text); returns the path as a string."""
  if path.suffix == '.csv':
    np.savetxt(path, array, delimiter=',', fmt='%.17g')
  else:
    np.save(path, array)
  return str(path)


def test_npy_npz_and_csv_read_the_same_numbers(tmp_path, rng):
  x = rng.normal(size=(12, 3))
  npy = _save(tmp_path / 'v.npy', x)
  np.savez(tmp_path / 'v.npz', a=x, b=x[:, :1])
  bare = _save(tmp_path / 'bare.csv', x)
  headed = tmp_path / 'headed.csv'
  headed.write_text('gene 1,gene 2,gene 3\n' + (tmp_path / 'bare.csv').read_text())
  assert isinstance(files.read_view(npy), np.memmap)
  for spec in (npy, f'{tmp_path / "v.npz"}:a', bare, headed):
    np.testing.assert_array_equal(files.read_view(spec), x)

  splits = files.load_files(f'{npy}, {tmp_path / "v.npz"}:a,{headed}', fractions=(0.5, 0.25, 0.25))
  assert isinstance(splits['train']['x1'].source, np.memmap)
  assert sorted(splits) == ['test', 'train', 'tune'] and 'labels' not in splits['train']
  for split in splits.values():
    rows = split['x1'].index
    for key in ('x1', 'x2', 'x3'):
      assert split[key].dtype == np.float32 and split[key].shape == (len(rows), 3)
      np.testing.assert_array_equal(np.asarray(split[key]), x[rows].astype(np.float32))


def test_three_views_labels_and_given_splits(tmp_path, rng):
  views = [rng.normal(size=(30, width)) for width in (4, 2, 5)]
  specs = [_save(tmp_path / f'v{i}.npy', view) for i, view in enumerate(views)]
  labels = rng.integers(0, 3, size=30)
  (tmp_path / 'labels.csv').write_text('label\n' + '\n'.join(map(str, labels)) + '\n')
  given = {'train': np.array([9, 3, 0, 17, 22, 5, 11, 28]), 'tune': np.array([1, 2]),
           'test': np.array([29, 4, 8])}
  np.savez(tmp_path / 'splits.npz', **given)
  splits = files.load_files(specs, labels=str(tmp_path / 'labels.csv'),
                            splits=str(tmp_path / 'splits.npz'))
  for name, index in given.items():
    assert sorted(splits[name]) == ['labels', 'x1', 'x2', 'x3']
    np.testing.assert_array_equal(splits[name]['labels'], labels[index])
    assert splits[name]['labels'].dtype == np.int64
    for i, view in enumerate(views, start=1):
      np.testing.assert_array_equal(np.asarray(splits[name][f'x{i}']),
                                    view[index].astype(np.float32))


def test_drawn_splits_are_seeded_partitions_and_stratified(rng):
  labels = np.repeat([0, 1, 2], [50, 30, 20])
  splits = files.draw_splits(100, (0.6, 0.2, 0.2), seed=0, labels=labels)
  assert all(np.array_equal(part, np.sort(part)) for part in splits.values())
  np.testing.assert_array_equal(np.sort(np.concatenate(list(splits.values()))), np.arange(100))
  for name, fraction in (('train', 0.6), ('tune', 0.2), ('test', 0.2)):
    counts = np.bincount(labels[splits[name]], minlength=3)
    assert np.all(np.abs(counts - fraction * np.array([50, 30, 20])) <= 1), (name, counts)
  again = files.draw_splits(100, (0.6, 0.2, 0.2), seed=0, labels=labels)
  other = files.draw_splits(100, (0.6, 0.2, 0.2), seed=1, labels=labels)
  assert all(np.array_equal(splits[k], again[k]) for k in splits)
  assert not np.array_equal(splits['train'], other['train'])
  reference = data.stratified_split_indices(labels, 0, (0.6, 0.2, 0.2))
  assert all(np.array_equal(splits[k], reference[k]) for k in splits)

  plain = files.draw_splits(50, (0.8, 0.1, 0.1), seed=3)
  assert [len(plain[k]) for k in files.SPLITS] == [40, 5, 5]
  np.testing.assert_array_equal(np.sort(np.concatenate(list(plain.values()))), np.arange(50))
  assert all(np.array_equal(part, np.sort(part)) for part in plain.values())
  assert np.array_equal(plain['test'], files.draw_splits(50, (0.8, 0.1, 0.1), seed=3)['test'])


# ----------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path, rng):
  """{case: (call, facts its message must hold)}."""
  x = rng.normal(size=(10, 2))
  good = _save(tmp_path / 'good.npy', x)
  np.savez(tmp_path / 'v.npz', a=x, b=x)
  (tmp_path / 'cell.csv').write_text('g1,g2\n1,2\n3,oops\n')
  (tmp_path / 'ragged.csv').write_text('1,2\n3\n')
  (tmp_path / 'v.txt').write_text('1,2\n')
  nan, inf, const = x.copy(), x.copy(), x.copy()
  nan[4, 1], inf[7, 0] = np.nan, -np.inf
  const[:8] = 3.0  # constant over the training rows 0..7 only
  incomplete = x.copy()
  incomplete[5] = np.nan
  for name, array in (('flat.npy', x[:, 0]), ('nine.npy', x[:9]), ('nan.npy', nan),
                      ('inf.npy', inf), ('const.npy', const), ('incomplete.npy', incomplete),
                      ('text.npy', np.array([['a', 'b']])), ('nine_labels.npy', np.arange(9))):
    _save(tmp_path / name, array)
  (tmp_path / 'half.csv').write_text('\n'.join(['1'] * 9 + ['0.5']) + '\n')
  path = lambda name: str(tmp_path / name)  # pylint: disable=unnecessary-lambda-assignment

  def with_splits(name, views=(good,), missing='refuse', **splits):
    np.savez(tmp_path / name, **splits)
    return lambda: files.load_files(list(views), splits=path(name), missing=missing)

  ok = dict(train=np.arange(8), tune=np.array([8]), test=np.array([9]))
  return {
      'missing file': (lambda: files.load_files([path('absent.npy')]),
                       ['absent.npy', 'no such file']),
      'unknown npz key': (lambda: files.load_files([path('v.npz') + ':c']),
                          ['v.npz:c', "'c'", 'a, b']),
      'npz without key': (lambda: files.load_files([path('v.npz')]), ['v.npz', 'a, b']),
      'unknown format': (lambda: files.load_files([path('v.txt')]), ['v.txt', '.txt']),
      'non-numeric csv cell': (lambda: files.load_files([path('cell.csv')]),
                               ['cell.csv', 'row 3, column 2', "'oops'"]),
      'ragged csv': (lambda: files.load_files([path('ragged.csv')]),
                     ['ragged.csv', 'row 2 has 1 cells']),
      'not 2-D': (lambda: files.load_files([path('flat.npy')]), ['flat.npy', '2-D', '(10,)']),
      'not numbers': (lambda: files.load_files([path('text.npy')]), ['text.npy', 'numbers']),
      'row counts': (lambda: files.load_files([good, path('nine.npy')]),
                     ['good.npy 10', 'nine.npy 9']),
      'nan in a row': (lambda: files.load_files([good, path('nan.npy')]),
                       ['nan.npy', 'nan at row 4, column 1', '0-based']),
      'inf': (lambda: files.load_files([path('inf.npy')]),
              ['inf.npy', '-inf at row 7, column 0']),
      'nan, in memory': (lambda: files.from_arrays([x, nan]), ['view 2', 'row 4, column 1']),
      'constant over train': (with_splits('s_const.npz', (good, path('const.npy')), **ok),
                              ['const.npy', 'constant', '8 training rows']),
      'labels length': (lambda: files.load_files([good], labels=path('nine_labels.npy')),
                        ['nine_labels.npy', '9 labels for 10 rows']),
      'labels not integers': (lambda: files.load_files([good], labels=path('half.csv')),
                              ['half.csv', '0.5', 'row 9']),
      'split key missing': (with_splits('s_key.npz', train=[0], test=[1]),
                            ['s_key.npz', "'tune'", 'test, train']),
      'split not integers': (with_splits('s_float.npz', **{**ok, 'tune': np.array([8.0])}),
                             ['s_float.npz', "'tune'", 'integer']),
      'split index outside': (with_splits('s_out.npz', **{**ok, 'test': np.array([10])}),
                              ['s_out.npz', "'test'", 'index 10', '[0, 10)']),
      'split repeats': (with_splits('s_rep.npz', **{**ok, 'train': np.array([0, 1, 1])}),
                        ['s_rep.npz', "'train' repeats index 1"]),
      'splits overlap': (with_splits('s_over.npz', **{**ok, 'test': np.array([9, 2])}),
                         ['s_over.npz', "'train' and 'test'", 'e.g. 2']),
      'split empty': (with_splits('s_empty.npz', **{**ok, 'tune': np.array([], np.int64)}),
                      ['s_empty.npz', "'tune' is empty"]),
      'fractions': (lambda: files.load_files([good], fractions=(0.5, 0.5, 0.5)),
                    ['fractions', '(0.5, 0.5, 0.5)']),
      'incomplete refused': (lambda: files.load_files([good, path('incomplete.npy')]),
                             ['1 of 10 samples', 'incomplete.npy 1',
                              'set data.drop_incomplete=True to drop them']),
      'drop empties a split': (with_splits('s_drop.npz', (good, path('incomplete.npy')), 'drop',
                                           train=np.arange(5), tune=[5], test=[6, 7]),
                               ['incomplete.npy 1', 'leaves the tune split empty']),
  }


_BAD_INPUTS = (
    'missing file', 'unknown npz key', 'npz without key', 'unknown format',
    'non-numeric csv cell', 'ragged csv', 'not 2-D', 'not numbers', 'row counts', 'nan in a row',
    'inf', 'nan, in memory', 'constant over train', 'labels length', 'labels not integers',
    'split key missing', 'split not integers', 'split index outside', 'split repeats',
    'splits overlap', 'split empty', 'fractions', 'incomplete refused', 'drop empties a split')


@pytest.mark.parametrize('case', _BAD_INPUTS)
def test_bad_input_is_refused_with_a_one_line_message(tmp_path, rng, case):
  cases = _bad_inputs(tmp_path, rng)
  assert sorted(cases) == sorted(_BAD_INPUTS)
  call, facts = cases[case]
  with pytest.raises(files.DataError) as info:
    call()
  message = str(info.value)
  assert '\n' not in message
  for fact in facts:
    assert fact in message, (fact, message)


# ---------------------------------------------------------------------------------- Rows


def test_rows_slice_lazily_and_read_batches_in_the_requested_order(tmp_path):
  x = np.arange(60, dtype=np.float64).reshape(20, 3)
  rows = files.Rows(np.load(_save(tmp_path / 'x.npy', x), mmap_mode='r'))
  assert rows.shape == (20, 3) and len(rows) == 20 and rows.ndim == 2
  composed = rows[1::2][3:5]
  assert isinstance(composed, files.Rows) and composed.index == range(7, 11, 2)
  np.testing.assert_array_equal(np.asarray(composed), x[1::2][3:5])
  for shard in range(4):
    np.testing.assert_array_equal(np.asarray(rows[shard::4]), x[shard::4])
  np.testing.assert_array_equal(np.asarray(rows[::-1][2:5]), x[::-1][2:5])
  batch = rows[np.array([5, 1, 3, 1, -1])]
  assert isinstance(batch, np.ndarray) and batch.dtype == np.float32
  np.testing.assert_array_equal(batch, x[[5, 1, 3, 1, -1]])
  np.testing.assert_array_equal(rows[1::2][[2, 0]], x[1::2][[2, 0]])
  np.testing.assert_array_equal(rows[np.int64(2)], x[2])
  np.testing.assert_array_equal(rows[x[:, 0] % 2 == 0], x[x[:, 0] % 2 == 0])
  assert np.asarray(rows, dtype=np.float64).dtype == np.float64
  # An index array (a split) composes with slices too.
  split = files.Rows(x, np.array([9, 3, 5, 1]))
  np.testing.assert_array_equal(np.asarray(split[1:3]), x[[3, 5]])
  with pytest.raises(IndexError):
    rows[np.array([20])]
  with pytest.raises(IndexError):
    rows[:, 0]


def test_standardization_uses_training_rows_only(rng):
  x = rng.normal(loc=5.0, scale=[1.0, 3.0, 0.5], size=(40, 3))
  x[:, 2] = np.where(np.arange(40) < 20, 7.0, x[:, 2])  # constant over the training rows
  x[30:] += 100.0  # test rows far away: they must not move the statistics
  given = {'train': np.arange(20), 'tune': np.arange(20, 30), 'test': np.arange(30, 40)}
  splits = files.from_arrays([x], splits=given, standardize=True)
  train = x[:20]
  mean, std = train.mean(axis=0), train.std(axis=0)
  std[2], mean[2] = 1.0, 7.0  # a constant column is only centred
  for name, index in given.items():
    np.testing.assert_allclose(np.asarray(splits[name]['x1']),
                               ((x[index] - mean) / std).astype(np.float32), rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(splits['train']['x1'])[:, 2], 0.0)


def _with_missing(rng):
  a, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
  a[[2, 7]] = np.nan
  b[5] = np.nan
  given = {'train': np.array([0, 1, 2, 3, 4, 5, 6]), 'tune': np.array([7, 8]),
           'test': np.array([9, 10, 11])}
  return a, b, given


def test_missing_views_allowed_keep_nan_rows_and_train_statistics_ignore_them(rng):
  a, b, given = _with_missing(rng)
  np.testing.assert_array_equal(files.missing_rows(a), np.isin(np.arange(12), [2, 7]))
  np.testing.assert_array_equal(files.missing_rows(files.Rows(b)[4:]), np.arange(4, 12) == 5)
  splits = files.from_arrays([a, b], splits=given, standardize=True, missing='allow')
  train_a = a[[0, 1, 3, 4, 5, 6]]  # training rows present in view 1 (5 is missing only in 2)
  expected = (a - train_a.mean(axis=0)) / train_a.std(axis=0)
  for name, index in given.items():
    values = np.asarray(splits[name]['x1'])
    np.testing.assert_allclose(values, expected[index].astype(np.float32), rtol=1e-6, atol=1e-6)
  assert np.isnan(np.asarray(splits['train']['x1'])[2]).all()
  assert np.isnan(np.asarray(splits['train']['x2'])[5]).all()
  assert np.isnan(splits['tune']['x1'][0]).all()


def test_missing_views_dropped_leave_every_split_and_the_statistics(rng):
  a, b, given = _with_missing(rng)
  splits = files.from_arrays([a, b], splits=given, standardize=True, missing='drop')
  kept = {'train': [0, 1, 3, 4, 6], 'tune': [8], 'test': [9, 10, 11]}
  for name, index in kept.items():
    np.testing.assert_array_equal(splits[name]['x1'].index, index)
    np.testing.assert_array_equal(splits[name]['x2'].index, index)
  complete_train = a[kept['train']]
  np.testing.assert_allclose(splits['train']['x1'].mean, complete_train.mean(axis=0))
  np.testing.assert_allclose(splits['train']['x1'].scale, complete_train.std(axis=0))
  with pytest.raises(files.DataError, match='3 of 12 samples are incomplete'):
    files.from_arrays([a, b], splits=given)


def test_chunked_pass_gives_the_same_results_as_one_chunk(rng, monkeypatch):
  a, b, given = _with_missing(rng)
  whole = files.from_arrays([a, b], splits=given, standardize=True, missing='allow')
  monkeypatch.setattr(files, '_CHUNK_BYTES', 50)  # one row of both views per chunk
  chunked = files.from_arrays([a, b], splits=given, standardize=True, missing='allow')
  for key in ('x1', 'x2'):
    np.testing.assert_allclose(chunked['train'][key].mean, whole['train'][key].mean, rtol=1e-12)
    np.testing.assert_allclose(chunked['train'][key].scale, whole['train'][key].scale,
                               rtol=1e-12)
  np.testing.assert_array_equal(files.missing_rows(a), np.isin(np.arange(12), [2, 7]))
  b[9, 1] = np.inf
  with pytest.raises(files.DataError, match='row 9, column 1'):
    files.from_arrays([a, b], splits=given, missing='allow')


# ----------------------------------------------------------------------------------- data


def test_mfeat_views_from_files_split_as_the_builtin_loader(data_dir, tmp_path):
  if not (data_dir / 'mfeat.npz').is_file():
    pytest.skip(f'{data_dir / "mfeat.npz"} is absent')
  with np.load(data_dir / 'mfeat.npz', allow_pickle=False) as arrays:
    specs = [_save(tmp_path / f'{view}.npy', arrays[view]) for view in data.MFEAT_VIEWS]
    labels = _save(tmp_path / 'labels.npy', arrays['labels'])
  loaded = files.load_files(specs, labels=labels, fractions=(0.6, 0.2, 0.2), seed=0)
  expected = data.mfeat(path=data_dir)
  for name, split in expected.items():
    assert sorted(loaded[name]) == sorted(split)
    for key, value in split.items():
      np.testing.assert_array_equal(np.asarray(loaded[name][key]), value)


def _resident_kib():
  fields = {}
  with open('/proc/self/status', encoding='ascii') as status:
    for line in status:
      key, _, value = line.partition(':')
      if key in ('VmRSS', 'RssFile'):
        fields[key] = int(value.split()[0])
  return fields


@pytest.mark.skipif(not os.path.exists('/proc/self/status'), reason='needs Linux /proc')
def test_random_batches_from_a_large_memmap_keep_resident_memory_bounded(tmp_path, rng,
                                                                         monkeypatch):
  # Pages are released once 40 MiB of file pages are mapped (the default is 512 MiB): far less
  # than the file.
  before = _resident_kib()
  monkeypatch.setattr(files, '_RELEASE_BYTES', before['RssFile'] * 1024 + (40 << 20))
  num_rows, width = 200_000, 256  # 205 MB of float32
  path = tmp_path / 'big.npy'
  writer = np.lib.format.open_memmap(path, mode='w+', dtype=np.float32,
                                     shape=(num_rows, width))
  for start in range(0, num_rows, 20_000):
    writer[start:start + 20_000] = np.arange(start, start + 20_000, dtype=np.float32)[:, None]
  writer.flush()
  del writer
  file_kib = path.stat().st_size // 1024
  rows = files.load_files([str(path)], fractions=(0.8, 0.1, 0.1))['train']['x1']
  peak = dict(before)
  for _ in range(50):
    positions = rng.integers(0, len(rows), size=1024)
    batch = rows[positions]
    np.testing.assert_array_equal(batch[:, 0], rows.index[positions])
    peak = {key: max(peak[key], value) for key, value in _resident_kib().items()}
  growth = {key: peak[key] - before[key] for key in before}
  assert growth['RssFile'] < file_kib / 20, (growth, file_kib)
  assert growth['VmRSS'] < file_kib / 4, (growth, file_kib)
  # The measurement can fail: a plain memmap read of the same file stays resident.
  plain = np.load(path, mmap_mode='r')
  plain.sum(dtype=np.float64)
  assert _resident_kib()['RssFile'] - before['RssFile'] > file_kib / 2


def test_a_sample_without_any_view_is_refused_even_where_missing_views_are_allowed():
  x1 = np.arange(40, dtype=np.float32).reshape(20, 2) * [1, -1]
  x2 = np.sin(np.arange(60, dtype=np.float32)).reshape(20, 3)
  x1[5] = np.nan
  files.from_arrays([x1, x2], missing='allow')  # missing one view: fine
  x2[5] = np.nan
  with pytest.raises(files.DataError, match='1 samples have no view at all.*row 5'):
    files.from_arrays([x1, x2], missing='allow')


def test_all_rows_gives_one_training_split_checked_alike():
  x1 = np.sin(np.arange(30, dtype=np.float32)).reshape(10, 3)
  x2 = np.cos(np.arange(20, dtype=np.float32)).reshape(10, 2)
  split = files.from_arrays([x1, x2], splits=files.ALL_ROWS)
  assert list(split) == ['train']
  np.testing.assert_array_equal(np.asarray(split['train']['x2']), x2)
  x2[4, 1] = np.inf
  with pytest.raises(files.DataError, match='view 2.*row 4.*column 1'):
    files.from_arrays([x1, x2], splits=files.ALL_ROWS)


class _RecordingRows(np.ndarray):
  """A view that records every row index array it is read with."""
  reads: list = []

  def take(self, indices, *args, **kwargs):  # pylint: disable=arguments-differ
    _RecordingRows.reads.append(np.array(indices))
    return super().take(indices, *args, **kwargs)


def test_a_process_reads_only_the_rows_of_its_own_shards():
  source = np.arange(400, dtype=np.float32).reshape(200, 2).view(_RecordingRows)
  _RecordingRows.reads = []
  rows = files.Rows(source)[:160]  # a training split: the first 160 rows
  batches = data.ShardedBatches({'x1': rows}, seed=0, batch_size=40, num_shards=4,
                                owned=range(2, 4))  # process 1 of 2
  for step in range(12):  # three epochs
    batch = batches.local_batch(step)
    assert batch['x1'].shape == (20, 2)
    np.testing.assert_array_equal(batch['x1'][:, 0] // 2 % 4 >= 2, True)
  read = np.concatenate(_RecordingRows.reads)
  assert len(read) == 12 * 20 and set(read % 4) == {2, 3} and read.max() < 160


def test_batches_read_ahead_by_threads_are_the_batches_of_the_step():
  rows = files.Rows(np.arange(800, dtype=np.float32).reshape(400, 2))
  plain = data.ShardedBatches({'x1': rows}, seed=3, batch_size=40, num_shards=4,
                              owned=range(4))
  ahead = data.ShardedBatches({'x1': rows}, seed=3, batch_size=40, num_shards=4,
                              owned=range(4), prefetch=3)
  for step in [0, 1, 2, 5, 6, 30, 7]:  # forwards, a jump, and back (a resume)
    np.testing.assert_array_equal(ahead.local_batch(step)['x1'], plain.local_batch(step)['x1'])
  ahead.close()
