"""Loaders: protocols, splits, determinism, file resolution, checksums and offline errors."""

import io
import os

import numpy as np
import pytest

from crossjax import data


@pytest.mark.slow
def test_mnist_halves_protocol(data_dir):
  splits = data.mnist_halves(data_dir)
  assert {k: v['x1'].shape for k, v in splits.items()} == {
      'train': (54000, 392), 'tune': (6000, 392), 'test': (10000, 392)}
  assert splits['train']['x2'].shape == (54000, 392)
  raw = np.load(data_dir / 'mnist.npz', allow_pickle=False)
  image = raw['x_test'][7].astype(np.float32) / 255
  np.testing.assert_array_equal(splits['test']['x1'][7], image[:, :14].reshape(-1))
  np.testing.assert_array_equal(splits['test']['x2'][7], image[:, 14:].reshape(-1))
  # The tune split is a seeded, disjoint part of the training images.
  again = data.mnist_halves(data_dir)
  np.testing.assert_array_equal(again['tune']['x1'], splits['tune']['x1'])
  assert len(np.unique(np.concatenate([splits['train']['labels'], splits['tune']['labels']]))) == 10


@pytest.mark.slow
def test_whole_mnist_has_the_split_of_the_halves_and_joins_them_back(data_dir):
  whole, halves = data.mnist(data_dir), data.mnist_halves(data_dir)
  raw = np.load(data_dir / 'mnist.npz', allow_pickle=False)
  np.testing.assert_array_equal(whole['test']['x1'][3],
                                raw['x_test'][3].reshape(-1).astype(np.float32) / 255)
  for name in ('train', 'tune', 'test'):
    np.testing.assert_array_equal(whole[name]['labels'], halves[name]['labels'])
    np.testing.assert_array_equal(
        data.join_halves(halves[name]['x1'], halves[name]['x2']), whole[name]['x1'])


@pytest.mark.slow
def test_noisy_mnist_protocol(data_dir):
  splits = data.noisy_mnist(data_dir, seed=3, sizes=(600, 200, 300))
  again = data.noisy_mnist(data_dir, seed=3, sizes=(600, 200, 300))
  other = data.noisy_mnist(data_dir, seed=4, sizes=(600, 200, 300))
  train = splits['train']
  assert train['x1'].shape == train['x2'].shape == (600, 784)
  assert splits['test']['x1'].shape == (300, 784)
  np.testing.assert_array_equal(train['x2'], again['train']['x2'])
  assert not np.array_equal(train['x2'], other['train']['x2'])
  for view in ('x1', 'x2'):
    assert train[view].dtype == np.float32
    assert train[view].min() >= 0 and train[view].max() <= 1
  # View 2 is a noisy version of another image of the same class: its noise-free part is an
  # MNIST image of that class, different from view 1's digit.
  raw = np.load(data_dir / 'mnist.npz', allow_pickle=False)
  images = raw['x_train'].reshape(60000, -1).astype(np.float32) / 255
  for i in range(10):
    sources = np.flatnonzero(np.all(train['x2'][i] >= images - 1e-6, axis=1))
    assert len(sources) >= 1
    assert train['labels'][i] in raw['y_train'][sources]
  # View 1 keeps the digit's ink (a rotation by at most 45 degrees stays inside the frame).
  assert 0.9 < train['x1'].sum(1).mean() / images.sum(1).mean() < 1.05


def test_rotation():
  image = np.random.default_rng(0).uniform(size=(2, 28, 28)).astype(np.float32)
  np.testing.assert_allclose(data._rotate(image, np.zeros(2)), image, atol=1e-6)
  quarter = data._rotate(image, np.array([np.pi / 2, -np.pi / 2]))
  np.testing.assert_allclose(quarter[0], np.rot90(image[0], 1), atol=1e-5)
  np.testing.assert_allclose(quarter[1], np.rot90(image[1], -1), atol=1e-5)


