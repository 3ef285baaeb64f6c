"""PNG figures a researcher looks at; matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

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
