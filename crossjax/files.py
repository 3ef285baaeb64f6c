"""The 'files' dataset: your own paired views, read from files into crossjax's splits.

A view is a 2-D table, one row per sample, named by a spec:

- 'path.npy': memory-mapped, never read whole, so a view may be larger than memory;
- 'path.npz:key': one array of an npz (npz cannot be memory-mapped, so it is loaded);
- 'path.csv': numbers separated by commas; the first row is a header when none of its cells
  is a number.

`load_files` reads the views (and optional labels and splits), checks them and returns the
split dict of `crossjax.data`: {'train': split, 'tune': split, 'test': split}, a split holding
'x1', 'x2', ... in view order and 'labels' where labels are given. Views come back as `Rows`:
lazy rows, read as float32 only when a batch is taken. `from_arrays` does the same for arrays
already in memory (the scikit-learn estimators use it).

Everything is checked before anything is returned, in one sequential pass over the views
with bounded memory. Bad input raises `DataError`, with a one-line message naming the file
(or 'view i') and what is wrong. A sample whose row in a view is entirely NaN is missing in
that view (the multimodal autoencoder can train on such samples); NaN anywhere else, and Inf
anywhere, is an error.
"""

from __future__ import annotations

import csv
import itertools
import mmap
import os
import pathlib
import zipfile
from typing import Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from crossjax import data

SPLITS = ('train', 'tune', 'test')
MISSING = ('refuse', 'drop', 'allow')
ALL_ROWS = 'all rows'  # `from_arrays(splits=ALL_ROWS)`: one training split of every row

# Bytes of the views read per step of the checking pass: bounds its memory on any view size.
_CHUNK_BYTES = 1 << 24
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


class DataError(ValueError):
  """Bad input data: the message is one line naming the file (or 'view i') and what is wrong."""


def _one_line(error: Exception) -> str:
  return ' '.join(str(error).split())


def _release(array) -> None:
  """Unmaps a read-only memmap's pages from this process.

  The kernel's page cache keeps them (reading them again costs no disk access), but the
  process's resident memory no longer grows with the part of the file it has read: without
  this, one epoch over a 25 GB view would leave 25 GB resident in the process.
  """
  mapping = getattr(array, '_mmap', None)
  # Read-only maps only: on a copy-on-write map ('c') this would discard the process's writes.
  if (mapping is not None and getattr(array, 'mode', None) == 'r'
      and hasattr(mapping, 'madvise') and hasattr(mmap, 'MADV_DONTNEED')):
    mapping.madvise(mmap.MADV_DONTNEED)


# File-backed memory the process may hold mapped before a memmap's pages are released
# (`_release_when_resident`): releasing after every batch made each batch fault its pages in
# again (~30 % slower steps); 256 MiB rather than 512 cut Deep CCA's peak RSS on 1M rows of
# memory-mapped views from 1.68 to 1.45 GiB (anon + file pages).
_RELEASE_BYTES = 1 << 28
# Rows in a run of consecutive rows from which a read asks for the run in one request.
_RUN_ROWS = 16
_PAGE_BYTES = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def _file_resident_bytes() -> int | None:
  """File-backed (and shared) resident memory of this process from /proc/self/statm (a ~10 us
  read), or None where there is no /proc."""
  try:
    with open('/proc/self/statm', 'rb') as statm:
      return int(statm.read().split()[2]) * _PAGE_BYTES
  except OSError:
    return None


def _release_when_resident(array) -> None:
  """Releases a memmap's pages once the process holds _RELEASE_BYTES of file pages mapped. A
  random row can map far more than its bytes (fault-around, large page-cache folios), so the
  resident size itself is read, not estimated; without /proc, pages go after every read."""
  resident = _file_resident_bytes()
  if resident is None or resident >= _RELEASE_BYTES:
    _release(array)


