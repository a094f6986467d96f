"""What the figures share: the headless backend, saving, the error for an unusable folder,
and dropping rounds that were not evaluated."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


class PlotError(ValueError):
    """The folder is not a complete run folder."""


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (120 dpi) and free it."""
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def evaluated(y: list[float], *xs: list[float]) -> tuple[list[float], ...]:
    """``y`` and the ``xs`` beside it without the points where ``y`` is NaN (rounds that were
    not evaluated)."""
    shown = [i for i, v in enumerate(y) if not math.isnan(v)]
    return tuple([seq[i] for i in shown] for seq in (y, *xs))