def test_mfeat_views_and_stratified_split(data_dir):
  splits = data.mfeat(('pix', 'mor'), data_dir, seed=1)
  assert splits['train']['x1'].shape == (1200, 240)
  assert splits['train']['x2'].shape == (1200, 6)
  for part, size in (('train', 120), ('tune', 40), ('test', 40)):
    np.testing.assert_array_equal(np.bincount(splits[part]['labels']), [size] * 10)
  raw = np.load(data_dir / 'mfeat.npz', allow_pickle=False)
  rows = np.concatenate([splits[p]['x2'] for p in ('train', 'tune', 'test')])
  assert sorted(map(tuple, rows.round(4))) == sorted(map(tuple, raw['mor'].astype(np.float32)
                                                         .round(4)))
  with pytest.raises(ValueError, match='unknown mfeat views'):
    data.mfeat(('pixels',), data_dir)


def test_digits_halves():
  splits = data.digits_halves()
  assert splits['train']['x1'].shape[1] == splits['train']['x2'].shape[1] == 32
  assert sum(len(s['labels']) for s in splits.values()) == 1797
  assert max(s['x1'].max() for s in splits.values()) == 1.0


def test_file_resolution_order(tmp_path, monkeypatch, data_dir):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  monkeypatch.delenv('CROSSJAX_DATA', raising=False)
  never = lambda url: pytest.fail(f'tried to download {url}')
  # An explicit path (file or folder) wins.
  assert 'fou' in data.load_file('mfeat.npz', data_dir, fetch=never)
  assert 'fou' in data.load_file('mfeat.npz', data_dir / 'mfeat.npz', fetch=never)
  with pytest.raises(FileNotFoundError, match='does not exist'):
    data.load_file('mfeat.npz', tmp_path / 'nothing.npz', fetch=never)
  # Then $CROSSJAX_DATA.
  monkeypatch.setenv('CROSSJAX_DATA', str(data_dir))
  assert 'fou' in data.load_file('mfeat.npz', fetch=never)
  # Then the cache.
  monkeypatch.setenv('CROSSJAX_DATA', str(tmp_path / 'empty'))
  (tmp_path / 'cache' / 'crossjax').mkdir(parents=True)
  os.symlink(data_dir / 'mfeat.npz', tmp_path / 'cache' / 'crossjax' / 'mfeat.npz')
  assert 'fou' in data.load_file('mfeat.npz', fetch=never)


def test_download_checks_content_and_offline_error(tmp_path, monkeypatch, data_dir):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  monkeypatch.delenv('CROSSJAX_DATA', raising=False)

  def offline(url):
    raise OSError('Network is unreachable')

  with pytest.raises(FileNotFoundError, match=r'CROSSJAX_DATA.*crossjax/mnist\.npz'):
    data.load_file('mnist.npz', fetch=offline)
  original = (data_dir / 'mnist.npz').read_bytes()
  arrays = data.load_file('mnist.npz', fetch=lambda url: original)
  assert arrays['x_train'].shape == (60000, 28, 28)
  assert (tmp_path / 'crossjax' / 'mnist.npz').is_file()  # cached for next time
  with np.load(data_dir / 'mnist.npz') as archive:
    tampered = {k: archive[k].copy() for k in archive.files}
  tampered['y_test'][0] += 1
  buffer = io.BytesIO()
  np.savez(buffer, **tampered)
  (tmp_path / 'crossjax' / 'mnist.npz').unlink()
  with pytest.raises(ValueError, match='content checksum'):
    data.load_file('mnist.npz', fetch=lambda url: buffer.getvalue())


def test_pickled_files_are_refused(tmp_path):
  np.savez(tmp_path / 'mfeat.npz', fou=np.array([{'a': 1}], dtype=object))
  with pytest.raises(ValueError, match='allow_pickle'):
    data.load_file('mfeat.npz', tmp_path)


def test_batch_indices_are_a_pure_function_of_seed_epoch_step():
  first = [data.batch_indices(7, 2, step, 103, 10) for step in range(10)]
  again = [data.batch_indices(7, 2, step, 103, 10) for step in (3, 0, 9)]
  np.testing.assert_array_equal(again[0], first[3])
  np.testing.assert_array_equal(again[2], first[9])
  covered = np.concatenate(first)
  assert len(np.unique(covered)) == 100  # one epoch: no repeats, remainder dropped
  assert not np.array_equal(data.batch_indices(7, 3, 0, 103, 10), first[0])
  with pytest.raises(ValueError, match='out of range'):
    data.batch_indices(7, 2, 10, 103, 10)