def _random_access(array) -> None:
  """Tells the kernel that a memmap will be read at random rows (training batches): no
  read-around of several MiB per page fault, which would read far more than the batch and push
  other rows out of the page cache when the file is larger than memory."""
  mapping = getattr(array, '_mmap', None)
  if mapping is not None and hasattr(mapping, 'madvise') and hasattr(mmap, 'MADV_RANDOM'):
    mapping.madvise(mmap.MADV_RANDOM)


def _read_ahead(array, first_row: int, num_rows: int) -> None:
  """Asks the kernel to read rows first_row .. + num_rows of a memmap now, in large requests
  (MADV_WILLNEED): training reads are marked random (`_random_access`), so the sequential
  chunks of an evaluation would otherwise fault in page by page."""
  mapping = getattr(array, '_mmap', None)
  if mapping is None or not hasattr(mmap, 'MADV_WILLNEED') or not array.flags.c_contiguous:
    return
  base = np.frombuffer(mapping, np.uint8, count=1).ctypes.data
  start = array.ctypes.data - base + first_row * array.strides[0]
  aligned = start - start % mmap.PAGESIZE
  length = min(start + num_rows * array.strides[0], len(mapping)) - aligned
  mapping.madvise(mmap.MADV_WILLNEED, aligned, length)


class Rows:
  """Lazy rows of a 2-D source array (np.ndarray or read-only np.memmap), read as float32.

  A slice (`rows[a:b:c]`) composes the row index and reads nothing, so splits and shards of a
  view larger than memory cost nothing. An integer array (a batch) or an integer reads those
  rows now, standardised as (x - mean) / scale where these are given. A read gathers the rows
  in file order, puts them back in the requested order, and then releases a memmap's pages:
  random batches keep the process's resident memory bounded. `np.asarray(rows)` reads all.

  Attributes:
    source: the 2-D array the rows come from.
    index: the rows of `source`, a range or a 1-D int64 array.
    mean, scale: (features,) float64 standardisation, or None for none.
  """

  dtype = np.dtype(np.float32)
  ndim = 2

  def __init__(self, source: np.ndarray, index: range | np.ndarray | None = None,
               mean: np.ndarray | None = None, scale: np.ndarray | None = None):
    self.source = source
    self.index = range(len(source)) if index is None else index
    self.mean, self.scale = mean, scale

  @property
  def shape(self) -> tuple[int, int]:
    return len(self.index), self.source.shape[1]

  def __len__(self) -> int:
    return len(self.index)

  def __repr__(self) -> str:
    return (f'Rows(shape={self.shape}, source={type(self.source).__name__}, '
            f'standardized={self.mean is not None})')

  def __getitem__(self, key) -> Rows | np.ndarray:
    if isinstance(key, slice):
      return Rows(self.source, self.index[key], self.mean, self.scale)
    if isinstance(key, (int, np.integer)):
      return self[np.array([key])][0]
    positions = np.asarray(key)
    if positions.dtype == bool and positions.shape == (len(self),):
      positions = np.flatnonzero(positions)
    if positions.ndim != 1 or positions.dtype.kind not in 'iu':
      raise IndexError('Rows take a slice, an integer, or a 1-D integer array or boolean mask; '
                       'index columns after reading, e.g. np.asarray(rows)[:, :3]')
    return self._read(self._source_rows(positions.astype(np.int64)))

  def __array__(self, dtype=None, copy=None) -> np.ndarray:
    if copy is False:
      raise ValueError('Rows are read from their source: making an array always copies')
    index = self.index
    if isinstance(index, range):
      index = np.arange(index.start, index.stop, index.step)
    values = self._read(np.asarray(index, np.int64))
    return values if dtype is None else values.astype(dtype, copy=False)

  def _source_rows(self, positions: np.ndarray) -> np.ndarray:
    n = len(self)
    if positions.size and (positions.min() < -n or positions.max() >= n):
      raise IndexError(f'row index out of range for {n} rows')
    positions = np.where(positions < 0, positions + n, positions)
    if isinstance(self.index, range):
      return self.index.start + self.index.step * positions
    return self.index[positions]

  def _read(self, rows: np.ndarray) -> np.ndarray:
    # In file order: a memmap is then read forwards, each page once.
    order = np.argsort(rows, kind='stable')
    ordered = rows[order]
    # Runs of consecutive rows (chunks, blocks of data.shuffle='blocks') are asked for in
    # large requests; single rows are faulted in as they are met.
    starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
    lengths = np.diff(starts, append=len(ordered))
    for start, length in zip(starts[lengths >= _RUN_ROWS], lengths[lengths >= _RUN_ROWS]):
      _read_ahead(self.source, int(ordered[start]), int(length))
    block = np.take(self.source, ordered, axis=0)  # releases the GIL (prefetch threads)
    _release_when_resident(self.source)
    if self.mean is not None:
      block = (block - self.mean) / self.scale  # float64; a NaN row stays NaN
    values = np.empty(block.shape, np.float32)
    values[order] = block
    return values


