"""PNG figures a researcher looks at; matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position


def correlation_spectrum(curves: Mapping[str, Sequence[float]], path: str | os.PathLike,
                         title: str = 'Canonical correlation spectrum') -> None:
  """One line per named curve: correlation of component i against i (1-based)."""
  figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
  for label, values in curves.items():
    axes.plot(range(1, len(values) + 1), values, marker='.', label=f'{label} '
              f'(total {sum(values):.2f})')
  axes.set_xlabel('component')
  axes.set_ylabel('correlation')
  axes.set_ylim(0, 1.02)
  axes.set_title(title)
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def completed_halves(left, right_true, right_predicted, path: str | os.PathLike,
                     height: int = 28, title: str = 'Right halves completed from left halves'
                     ) -> None:
  """A grid: each row shows examples as [left | predicted right] above [left | true right].

  Halves are flattened (n, height * width / 2) intensities in [0, 1].
  """
  n = len(left)
  width = left.shape[1] // height
  def join(a, b):
    return np.concatenate([a.reshape(n, height, width), b.reshape(n, height, width)], axis=2)
  rows = [np.concatenate(list(join(left, right_predicted)), axis=1),
          np.concatenate(list(join(left, right_true)), axis=1)]
  figure, axes = plt.subplots(2, 1, figsize=(max(4, n * 0.6), 2.6), dpi=120)
  for axis, image, label in zip(axes, rows, ('completed', 'truth')):
    axis.imshow(image, cmap='gray', vmin=0, vmax=1)
    axis.set_ylabel(label)
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def digit_grid(images, path: str | os.PathLike, title: str = '', height: int = 28) -> None:
  """A grid of flattened images (rows, columns, height * width) in [0, 1], one row label each
  (the row index: the requested class)."""
  images = np.asarray(images)
  rows, columns = images.shape[:2]
  width = images.shape[2] // height
  tiles = images.reshape(rows, columns, height, width).transpose(0, 2, 1, 3)
  figure, axes = plt.subplots(figsize=(columns * 0.5 + 0.6, rows * 0.5 + 0.5), dpi=120)
  axes.imshow(tiles.reshape(rows * height, columns * width), cmap='gray', vmin=0, vmax=1)
  axes.set_yticks([height * (row + 0.5) for row in range(rows)], [str(r) for r in range(rows)])
  axes.set_xticks([])
  axes.set_title(title)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)