def test_sharded_batches_are_the_same_for_any_process_count():
  arrays = {'x1': np.arange(203)[:, None] * 1.0, 'labels': np.arange(203)}
  whole = data.ShardedBatches(arrays, seed=3, batch_size=8, num_shards=4, owned=range(4))
  halves = [data.ShardedBatches(arrays, seed=3, batch_size=8, num_shards=4, owned=owned)
            for owned in (range(0, 2), range(2, 4))]
  assert whole.steps_per_epoch == 50 // 2  # the smallest shard holds 50 examples
  for step in (0, 7, 24, 25, 61):  # across epochs too
    batch = whole.local_batch(step)['labels']
    assert len(batch) == 8 and len(set(batch)) == 8
    np.testing.assert_array_equal(
        np.concatenate([half.local_batch(step)['labels'] for half in halves]), batch)
    assert all(label % 4 == shard for shard, pair in enumerate(batch.reshape(4, 2))
               for label in pair)
  # A process keeps only the rows of its shards.
  assert sorted(halves[0].shards) == [0, 1]
  assert all(label % 4 in (0, 1) for shard in halves[0].shards.values()
             for label in shard['labels'])
  with pytest.raises(ValueError, match='not divisible by 4 data shards'):
    data.ShardedBatches(arrays, 3, 10, 4, range(4))


def test_block_shuffled_batches_read_whole_windows_and_cover_each_epoch():
  """data.shuffle='blocks': shards are contiguous ranges, each window is a few blocks of
  consecutive rows shuffled together, every epoch visits every row once, and batches are the
  same for any process count, with or without reader threads, in any order of steps."""
  arrays = {'labels': np.arange(403)}
  options = dict(seed=3, batch_size=20, num_shards=4, shuffle='blocks', block_rows=8,
                 window_blocks=3)
  whole = data.ShardedBatches(arrays, owned=range(4), **options)
  ahead = data.ShardedBatches(arrays, owned=range(4), prefetch=3, **options)
  halves = [data.ShardedBatches(arrays, owned=owned, **options)
            for owned in (range(0, 2), range(2, 4))]
  assert whole.sizes == [100, 101, 101, 101] and whole.steps_per_epoch == 20
  epoch = [whole.local_batch(step)['labels'] for step in range(20)]
  visited = np.concatenate(epoch)
  assert len(np.unique(visited)) == 400  # each shard's 100 full batches' rows, once each
  assert np.bincount(np.searchsorted([100, 201, 302], visited, side='right')).tolist() == [
      100] * 4
  for step in (0, 1, 19, 20, 7, 45, 3):  # across epochs, and back (a resume)
    batch = whole.local_batch(step)['labels']
    np.testing.assert_array_equal(ahead.local_batch(step)['labels'], batch)
    np.testing.assert_array_equal(
        np.concatenate([half.local_batch(step)['labels'] for half in halves]), batch)
    for shard, rows in enumerate(batch.reshape(4, 5)):
      assert np.all((rows >= [0, 100, 201, 302][shard]) & (rows < [100, 201, 302, 403][shard]))
  # Within a shard, the 5 rows of a batch come from the blocks of one window (or two, where
  # the batch crosses a window boundary): at most 6 blocks of 8 consecutive rows.
  shard_0 = np.concatenate([batch[:5] for batch in epoch])
  for begin in range(0, 100, 24):
    window = shard_0[begin:begin + 24]
    assert len(np.unique(window // 8)) <= 4  # 3 blocks, or a cut block at the shard's end
  assert not np.array_equal(whole.local_batch(20)['labels'], epoch[0])  # a new epoch order
  ahead.close()
  with pytest.raises(ValueError, match="data.shuffle must be one of"):
    data.ShardedBatches(arrays, owned=range(4), **{**options, 'shuffle': 'files'})