# -------------------------------------------------------------------------------- reading


def _is_spec(value) -> bool:
  return isinstance(value, (str, os.PathLike))


def _is_number(cell: str) -> bool:
  try:
    float(cell)
  except ValueError:
    return False
  return True


def _csv_error(path: str, name: str, header: bool, error: ValueError) -> DataError:
  """Finds the cell np.loadtxt could not read, to say where it is in the file."""
  with open(path, newline='', encoding='utf-8-sig') as file:
    reader = csv.reader(file)
    rows = ((reader.line_num, row) for row in reader if row)
    if header:
      next(rows)
    width = None
    for line, row in rows:
      width = width or len(row)
      if len(row) != width:
        return DataError(f'{name}: row {line} has {len(row)} cells, the rows above have {width}')
      for column, cell in enumerate(row, start=1):
        if not _is_number(cell):
          return DataError(f'{name}: row {line}, column {column} (1-based, as in the file) is '
                           f'{cell!r}, not a number')
  return DataError(f'{name}: {_one_line(error)}')


def _read_csv(path: str, name: str) -> np.ndarray:
  with open(path, newline='', encoding='utf-8-sig') as file:
    rows = (row for row in csv.reader(file) if row)
    first = next(rows, None)
    header = first is not None and not any(map(_is_number, first))
    if first is None or (header and next(rows, None) is None):
      raise DataError(f'{name}: the file has no data rows')
  try:
    return np.loadtxt(path, delimiter=',', skiprows=int(header), ndmin=2, comments=None,
                      quotechar='"', encoding='utf-8-sig')
  except ValueError as error:
    raise _csv_error(path, name, header, error) from None


def _read_array(spec: str | os.PathLike) -> np.ndarray:
  """The array a spec names, of any shape: .npy memory-mapped, .npz:key loaded, .csv parsed."""
  name = os.fspath(spec)
  path, colon, key = name.rpartition(':')
  if not (colon and path.lower().endswith('.npz')):
    path, key = name, None
  if not os.path.isfile(path):
    raise DataError(f'{path}: no such file')
  suffix = pathlib.Path(path).suffix.lower()
  if suffix == '.csv':
    return _read_csv(path, name)
  if suffix not in ('.npy', '.npz'):
    raise DataError(f'{name}: unknown format {suffix!r}; use .npy, .npz:KEY or .csv')
  try:
    if suffix == '.npy':
      return np.load(path, mmap_mode='r', allow_pickle=False)
    with np.load(path, allow_pickle=False) as archive:
      keys = archive.files
      array = archive[key] if key in keys else None
  except _READ_ERRORS as error:
    raise DataError(f'{name}: cannot read it ({_one_line(error)})') from error
  if array is None:
    problem = 'name one of its arrays as FILE.npz:KEY' if key is None else f'no array {key!r}'
    raise DataError(f'{name}: {problem}; the file holds {", ".join(keys) or "nothing"}')
  return array


