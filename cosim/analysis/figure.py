"""What the figures share: the headless backend, saving, the error for an unusable folder,
and dropping rounds that were not evaluated."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from cosim.outputs.channel_npz import ChannelFile, read_channel
from cosim.outputs.tables import ROUND_COLUMNS, number
from cosim.scenario.files import excerpt

ROUND_NUMBERS = tuple(c for c in ROUND_COLUMNS if c != "mode")


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


def read_table(path: Path, numeric: tuple[str, ...]) -> list[dict[str, str]]:
    """A run table's rows, checked: the ``numeric`` columns present in the header, no ragged
    row, each of their cells a number or empty; PlotError naming file, row and column."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in numeric if c not in (reader.fieldnames or [])]
            if missing:
                raise PlotError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PlotError(f"{path}: unreadable ({type(exc).__name__})") from None
    for i, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise PlotError(f"{path}: row {i} has a different number of cells than the header")
        for c in numeric:
            try:
                number(row[c])
            except ValueError:
                raise PlotError(
                    f"{path}: row {i}: column {c} = {excerpt(row[c])} is not a number"
                ) from None
    return rows


def read_events(path: Path) -> list[dict]:
    """events.jsonl, each line checked to be a JSON event (kind, t, round)."""
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlotError(f"{path}: unreadable ({type(exc).__name__})") from None
    for n, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise PlotError(f"{path}: line {n} is not JSON: {excerpt(line)}") from None
        if not isinstance(event, dict) or not {"kind", "t", "round"} <= set(event):
            raise PlotError(f"{path}: line {n} is not an event (kind, t, round)")
        events.append(event)
    return events


def read_npz(path: Path) -> ChannelFile:
    """channel.npz as read (no pickles); PlotError when it is damaged or of another format."""
    try:
        return read_channel(path)
    except ValueError as exc:
        if "format" in str(exc):
            raise PlotError(str(exc)) from None
        raise PlotError(f"{path}: unreadable or damaged ({type(exc).__name__})") from None
    except Exception as exc:  # a truncated or foreign file: whatever numpy raises
        raise PlotError(f"{path}: unreadable or damaged ({type(exc).__name__})") from None
