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
  """Two rows of whole images: [left | predicted right] above [left | true right].

  Halves are flattened (n, height * width / 2) intensities in [0, 1].
  """
  from crossjax.data import join_halves  # pylint: disable=import-outside-toplevel
  image_rows({'truth': join_halves(left, right_true, height),
              'completed': join_halves(left, right_predicted, height)}, height, path, title,
             order=('completed', 'truth'))


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


def image_rows(rows: Mapping[str, np.ndarray], height: int, path: str | os.PathLike,
               title: str = '', order: Sequence[str] | None = None) -> None:
  """One labelled row per entry: its flattened (n, height * width) images side by side, all on
  the colour scale of the first entry (the truth); `order` the rows' order (default: as given)."""
  first = np.asarray(next(iter(rows.values())))
  n, width = len(first), first.shape[1] // height
  low, high = float(first.min()), float(first.max())
  figure, axes = plt.subplots(len(rows), 1, figsize=(max(4, n * 0.55), 0.75 * len(rows) + 0.6),
                              dpi=120, squeeze=False)
  for axis, label in zip(axes[:, 0], order or list(rows)):
    images = rows[label]
    strip = np.asarray(images).reshape(n, height, width).transpose(1, 0, 2).reshape(height, -1)
    axis.imshow(strip, cmap='gray', vmin=low, vmax=high)
    axis.set_ylabel(label, rotation=0, ha='right', va='center')
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(title, fontsize=9)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def learning_curves(metrics_jsonl: str | os.PathLike, names: Sequence[str],
                    path: str | os.PathLike, title: str = 'Learning curves') -> None:
  """One panel per metric name: its train and tune values against the step, read from a
  run's metrics.jsonl."""
  import json  # pylint: disable=import-outside-toplevel
  with open(metrics_jsonl) as file:
    rows = [json.loads(line) for line in file if line.strip()]
  figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), dpi=120,
                              squeeze=False)
  for axis, name in zip(axes[0], names):
    for split in ('train', 'tune'):
      points = [(row['step'], row[name]) for row in rows if row['split'] == split and name in row]
      if points:
        axis.plot(*zip(*points), marker='.' if split == 'tune' else None, label=split)
    axis.set_xlabel('step')
    axis.set_title(name)
    axis.grid(alpha=0.3)
    axis.legend()
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def embedding(features: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
              title: str = '', seed: int = 0) -> None:
  """A 2-D t-SNE map (scikit-learn) of features, one colour per class."""
  from sklearn.manifold import TSNE  # pylint: disable=import-outside-toplevel
  points = TSNE(2, init='pca', random_state=seed).fit_transform(np.asarray(features))
  figure, axes = plt.subplots(figsize=(5.5, 5), dpi=120)
  scatter = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap='tab10', s=3)
  axes.legend(*scatter.legend_elements(), title='class', fontsize=7, loc='best',
              markerscale=0.8)
  axes.set_xticks([])
  axes.set_yticks([])
  axes.set_title(title, fontsize=10)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)