def _check_view(array: np.ndarray, name: str) -> np.ndarray:
  if array.dtype.kind not in 'biuf':
    raise DataError(f'{name}: values of type {array.dtype} are not real numbers')
  if array.ndim != 2:
    hint = '; give one feature as shape (n, 1)' if array.ndim == 1 else ''
    raise DataError(f'{name}: a view must be 2-D (rows x features), this one has shape '
                    f'{array.shape}{hint}')
  if not array.size:
    raise DataError(f'{name}: the view is empty, shape {array.shape}')
  return array


def read_view(spec: str | os.PathLike) -> np.ndarray:
  """A 2-D numeric view: 'path.npy' (memory-mapped), 'path.npz:key' or 'path.csv'."""
  return _check_view(_read_array(spec), os.fspath(spec))


def _check_labels(labels: np.ndarray, num_rows: int, name: str) -> np.ndarray:
  if labels.ndim == 2 and labels.shape[1] == 1:
    labels = labels[:, 0]
  if labels.ndim != 1:
    raise DataError(f'{name}: labels must be one column, got shape {labels.shape}')
  if len(labels) != num_rows:
    raise DataError(f'{name}: {len(labels)} labels for {num_rows} rows')
  if labels.dtype.kind == 'f':
    fractional = ~np.isfinite(labels) | (labels != np.round(labels))
    if fractional.any():
      row = int(np.argmax(fractional))
      raise DataError(f'{name}: label {labels[row]} at row {row} (0-based) is not an integer '
                      'class')
  elif labels.dtype.kind not in 'biu':
    raise DataError(f'{name}: labels must be integer classes, got values of type '
                    f'{labels.dtype}')
  return labels.astype(np.int64)


def read_labels(spec: str | os.PathLike, num_rows: int) -> np.ndarray:
  """(num_rows,) int64 class labels from a spec (as `read_view`): one integer column."""
  return _check_labels(np.asarray(_read_array(spec)), num_rows, os.fspath(spec))


def _check_splits(splits: Mapping[str, ArrayLike], num_rows: int,
                  name: str) -> dict[str, np.ndarray]:
  absent = [key for key in SPLITS if key not in splits]
  if absent:
    raise DataError(f'{name}: no split {absent[0]!r} (needs train, tune, test); it holds '
                    f'{", ".join(sorted(splits)) or "nothing"}')
  checked = {}
  for key in SPLITS:
    index = np.asarray(splits[key])
    if not index.size:
      raise DataError(f'{name}: split {key!r} is empty')
    if index.ndim != 1 or index.dtype.kind not in 'iu':
      raise DataError(f'{name}: split {key!r} must be a 1-D array of integer row indices, got '
                      f'{index.dtype} of shape {index.shape}')
    outside = (index < 0) | (index >= num_rows)
    if outside.any():
      raise DataError(f'{name}: split {key!r} has index {index[outside][0]}, outside '
                      f'[0, {num_rows})')
    ordered = np.sort(index)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
      raise DataError(f'{name}: split {key!r} repeats index {repeated[0]}')
    checked[key] = index.astype(np.int64)
  for first, second in itertools.combinations(SPLITS, 2):
    shared = np.intersect1d(checked[first], checked[second])
    if shared.size:
      raise DataError(f'{name}: splits {first!r} and {second!r} share {shared.size} indices, '
                      f'e.g. {shared[0]}')
  return checked


def read_splits(path: str | os.PathLike, num_rows: int) -> dict[str, np.ndarray]:
  """Checked row indices {'train', 'tune', 'test'} (int64) from an npz of index arrays."""
  name = os.fspath(path)
  if not os.path.isfile(name):
    raise DataError(f'{name}: no such file')
  if not zipfile.is_zipfile(name):
    raise DataError(f'{name}: splits must be an .npz file of index arrays train, tune, test')
  try:
    with np.load(name, allow_pickle=False) as archive:
      arrays = {key: archive[key] for key in archive.files}
  except _READ_ERRORS as error:
    raise DataError(f'{name}: cannot read it ({_one_line(error)})') from error
  return _check_splits(arrays, num_rows, name)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
  try:
    values = tuple(float(fraction) for fraction in fractions)
  except (TypeError, ValueError):
    values = ()
  if len(values) != 3 or min(values) <= 0 or abs(sum(values) - 1) > 1e-9:
    raise DataError(f'fractions must be three positive numbers (train, tune, test) summing '
                    f'to 1, got {fractions}')
  return values


