"""Datasets of the cross-modal papers, as NumPy arrays with their splits, and stateless batching.

Each loader returns a dict of splits ('train', 'tune', 'test'); a split is a dict with the views
('x1', 'x2', ... in view order, float32) and 'labels'. Files are found, in order, at an explicit
`path`, in the folder named by the `CROSSJAX_DATA` environment variable, or in the user cache
(`$XDG_CACHE_HOME/crossjax`, default `~/.cache/crossjax`). Where none holds a file, the public
original is downloaded into the cache and its content checksum checked; offline, that ends in an
error that says where to put the file. Arrays are read with `allow_pickle=False`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import io
import os
import pathlib
import tempfile
import threading
import urllib.request
import zipfile
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

Split = dict[str, np.ndarray]

MFEAT_VIEWS = ('fou', 'fac', 'kar', 'pix', 'zer', 'mor')


def _content_sha256(arrays: Mapping[str, np.ndarray], keys) -> str:
  digest = hashlib.sha256()
  for key in keys:
    digest.update(np.ascontiguousarray(arrays[key]).tobytes())
  return digest.hexdigest()


def _read_mnist_original(raw: bytes) -> dict[str, np.ndarray]:
  with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
    return {key: archive[key] for key in archive.files}


def _read_mfeat_original(raw: bytes) -> dict[str, np.ndarray]:
  """Parses the UCI zip: six whitespace-separated text files, 200 rows per digit in order."""
  arrays = {}
  with zipfile.ZipFile(io.BytesIO(raw)) as archive:
    names = {pathlib.PurePosixPath(name).name: name for name in archive.namelist()}
    for view in MFEAT_VIEWS:
      with archive.open(names[f'mfeat-{view}']) as text:
        arrays[view] = np.loadtxt(text, dtype=np.float64)
  arrays['labels'] = np.repeat(np.arange(10, dtype=np.int64), 200)
  return arrays


# sha256 is of the arrays' bytes in `keys` order (the content, not the file, whose compression
# may differ between copies).
_SOURCES = {
    'mnist.npz': dict(
        url='https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz',
        keys=('x_train', 'y_train', 'x_test', 'y_test'),
        sha256='06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16',
        read=_read_mnist_original),
    'mfeat.npz': dict(
        url='https://archive.ics.uci.edu/static/public/72/multiple+features.zip',
        keys=MFEAT_VIEWS + ('labels',),
        sha256='cbe454896d308173df8e4f237b1c7fbc83b5ec55d486ff960ab9626ef83521dc',
        read=_read_mfeat_original),
}


def cache_dir() -> pathlib.Path:
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return pathlib.Path(root) / 'crossjax'


def _load_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
  with np.load(path, allow_pickle=False) as archive:
    return {key: archive[key] for key in archive.files}


def _download(name: str, target: pathlib.Path,
              fetch: Callable[[str], bytes]) -> dict[str, np.ndarray]:
  source = _SOURCES[name]
  try:
    raw = fetch(source['url'])
  except OSError as error:
    raise FileNotFoundError(
        f'{name} is not on this machine and could not be downloaded from {source["url"]} '
        f'({error}). Put the file in the folder named by $CROSSJAX_DATA, or at {target}, or '
        f'pass its path explicitly.') from error
  arrays = source['read'](raw)
  digest = _content_sha256(arrays, source['keys'])
  if digest != source['sha256']:
    raise ValueError(f'{source["url"]} has content checksum {digest}, expected '
                     f'{source["sha256"]}: refusing a corrupted or changed download')
  target.parent.mkdir(parents=True, exist_ok=True)
  # Write to a temporary name, then rename: a crash never leaves a half-written cache file.
  with tempfile.NamedTemporaryFile(dir=target.parent, suffix='.npz', delete=False) as tmp:
    np.savez_compressed(tmp, **arrays)
  os.replace(tmp.name, target)
  return arrays


def _fetch_url(url: str) -> bytes:
  with urllib.request.urlopen(url, timeout=60) as response:
    return response.read()


def load_file(name: str, path: str | os.PathLike | None = None,
              fetch: Callable[[str], bytes] = _fetch_url) -> dict[str, np.ndarray]:
  """Loads `name` ('mnist.npz' or 'mfeat.npz') from path, $CROSSJAX_DATA, cache or download.

  `path` may name the file or the folder that holds it.
  """
  if name not in _SOURCES:
    raise ValueError(f'unknown data file {name!r}; known: {sorted(_SOURCES)}')
  candidates = []
  if path is not None:
    path = pathlib.Path(path)
    candidates.append(path / name if path.is_dir() else path)
    if not candidates[0].is_file():
      raise FileNotFoundError(f'{candidates[0]} does not exist')
  if os.environ.get('CROSSJAX_DATA'):
    candidates.append(pathlib.Path(os.environ['CROSSJAX_DATA']) / name)
  candidates.append(cache_dir() / name)
  for candidate in candidates:
    if candidate.is_file():
      arrays = _load_npz(candidate)
      missing = set(_SOURCES[name]['keys']) - set(arrays)
      if missing:
        raise ValueError(f'{candidate} lacks the arrays {sorted(missing)}')
      return arrays
  return _download(name, cache_dir() / name, fetch)


# ------------------------------------------------------------------------------- splits


def _split_permutation(n: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).permutation(n)


def _halves(images_NxHxW: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Left and right halves of images in [0, 1], each flattened to (N, H * W / 2)."""
  width = images_NxHxW.shape[2]
  left = images_NxHxW[:, :, :width // 2].reshape(len(images_NxHxW), -1)
  right = images_NxHxW[:, :, width // 2:].reshape(len(images_NxHxW), -1)
  return left, right


def _mnist_images(path, tune_size: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{split: (images (N, 28, 28) in [0, 1] float32, labels)}: the 60k training images split
  into train / tune (`tune_size`) by a seeded permutation; test is the 10k test set."""
  arrays = load_file('mnist.npz', path)
  order = _split_permutation(len(arrays['x_train']), seed)
  parts = {'train': (arrays['x_train'], arrays['y_train'], order[tune_size:]),
           'tune': (arrays['x_train'], arrays['y_train'], order[:tune_size]),
           'test': (arrays['x_test'], arrays['y_test'], slice(None))}
  return {name: (images[index].astype(np.float32) / 255, labels[index].astype(np.int64))
          for name, (images, labels, index) in parts.items()}


def mnist(path=None, tune_size: int = 6000, seed: int = 0) -> dict[str, Split]:
  """MNIST digits as one 784-pixel view 'x1' in [0, 1]: 54k train / 6k tune / 10k test, the
  same split as `mnist_halves`."""
  return {name: {'x1': images.reshape(len(images), -1), 'labels': labels}
          for name, (images, labels) in _mnist_images(path, tune_size, seed).items()}


def mnist_halves(path=None, tune_size: int = 6000, seed: int = 0) -> dict[str, Split]:
  """MNIST left/right halves (Andrew et al. 2013): 392 + 392 pixels in [0, 1].

  The 60k training images are split into 54k train / 6k tune by a seeded permutation; test is
  the 10k test set.
  """
  splits = {}
  for name, (images, labels) in _mnist_images(path, tune_size, seed).items():
    x1, x2 = _halves(images)
    splits[name] = {'x1': x1, 'x2': x2, 'labels': labels}
  return splits


def join_halves(left: np.ndarray, right: np.ndarray, height: int = 28) -> np.ndarray:
  """Flattened whole images (N, height * width) from flattened left and right halves: the
  inverse of the split in `mnist_halves`."""
  n = len(left)
  return np.concatenate([np.asarray(left).reshape(n, height, -1),
                         np.asarray(right).reshape(n, height, -1)], axis=2).reshape(n, -1)


def _rotate(images_NxHxW: np.ndarray, angles_rad: np.ndarray) -> np.ndarray:
  """Rotates each image counter-clockwise (as np.rot90) about its centre; bilinear, zero fill."""
  from scipy import ndimage  # pylint: disable=import-outside-toplevel
  n, height, width = images_NxHxW.shape
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  centre_r, centre_c = (height - 1) / 2, (width - 1) / 2
  cos, sin = np.cos(angles_rad)[:, None, None], np.sin(angles_rad)[:, None, None]
  # Output pixel (r, c) samples the input at the inverse rotation of its offset.
  source_r = centre_r + cos * (rows - centre_r) + sin * (cols - centre_c)
  source_c = centre_c - sin * (rows - centre_r) + cos * (cols - centre_c)
  index = np.broadcast_to(np.arange(n)[:, None, None], source_r.shape)
  coordinates = np.stack([index, source_r, source_c]).astype(np.float32)
  return ndimage.map_coordinates(images_NxHxW, coordinates, order=1, mode='grid-constant', cval=0.0)


def noisy_mnist(path=None, seed: int = 0, sizes=(50000, 10000, 10000)) -> dict[str, Split]:
  """Noisy MNIST (Wang et al. 2015): two 784-pixel views in [0, 1] of the same class.

  View 1 is the digit rotated by an angle uniform in [-pi/4, pi/4]. View 2 is a different,
  randomly chosen image of the same class with independent U[0, 1] noise added per pixel and
  clipped to [0, 1]. Train and tune come from the 60k training images (50k / 10k), test from
  the 10k test images. Deterministic for a seed. The arrays are made once per process and
  shared, read-only.
  """
  made = _noisy_mnist_made(None if path is None else str(path), seed, tuple(sizes))
  # New dicts around the cached arrays: callers may replace a split, never the arrays in it.
  return {name: dict(split) for name, split in made.items()}


@functools.lru_cache(maxsize=2)
def _noisy_mnist_made(path, seed: int, sizes: tuple) -> dict[str, Split]:
  """The views of `noisy_mnist`, made once per (path, seed, sizes) in a process: rotating 70k
  images takes ~15 s, and a cGAN run makes them for its judge and for itself."""
  arrays = load_file('mnist.npz', path)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(arrays['x_train']))
  n_train, n_tune, n_test = sizes
  if n_train + n_tune > len(order) or n_test > len(arrays['x_test']):
    raise ValueError(f'sizes {sizes} exceed MNIST (60000 train, 10000 test)')
  pools = {'train': (arrays['x_train'], arrays['y_train'], order[:n_train]),
           'tune': (arrays['x_train'], arrays['y_train'], order[n_train:n_train + n_tune]),
           'test': (arrays['x_test'], arrays['y_test'], np.arange(n_test))}
  splits = {}
  for name, (images, labels, index) in pools.items():
    images = images[index].astype(np.float32) / 255
    labels = labels[index].astype(np.int64)
    angles = rng.uniform(-np.pi / 4, np.pi / 4, size=len(index))
    view1 = _rotate(images, angles)
    partner = np.empty(len(index), dtype=np.int64)
    for digit in np.unique(labels):
      members = np.flatnonzero(labels == digit)
      # A random derangement within the class: every example gets a different image.
      shift = rng.permutation(members)
      partner[shift] = np.roll(shift, 1)
    view2 = np.clip(images[partner] + rng.uniform(0, 1, size=images.shape).astype(np.float32),
                    0, 1)
    splits[name] = {'x1': view1.reshape(len(index), -1), 'x2': view2.reshape(len(index), -1),
                    'labels': labels}
    for array in splits[name].values():
      array.flags.writeable = False
  return splits


def mfeat(views=MFEAT_VIEWS, path=None, seed: int = 0,
          fractions=(0.6, 0.2, 0.2)) -> dict[str, Split]:
  """UCI Multiple Features (van Breukelen et al. 1998): any subset of the six digit views.

  Views ('fou', 'fac', 'kar', 'pix', 'zer', 'mor') come back as 'x1', 'x2', ... in the order
  given, float32. Train/tune/test is a seeded split stratified by class.
  """
  views = tuple(views)
  unknown = set(views) - set(MFEAT_VIEWS)
  if unknown or not views:
    raise ValueError(f'unknown mfeat views {sorted(unknown)}; choose from {MFEAT_VIEWS}')
  arrays = load_file('mfeat.npz', path)
  columns = {f'x{i}': arrays[view].astype(np.float32) for i, view in enumerate(views, start=1)}
  return _stratified_splits(columns, arrays['labels'].astype(np.int64), seed, fractions)


def digits_halves(seed: int = 0, fractions=(0.6, 0.2, 0.2)) -> dict[str, Split]:
  """scikit-learn's 8x8 digits (1797 images): left 4 vs right 4 columns, 32 features each.

  Pixels are scaled to [0, 1]; train/tune/test is a seeded split stratified by class. Needs no
  file: the embedded default for the quick start and the tests.
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  left, right = _halves((digits.images / 16.0).astype(np.float32))
  return _stratified_splits({'x1': left, 'x2': right}, digits.target.astype(np.int64), seed,
                            fractions)


def stratified_split_indices(labels: np.ndarray, seed: int,
                             fractions) -> dict[str, np.ndarray]:
  """Sorted row indices of a seeded train/tune/test split stratified by class.

  scikit-learn's train_test_split twice (train against the rest, then tune against test). One
  function, so that views loaded from files (`crossjax.files`) split exactly as the built-in
  datasets do.
  """
  from sklearn.model_selection import train_test_split  # pylint: disable=import-outside-toplevel
  if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
    raise ValueError(f'fractions must be three positive numbers summing to 1, got {fractions}')
  index = np.arange(len(labels))
  train, rest = train_test_split(index, train_size=fractions[0], stratify=labels,
                                 random_state=seed)
  tune, test = train_test_split(rest, train_size=fractions[1] / (fractions[1] + fractions[2]),
                                stratify=labels[rest], random_state=seed)
  return {'train': np.sort(train), 'tune': np.sort(tune), 'test': np.sort(test)}


def _stratified_splits(columns: dict[str, np.ndarray], labels: np.ndarray, seed: int,
                       fractions) -> dict[str, Split]:
  return {name: {**{key: value[part] for key, value in columns.items()},
                 'labels': labels[part]}
          for name, part in stratified_split_indices(labels, seed, fractions).items()}


# ----------------------------------------------------------------------------- batching


def batch_indices(seed: int | tuple[int, ...], epoch: int, step: int, num_examples: int,
                  batch_size: int) -> np.ndarray:
  """Indices of batch `step` of `epoch`: a pure function of (seed, epoch, step).

  Each epoch is a fresh seeded permutation, cut into num_examples // batch_size full batches
  (the remainder is dropped, so every step sees the same batch size). A resumed run therefore
  sees exactly the batches of an unbroken run. `seed` may be a tuple (seed, shard).
  """
  steps = steps_per_epoch(num_examples, batch_size)
  if not 0 <= step < steps:
    raise ValueError(f'step {step} out of range: an epoch has {steps} batches')
  order = _epoch_order(tuple(int(s) for s in np.atleast_1d(seed)), epoch, num_examples)
  return order[step * batch_size:(step + 1) * batch_size]


@functools.lru_cache(maxsize=16)
def _epoch_order(seed: tuple[int, ...], epoch: int, num_examples: int) -> np.ndarray:
  """The permutation of an epoch, drawn once per (seed, epoch) instead of once per step: on a
  shard of a million rows drawing it takes ~25 ms, longer than a train step."""
  order = np.random.default_rng([*seed, epoch]).permutation(num_examples)
  order.flags.writeable = False
  return order


@functools.lru_cache(maxsize=16)
def _block_epoch_order(seed: tuple[int, ...], epoch: int, num_examples: int, block_rows: int,
                       window_rows: int) -> np.ndarray:
  """The order of an epoch read in blocks: the rows cut into blocks of `block_rows`
  consecutive rows, the blocks put in a seeded random order, and the rows of each window of
  `window_rows` consecutive positions of that order shuffled among themselves. A pure function
  of (seed, epoch), like `_epoch_order`."""
  rng = np.random.default_rng([*seed, epoch])
  starts = rng.permutation(np.arange(0, num_examples, block_rows))
  order = np.concatenate([np.arange(start, min(start + block_rows, num_examples))
                          for start in starts])
  for begin in range(0, num_examples, window_rows):
    rng.shuffle(order[begin:begin + window_rows])
  order.flags.writeable = False
  return order


SHUFFLES = ('rows', 'blocks')


class ShardedBatches:
  """Global batches from `num_shards` fixed shards of a training set, for several processes.

  Batch `step` (counted from the start of training) takes batch_size / num_shards rows of every
  shard and lists them shard by shard: a pure function of (seed, step), the same for any number
  of processes. A process owning shards `owned` (a contiguous range) keeps only their rows and
  gives its contiguous block of every global batch. Within a shard, each epoch is cut into
  full batches (the remainder is dropped) of an order drawn from ((seed, shard), epoch):

  - shuffle='rows' (the default): a uniform random permutation; shard i holds the examples
    i, i + num_shards, ... Each batch reads its own rows: random reads.
  - shuffle='blocks', for views on disk larger than memory: shard i holds a contiguous range
    of the rows, and its epoch order is `_block_epoch_order`: random blocks of `block_rows`
    consecutive rows, shuffled together `window_blocks` blocks at a time. A window is read
    whole, in long sequential reads, and its batches are cut from it in memory; the next window
    is read while this one trains. A batch then mixes rows of window_blocks (or, across a
    window boundary, twice as many) blocks per shard rather than of the whole shard: the price
    of sequential reading (tf.data's shuffle buffer and WebDataset's shards make the same
    trade). Memory: two windows per shard, window_blocks * block_rows rows each.

  With prefetch > 0, the next `prefetch` batches are read by as many threads while a step
  runs: reads from a memory-mapped view larger than memory wait on the disk, and concurrent
  reads keep it busy. Batches stay a pure function of the step.
  """

  def __init__(self, arrays: dict[str, np.ndarray], seed: int, batch_size: int,
               num_shards: int, owned: range, prefetch: int = 0, shuffle: str = 'rows',
               block_rows: int = 512, window_blocks: int = 8):
    if batch_size % num_shards:
      raise ValueError(f'batch size {batch_size} is not divisible by {num_shards} data shards')
    if shuffle not in SHUFFLES:
      raise ValueError(f'data.shuffle must be one of {SHUFFLES}, got {shuffle!r}')
    if block_rows < 1 or window_blocks < 1:
      raise ValueError(f'data.block_rows and data.window_blocks must be >= 1, got {block_rows} '
                       f'and {window_blocks}')
    num_examples = len(next(iter(arrays.values())))
    self.seed, self.owned, self.per_shard = seed, owned, batch_size // num_shards
    self.shuffle, self.block_rows = shuffle, block_rows
    self.window_rows = block_rows * window_blocks
    if shuffle == 'rows':
      self.shards = {shard: {key: value[shard::num_shards] for key, value in arrays.items()}
                     for shard in owned}
      self.sizes = [len(range(shard, num_examples, num_shards)) for shard in range(num_shards)]
    else:
      bounds = [num_examples * shard // num_shards for shard in range(num_shards + 1)]
      self.shards = {shard: {key: value[bounds[shard]:bounds[shard + 1]]
                             for key, value in arrays.items()} for shard in owned}
      self.sizes = [bounds[shard + 1] - bounds[shard] for shard in range(num_shards)]
    self.steps_per_epoch = steps_per_epoch(min(self.sizes), self.per_shard)
    self.prefetch = prefetch
    self._readers = (concurrent.futures.ThreadPoolExecutor(prefetch, 'crossjax-batches')
                     if prefetch else None)
    self._ahead: dict[int, concurrent.futures.Future] = {}
    # shuffle='blocks': windows being read or read, by (shard, epoch, window).
    self._window_reader = (concurrent.futures.ThreadPoolExecutor(1, 'crossjax-windows')
                           if shuffle == 'blocks' else None)
    self._windows: dict[tuple[int, int, int], concurrent.futures.Future] = {}
    self._windows_lock = threading.Lock()

  def _window(self, shard: int, epoch: int, window: int) -> concurrent.futures.Future:
    """The rows of a window in epoch order (its read started now unless it already was)."""
    key = (shard, epoch, window)
    with self._windows_lock:
      if key not in self._windows:
        def read():
          rows = self._block_order(shard, epoch)[window * self.window_rows:
                                                 (window + 1) * self.window_rows]
          return {name: value[rows] for name, value in self.shards[shard].items()}
        self._windows[key] = self._window_reader.submit(read)
      return self._windows[key]

  def _positions(self, shard: int, epoch: int, index: int) -> np.ndarray:
    """The rows, within `shard`, of batch `index` of `epoch`."""
    if self.shuffle == 'rows':
      return batch_indices((self.seed, shard), epoch, index, self.sizes[shard], self.per_shard)
    return self._block_order(shard, epoch)[index * self.per_shard:(index + 1) * self.per_shard]

  def _block_order(self, shard: int, epoch: int) -> np.ndarray:
    return _block_epoch_order((self.seed, shard), epoch, self.sizes[shard], self.block_rows,
                              self.window_rows)

  def _shard_rows(self, shard: int, epoch: int, index: int) -> dict[str, np.ndarray]:
    if self.shuffle == 'rows':
      rows = self._positions(shard, epoch, index)
      return {key: value[rows] for key, value in self.shards[shard].items()}
    begin, end = index * self.per_shard, (index + 1) * self.per_shard
    first, last = begin // self.window_rows, (end - 1) // self.window_rows
    windows = [self._window(shard, epoch, window) for window in range(first, last + 1)]
    # The next window (or the next epoch's first) is read while this one trains.
    if (last + 1) * self.window_rows < self.sizes[shard]:
      self._window(shard, epoch, last + 1)
    else:
      self._window(shard, epoch + 1, 0)
    parts = []
    for window, read in zip(range(first, last + 1), windows):
      rows = read.result()
      offset = window * self.window_rows
      parts.append({key: value[max(begin - offset, 0):end - offset]
                    for key, value in rows.items()})
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

  def _read(self, step: int) -> dict[str, np.ndarray]:
    epoch, index = divmod(step, self.steps_per_epoch)
    parts = [self._shard_rows(shard, epoch, index) for shard in self.owned]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

  def positions(self, step: int, count: int) -> np.ndarray:
    """(count, owned shards, batch_size / num_shards) int32: the rows, within each owned
    shard, of batches step .. step + count - 1, as `local_batch` reads them."""
    out = np.empty((count, len(self.owned), self.per_shard), np.int32)
    for i in range(count):
      epoch, index = divmod(step + i, self.steps_per_epoch)
      for j, shard in enumerate(self.owned):
        out[i, j] = self._positions(shard, epoch, index)
    return out

  def _sample_bytes(self) -> int:
    """Bytes of one sample, all arrays together."""
    return sum(int(np.prod(value.shape[1:], dtype=np.int64)) * np.dtype(value.dtype).itemsize
               for value in self.shards[self.owned[0]].values())

  def batch_bytes(self) -> int:
    """Bytes of `local_batch(step)`."""
    return len(self.owned) * self.per_shard * self._sample_bytes()

  def resident_bytes(self) -> int:
    """Bytes of `stacked_shards()`."""
    return len(self.owned) * max(self.sizes[shard] for shard in self.owned) * self._sample_bytes()

  def stacked_shards(self) -> dict[str, np.ndarray]:
    """This process's shards whole, as (owned shards, longest shard, ...) arrays, shorter
    shards padded with zero rows that `positions` never names: the training data for steps
    that gather their batches in device memory."""
    longest = max(self.sizes[shard] for shard in self.owned)
    stacked = {}
    for key, value in self.shards[self.owned[0]].items():
      out = np.zeros((len(self.owned), longest) + value.shape[1:], value.dtype)
      for j, shard in enumerate(self.owned):
        rows = self.shards[shard][key]
        out[j, :len(rows)] = np.asarray(rows)
      stacked[key] = out
    return stacked

  def _forget_windows_before(self, step: int) -> None:
    """Drops the windows that batches from `step` on no longer read."""
    epoch, index = divmod(step, self.steps_per_epoch)
    first = index * self.per_shard // self.window_rows
    with self._windows_lock:
      for key in [key for key in self._windows if key[1:] < (epoch, first)]:
        del self._windows[key]

  def local_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's rows of global batch `step` (and, with prefetch, reads of the next)."""
    if self.shuffle == 'blocks':
      self._forget_windows_before(step)
    if self._readers is None:
      return self._read(step)
    for stale in [ahead for ahead in self._ahead if ahead < step]:
      self._ahead.pop(stale).cancel()
    for ahead in range(step, step + self.prefetch + 1):
      if ahead not in self._ahead:
        self._ahead[ahead] = self._readers.submit(self._read, ahead)
    return self._ahead.pop(step).result()

  def close(self) -> None:
    """Stops the reader threads (reads still queued are dropped)."""
    for executor in (self._readers, self._window_reader):
      if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
    self._ahead.clear()
    self._windows.clear()


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  if batch_size < 1 or batch_size > num_examples:
    raise ValueError(f'batch size {batch_size} must be between 1 and {num_examples}')
  return num_examples // batch_size


# What the views 'x1', 'x2', ... of each dataset of `load_dataset` are, for tables and figures.
VIEW_NAMES = {'mnist_halves': ('left', 'right'), 'digits_halves': ('left', 'right'),
              'noisy_mnist': ('rotated', 'noisy'), 'mfeat': MFEAT_VIEWS}


def load_dataset(name: str, path=None, seed: int = 0) -> dict[str, Split]:
  """Loads a built-in dataset by its config name, with the seed of its split."""
  loaders = {
      'mnist': lambda: mnist(path, seed=seed),
      'mnist_halves': lambda: mnist_halves(path, seed=seed),
      'noisy_mnist': lambda: noisy_mnist(path, seed=seed),
      'mfeat': lambda: mfeat(path=path, seed=seed),
      'digits_halves': lambda: digits_halves(seed=seed),
  }
  if name not in loaders:
    raise ValueError(f'unknown dataset {name!r}; known: {sorted(loaders)} and files')
  return loaders[name]()


def load(section, missing: str = 'refuse') -> dict[str, Split]:
  """The dataset of a config's data section: a built-in one by name, or 'files' (your own
  views: `crossjax.files.load_files` with section.views, labels, splits, fractions, seed,
  standardize, and drop_incomplete, which drops samples missing a view whatever `missing`
  says). standardize uses training statistics only; max_train_examples > 0 keeps the first
  rows of the training split."""
  if section.name == 'files':
    from crossjax import files  # pylint: disable=import-outside-toplevel
    if not section.get('views'):
      raise files.DataError('data.name=files needs data.views=A,B[,C...] (.npy, .npz:key '
                            'or .csv files)')
    splits = files.load_files(
        section.views, labels=section.get('labels') or None,
        splits=section.get('splits') or None, fractions=tuple(section.fractions),
        seed=section.seed, standardize=section.get('standardize', False),
        missing='drop' if section.get('drop_incomplete', False) else missing)
  else:
    splits = load_dataset(section.name, section.get('path') or None, section.seed)
    if section.get('standardize', False):
      splits = standardize(splits)
  if section.get('max_train_examples', 0):
    splits['train'] = {key: value[:section.max_train_examples]
                       for key, value in splits['train'].items()}
  return splits


def standardize(splits: dict[str, Split]) -> dict[str, Split]:
  """Scales every view to zero mean and unit variance with the training split's statistics
  (constant features are only centred)."""
  train = splits['train']
  stats = {key: (train[key].mean(axis=0), train[key].std(axis=0))
           for key in train if key != 'labels'}
  return {name: {key: ((value - stats[key][0]) / np.where(stats[key][1] > 0, stats[key][1], 1)
                       ).astype(np.float32) if key in stats else value
                 for key, value in split.items()}
          for name, split in splits.items()}


# ------------------------------------------------------------------------- simulated views


class SimulatedViews(NamedTuple):
  """Views drawn by `simulate`, with their ground truth (float64 whatever the views' dtype).

  views: m arrays (n_samples, d_i).
  weights: m arrays (d_i, k), the true canonical weights: W_i^T S_ii W_i = I_k, and column j
    of every view goes with correlations[j].
  correlations: (k,) the population canonical correlations of every pair of views.
  covariance: (sum d_i, sum d_i) the population joint covariance S, views in order.
  """
  views: list[np.ndarray]
  weights: list[np.ndarray]
  correlations: np.ndarray
  covariance: np.ndarray


def _ar1(d: int, a: float) -> np.ndarray:
  """The AR(1) Toeplitz correlation matrix a^|p - q| (identity for a = 0)."""
  lags = np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
  return np.where(lags == 0, 1.0, a ** lags)


def _sparse_weights(rng: np.random.Generator, sigma: np.ndarray, k: int,
                    active: int) -> np.ndarray:
  """k columns, each with `active` non-zeros on disjoint random supports, S-orthonormal.

  Column j is a Gaussian draw on its support, projected (within the support) onto the
  complement of the constraints w_l^T S w_j = 0, l < j, then scaled to w_j^T S w_j = 1. With
  S = I the constraints vanish (disjoint supports); otherwise they are j - 1 < active linear
  conditions on `active` entries, and the projection of a Gaussian keeps every entry non-zero
  with probability one.
  """
  d = sigma.shape[0]
  supports = np.sort(rng.permutation(d)[:k * active].reshape(k, active), axis=1)
  weights = np.zeros((d, k))
  for j, support in enumerate(supports):
    w = rng.standard_normal(active)
    constraints = (sigma @ weights[:, :j])[support]  # (active, j): rows of S W_<j on support
    w = w - constraints @ np.linalg.lstsq(constraints, w, rcond=None)[0]
    weights[support, j] = w / np.sqrt(w @ sigma[np.ix_(support, support)] @ w)
  return weights


def _dense_weights(rng: np.random.Generator, sigma: np.ndarray, k: int) -> np.ndarray:
  """Gaussian (d, k) orthonormalised in the S metric: W = L^{-T} Q, L L^T = S, Q R = L^T G."""
  factor = np.linalg.cholesky(sigma)
  q, _ = np.linalg.qr(factor.T @ rng.standard_normal((sigma.shape[0], k)))
  return np.linalg.solve(factor.T, q)


def _check_simulation(n_samples, view_features, correlations, active_features, a, dtype):
  """Validates the arguments of `simulate`; returns (features, rho, actives or None)."""
  if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) \
      or n_samples < 1:
    raise ValueError(f'n_samples must be an int >= 1, got {n_samples!r}')
  features = list(view_features)
  if len(features) < 2:
    raise ValueError(f'need at least 2 views, got {len(features)} feature counts')
  for i, d in enumerate(features, start=1):
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
      raise ValueError(f'view {i}: the feature count must be an int >= 1, got {d!r}')
  rho = np.asarray(correlations, dtype=np.float64)
  if rho.ndim != 1 or rho.size < 1:
    raise ValueError('correlations must be a non-empty 1-D sequence (one per component; '
                     f'zeros for independent views), got shape {rho.shape}')
  if not np.all((rho >= 0.0) & (rho < 1.0)):
    raise ValueError(f'every correlation must be in [0, 1), got {rho.tolist()}')
  k = rho.size
  if k > min(features):
    raise ValueError(f'{k} components need at least {k} features in every view, got '
                     f'{features}')
  if not 0.0 <= a < 1.0:  # also refuses NaN
    raise ValueError(f'within_view_correlation must be in [0, 1), got {a}')
  if not np.issubdtype(np.dtype(dtype), np.floating):
    raise ValueError(f'dtype must be a floating dtype, got {np.dtype(dtype)}')
  if active_features is None:
    return features, rho, None
  actives = ([active_features] * len(features) if np.ndim(active_features) == 0
             else list(active_features))
  if len(actives) != len(features):
    raise ValueError(f'got {len(actives)} active_features for {len(features)} views')
  for i, (s, d) in enumerate(zip(actives, features), start=1):
    if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
      raise ValueError(f'view {i}: active_features must be an int >= 1, got {s!r}')
    if k * s > d:
      raise ValueError(f'view {i}: {k} components with {s} active features each on disjoint '
                       f'supports need {k * s} features, the view has {d}')
    if a > 0 and s < k:
      raise ValueError(
          f'view {i}: with within_view_correlation > 0, {k} sparse components are made '
          f'exactly S-orthonormal by {k - 1} linear conditions on each support, which needs '
          f'active_features >= {k}, got {s}')
  return features, rho, actives


def simulate(n_samples: int, view_features: Sequence[int], correlations: Sequence[float], *,
             active_features: int | Sequence[int] | None = None,
             within_view_correlation: float = 0.0, seed: int = 0,
             dtype=np.float64) -> SimulatedViews:
  """m >= 2 Gaussian views with known population canonical correlations and weights.

  The joint covariance construction of Suo, Minden, Nelson, Tibshirani and Saunders (2017),
  "Sparse canonical correlation analysis" (arXiv:1705.10865), as in cca_zoo's
  `generate_covariance_data` / `LinearSimulatedData` before version 4 (its 4.x
  `make_joint_data` is a latent-plus-noise model whose canonical correlations are not given in
  closed form). Each view i has the within-view
  covariance S_ii = I, or the AR(1) Toeplitz matrix a^|p - q| with a = within_view_correlation,
  and weights W_i (d_i, k) with W_i^T S_ii W_i = I_k: dense (Gaussian, orthonormalised in the
  S_ii metric) or, with `active_features` = s (per view if a sequence), sparse: each column has
  exactly s non-zero entries, on supports disjoint across components, made S_ii-orthonormal
  within their supports (needs s >= k when a > 0). The cross blocks are

    S_ij = S_ii W_i diag(rho) W_j^T S_jj,  i != j,

  and the views are n_samples draws of N(0, S) (one Cholesky factor of S; numpy's
  `default_rng(seed)` draws the weights, supports and samples).

  Why the ground truth is exact. With A_i = S_ii^{1/2} W_i (orthonormal columns), the
  whitened cross block S_ii^{-1/2} S_ij S_jj^{-1/2} = A_i diag(rho) A_j^T is an SVD: every pair
  of views has canonical correlations rho and canonical weights W_i, W_j (unique up to sign
  where the rho are distinct and positive). The whitened joint covariance is I plus, for each
  component j, rho_j (1 1^T - I) on the m directions A_1 e_j, ..., A_m e_j: its eigenvalues are
  1 + (m - 1) rho_j, 1 - rho_j (m - 1 times) and 1, so S is positive definite for rho in
  [0, 1) and a in [0, 1).

  Independent views: correlations all zero (k of them, e.g. `[0.0]`) give S = blockdiag(S_ii),
  the null hypothesis of permutation tests; the weights are then only S_ii-orthonormal
  directions with no special role. Being Gaussian, the views carry no structure beyond their
  covariance: their third moments vanish, so tensor CCA (`crossjax.tensor`) sees only noise.

  Args:
    n_samples: rows to draw.
    view_features: d_i, one per view (at least 2 views).
    correlations: the k population canonical correlations, each in [0, 1), k <= min d_i;
      kept in the order given (give them in descending order to compare with fitted models).
    active_features: None for dense weights; else the number of non-zero entries of each
      weight column (an int for every view, or one per view); k * s <= d_i.
    within_view_correlation: a in [0, 1); 0 makes S_ii the identity.
    seed: seed of `np.random.default_rng`; the same seed gives the same arrays.
    dtype: floating dtype of the views (the ground truth stays float64).

  Returns:
    `SimulatedViews(views, weights, correlations, covariance)`.
  """
  a = float(within_view_correlation)
  features, rho, actives = _check_simulation(n_samples, view_features, correlations,
                                             active_features, a, dtype)
  rng = np.random.default_rng(seed)
  k = rho.size
  sigmas = [_ar1(d, a) for d in features]
  weights = [_dense_weights(rng, sigma, k) if actives is None
             else _sparse_weights(rng, sigma, k, actives[i])
             for i, sigma in enumerate(sigmas)]
  loadings = [sigma @ w for sigma, w in zip(sigmas, weights)]  # S_ii W_i
  covariance = np.block([[sigmas[i] if i == j else (loadings[i] * rho) @ loadings[j].T
                          for j in range(len(features))] for i in range(len(features))])
  factor = np.linalg.cholesky(covariance)
  samples = rng.standard_normal((n_samples, covariance.shape[0])) @ factor.T
  views = [np.ascontiguousarray(view, dtype=dtype)
           for view in np.split(samples, np.cumsum(features)[:-1], axis=1)]
  return SimulatedViews(views=views, weights=weights, correlations=rho, covariance=covariance)