def draw_splits(num_rows: int, fractions: Sequence[float], seed: int,
                labels: ArrayLike | None = None) -> dict[str, np.ndarray]:
  """Seeded sorted row indices {'train', 'tune', 'test'} in the given fractions.

  With labels the split is stratified by class, and is exactly the split of the built-in
  datasets (`data.stratified_split_indices`): the mfeat views loaded from files split as
  `data.mfeat()` does. Without, a seeded permutation is cut at the fractions.
  """
  fractions = _check_fractions(fractions)
  if labels is None:
    order = np.random.default_rng(seed).permutation(num_rows)
    cuts = np.round(np.cumsum(fractions[:2]) * num_rows).astype(int)
    splits = {key: np.sort(part) for key, part in zip(SPLITS, np.split(order, cuts))}
  else:
    labels = np.asarray(labels)
    if len(labels) != num_rows:
      raise DataError(f'labels: {len(labels)} labels for {num_rows} rows')
    try:
      splits = data.stratified_split_indices(labels, seed, fractions)
    except ValueError as error:
      raise DataError(f'labels: cannot split {num_rows} samples stratified by class in '
                      f'fractions {fractions}: {_one_line(error)}') from error
  for key, part in splits.items():
    if not part.size:
      raise DataError(f'fractions {fractions} leave the {key} split of {num_rows} samples '
                      'empty')
  return {key: part.astype(np.int64) for key, part in splits.items()}


# ------------------------------------------------------------------------------- checking


def _chunks(arrays: Sequence) -> Iterator[tuple[int, int, list]]:
  """(start, stop, blocks): the same rows of every array, _CHUNK_BYTES at a time; a memmap's
  pages are released after each chunk."""
  row_bytes = sum(array.shape[1] * array.dtype.itemsize for array in arrays)
  step = max(1, _CHUNK_BYTES // row_bytes)
  for start in range(0, len(arrays[0]), step):
    stop = min(start + step, len(arrays[0]))
    try:
      yield start, stop, [array[start:stop] for array in arrays]
    finally:
      for array in arrays:
        _release(array)


def _all_nan(block: np.ndarray) -> np.ndarray:
  if block.dtype.kind != 'f':
    return np.zeros(len(block), bool)
  # Only rows whose first value is NaN can be entirely NaN: test those rows alone.
  missing = np.isnan(block[:, 0])
  if missing.any():
    missing[missing] = np.isnan(block[missing]).all(axis=1)
  return missing


def missing_rows(view: np.ndarray | Rows) -> np.ndarray:
  """(n,) bool: the rows of a 2-D view that are entirely NaN (samples missing in that view).

  Read in chunks, releasing a memmap's pages, so a view larger than memory is fine.
  """
  mask = np.zeros(len(view), bool)
  for start, stop, (block,) in _chunks([view]):
    mask[start:stop] = _all_nan(np.asarray(block))
  return mask


def _missing_checked(block: np.ndarray, start: int, name: str) -> np.ndarray:
  """The rows of `block` that are entirely NaN; DataError for NaN or Inf anywhere else."""
  missing = _all_nan(block)
  if block.dtype.kind == 'f':
    bad = ~np.isfinite(block)
    bad[missing] = False
    if bad.any():
      row, column = divmod(int(np.argmax(bad)), block.shape[1])
      value = block[row, column]
      rule = ('; NaN may only fill a whole row, marking a sample missing in this view'
              if np.isnan(value) else '')
      raise DataError(f'{name}: {value} at row {start + row}, column {column} (0-based, '
                      f'counted in the whole view, not in a split){rule}')
  return missing


class _Stats:
  """Per-column statistics of a view's training rows, accumulated chunk by chunk in float64.

  min and max say exactly which columns are constant. For standardisation, count, mean and sum
  of squared deviations are merged as Chan, Golub and LeVeque (1979) do, which stays accurate
  where a sum of squares would cancel (large means, small spread).
  """

  def __init__(self, num_features: int, moments: bool):
    self.moments, self.count = moments, 0
    self.min, self.max = np.full(num_features, np.inf), np.full(num_features, -np.inf)
    self.mean, self.m2 = np.zeros(num_features), np.zeros(num_features)

  def add(self, rows: np.ndarray) -> None:
    if not len(rows):
      return
    self.min = np.minimum(self.min, rows.min(axis=0))
    self.max = np.maximum(self.max, rows.max(axis=0))
    total = self.count + len(rows)
    if self.moments:
      rows = rows.astype(np.float64)
      mean = rows.mean(axis=0)
      delta = mean - self.mean
      self.m2 += np.square(rows - mean).sum(axis=0) + delta**2 * (self.count * len(rows) / total)
      self.mean += delta * (len(rows) / total)
    self.count = total

  def check(self, name: str) -> None:
    if not self.count:
      raise DataError(f'{name}: no training row is present (all are missing)')
    if np.all(self.max == self.min):
      raise DataError(f'{name}: every column is constant over the {self.count} training rows: '
                      'the view carries no information')

  def standardization(self) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) as `data.standardize`: constant columns are only centred."""
    varies = self.max > self.min
    std = np.sqrt(self.m2 / self.count)
    return np.where(varies, self.mean, self.min), np.where(varies & (std > 0), std, 1.0)


def _scan(arrays: Sequence[np.ndarray], names: Sequence[str], train: np.ndarray, missing: str,
          standardize: bool) -> tuple[list[np.ndarray], list[_Stats]]:
  """One sequential pass over all views together: their missing rows, finiteness, and the
  statistics of the training rows that will be used ('drop': the complete ones)."""
  in_train = np.zeros(len(arrays[0]), bool)
  in_train[train] = True
  masks = [np.zeros(len(arrays[0]), bool) for _ in arrays]
  stats = [_Stats(array.shape[1], standardize) for array in arrays]
  for start, stop, blocks in _chunks(arrays):
    for block, mask, name in zip(blocks, masks, names):
      mask[start:stop] = _missing_checked(block, start, name)
    complete = ~np.logical_or.reduce([mask[start:stop] for mask in masks])
    for block, mask, stat in zip(blocks, masks, stats):
      present = complete if missing == 'drop' else ~mask[start:stop]
      stat.add(block[in_train[start:stop] & present])
  return masks, stats


# -------------------------------------------------------------------------------- loading


def from_arrays(views: Sequence[ArrayLike],
                labels: ArrayLike | str | os.PathLike | None = None,
                splits: Mapping[str, ArrayLike] | str | os.PathLike | None = None,
                fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                standardize: bool = False, missing: str = 'refuse',
                names: Sequence[str] | None = None) -> dict[str, dict[str, Rows | np.ndarray]]:
  """The split dict of in-memory (or memory-mapped) 2-D views, checked as `load_files` does.

  Args:
    views: 2-D arrays with the same rows, one per view.
    labels: (n,) integer classes, or a file spec for them.
    splits: {'train', 'tune', 'test'} row indices, or an npz file of them; None draws a seeded
      split in `fractions`, stratified by class where labels are given; ALL_ROWS gives one
      split, 'train', of every row (the scikit-learn estimators train on all they are given).
    fractions: train, tune and test fractions of a drawn split.
    seed: seed of a drawn split.
    standardize: scale every view with the mean and std of its training rows (missing rows
      ignored; constant columns only centred).
    missing: what to do with samples missing in some view (a row entirely NaN): 'refuse'
      them, 'drop' them from every split, or 'allow' them (their rows stay NaN).
    names: how messages name the views; 'view 1', 'view 2', ... by default.

  Returns:
    {'train', 'tune', 'test'} (only 'train' for ALL_ROWS): each {'x1': Rows, 'x2': Rows, ...,
    'labels': int64 (n,)}.
  """
  if missing not in MISSING:
    raise ValueError(f'missing must be one of {MISSING}, got {missing!r}')
  if not len(views):
    raise DataError('no views given')
  names = [f'view {i}' for i in range(1, len(views) + 1)] if names is None else list(names)
  if len(names) != len(views):
    raise ValueError(f'{len(names)} names for {len(views)} views')
  # Not np.asarray for arrays: it would turn a memmap into a plain view, losing its release.
  arrays = [_check_view(view if isinstance(view, np.ndarray) else np.asarray(view), name)
            for view, name in zip(views, names)]
  if len({len(array) for array in arrays}) > 1:
    raise DataError('views have different numbers of rows: ' +
                    ', '.join(f'{name} {len(array)}' for name, array in zip(names, arrays)))
  num_rows = len(arrays[0])
  if labels is not None:
    labels = (read_labels(labels, num_rows) if _is_spec(labels)
              else _check_labels(np.asarray(labels), num_rows, 'labels'))
  if isinstance(splits, str) and splits == ALL_ROWS:
    if num_rows < 2:
      raise DataError(f'{num_rows} rows: fitting needs at least 2')
    splits = {'train': np.arange(num_rows)}
  elif splits is None:
    splits = draw_splits(num_rows, fractions, seed, labels)
  elif _is_spec(splits):
    splits = read_splits(splits, num_rows)
  else:
    splits = _check_splits(splits, num_rows, 'splits')
  masks, stats = _scan(arrays, names, splits['train'], missing, standardize)
  incomplete = np.logical_or.reduce(masks)
  empty = np.logical_and.reduce(masks)
  if missing == 'allow' and empty.any():
    raise DataError(f'{empty.sum()} samples have no view at all (rows entirely NaN in every '
                    f'view; the first is row {np.flatnonzero(empty)[0]}): remove them')
  if missing != 'allow' and incomplete.any():
    counts = ', '.join(f'{name} {mask.sum()}' for name, mask in zip(names, masks) if mask.any())
    if missing == 'refuse':
      raise DataError(f'{incomplete.sum()} of {num_rows} samples are incomplete (rows entirely '
                      f'NaN: {counts}); set data.drop_incomplete=True to drop them')
    splits = {key: part[~incomplete[part]] for key, part in splits.items()}
    for key, part in splits.items():
      if not part.size:
        raise DataError(f'dropping the {incomplete.sum()} incomplete samples (rows entirely '
                        f'NaN: {counts}) leaves the {key} split empty')
  for stat, name in zip(stats, names):
    stat.check(name)
  scalings = [stat.standardization() if standardize else (None, None) for stat in stats]
  for array in arrays:
    _random_access(array)  # the checking pass is over: from here on, batches of random rows
  result = {}
  for key, part in splits.items():
    result[key] = {f'x{i}': Rows(array, part, *scaling)
                   for i, (array, scaling) in enumerate(zip(arrays, scalings), start=1)}
    if labels is not None:
      result[key]['labels'] = labels[part]
  return result


def load_files(views: Sequence[str | os.PathLike] | str,
               labels: str | os.PathLike | None = None,
               splits: str | os.PathLike | None = None,
               fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
               standardize: bool = False,
               missing: str = 'refuse') -> dict[str, dict[str, Rows | np.ndarray]]:
  """The split dict of views in files: `read_view` of each spec, then `from_arrays`.

  `views` is a sequence of specs or one comma-separated string of them; `labels` is a spec
  (one integer column) and `splits` an npz of 'train', 'tune', 'test' row indices. The other
  arguments are those of `from_arrays`. Messages name each view by its spec.
  """
  specs = ([spec.strip() for spec in views.split(',') if spec.strip()] if isinstance(views, str)
           else [os.fspath(spec) for spec in views])
  return from_arrays([read_view(spec) for spec in specs], labels, splits, fractions, seed,
                     standardize, missing, names=specs)
