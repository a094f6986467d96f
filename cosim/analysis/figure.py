"""What the figures share: the headless backend, saving, the error for an unusable folder,
and dropping rounds that were not evaluated."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from cosim.outputs.channel_npz import ChannelFile, read_channel
from cosim.outputs.tables import ROUND_COLUMNS, number
from cosim.scenario.files import excerpt

ROUND_NUMBERS = tuple(c for c in ROUND_COLUMNS if c != "mode")


STYLE = Path(__file__).with_name("wfl.mplstyle")  # the one style sheet of every figure
FORMATS = ("png", "pdf", "svg")


# Colours that mean the same in every figure: a client keeps its colour (positions, snr), a
# phase and an outcome theirs (timeline, misses), a variant its own (study, sweep, compare).
_TAB20 = plt.get_cmap("tab20").colors
CLIENT_COLOURS = _TAB20[0::2] + _TAB20[1::2]  # 20 distinct: the 10 dark ones first
PHASE_COLOURS = {
    "download": "#F0E442",
    "train": "#0072B2",
    "upload": "#56B4E9",
    "no band": "#BBBBBB",
}
OUTCOME_COLOURS = {
    "on time": "#009E73",
    "upload": "#E69F00",  # upload cut by the deadline
    "train": "#CC79A7",  # training past the deadline
    "rejected": "#D55E00",  # non-finite or diverging update
    "stopped": "#666666",  # first-k had its updates: the round stopped this client
    "download": "#F0E442",  # the model did not arrive before the deadline
    "stale": "#000000",  # fedasync/fedbuff: staler than server.max_staleness, dropped
}
VARIANT_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")


def client_colour(k: int) -> tuple[float, float, float]:
    """Client ``k``'s colour, the same in every figure."""
    return CLIENT_COLOURS[k % len(CLIENT_COLOURS)]


def variant_colours(names: list[str]) -> dict[str, str]:
    """A colour per variant (or hue value, or run) in the order given: the same name keeps its
    colour across the figures of one folder, whichever subset a figure draws."""
    return {n: VARIANT_COLOURS[i % len(VARIANT_COLOURS)] for i, n in enumerate(names)}


class PlotError(ValueError):
    """The folder is not a complete run folder."""


ROUNDS_FORM = "A:B, the rounds A to B (1 <= A <= B), e.g. 1:10"


def parse_rounds(text: str | None) -> tuple[int, int] | None:
    """``--rounds A:B`` as (A, B); PlotError saying the form for anything else."""
    if text is None:
        return None
    first, sep, last = text.partition(":")
    try:
        if not sep:
            raise ValueError
        window = int(first), int(last)
    except ValueError:
        raise PlotError(f"--rounds {excerpt(text)}: {ROUNDS_FORM}") from None
    if not 1 <= window[0] <= window[1]:
        raise PlotError(f"--rounds {excerpt(text)}: {ROUNDS_FORM}")
    return window


@dataclass(frozen=True)
class FigureOptions:
    """How figures are written: ``fmt`` png | pdf | svg, ``width_in`` inches (None: each
    figure's screen width; 3.5 = one IEEE column, 7.16 = two), ``title`` drawn or not,
    ``rounds`` (first, last) the window the timeline and snr figures show (None: every round,
    or the first 20 of a longer run), ``prefix`` put before every title (the folder's name)."""

    fmt: str = "png"
    width_in: float | None = None
    title: bool = True
    rounds: tuple[int, int] | None = None
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise PlotError(f"--format {self.fmt!r}: one of {', '.join(FORMATS)}")
        if self.width_in is not None and not 1.0 <= self.width_in <= 40.0:
            raise PlotError(f"--width {self.width_in}: inches between 1 and 40")
        if self.rounds is not None and not 1 <= self.rounds[0] <= self.rounds[1]:
            raise PlotError(f"--rounds {self.rounds[0]}:{self.rounds[1]}: {ROUNDS_FORM}")

    def size(self, screen: tuple[float, float], min_height: float = 0.0) -> tuple[float, float]:
        """(width, height) in inches: the screen size, or the width asked for with the same
        aspect, never lower than ``min_height`` (rows of labels need their room)."""
        w, h = screen
        if self.width_in is None:
            return w, max(h, min_height)
        return self.width_in, max(h * self.width_in / w, min_height)

    def titled(self, target, text: str) -> None:
        """Give an axes (or, for a figure, a suptitle) its title unless titles are off."""
        if self.title:
            text = f"{self.prefix}: {text}" if self.prefix else text
            (target.set_title if hasattr(target, "set_title") else target.suptitle)(text)


def save(fig, folder: Path, name: str, opts: FigureOptions) -> Path:
    """Write ``fig`` as ``folder/name.<format>`` and free it."""
    path = folder / f"{name}.{opts.fmt}"
    fig.savefig(path, metadata=_metadata(opts.fmt))
    plt.close(fig)
    return path


def _metadata(fmt: str) -> dict | None:
    """No creation date in PDF/SVG files, so the same run gives the same bytes."""
    if fmt == "pdf":
        return {"CreationDate": None}
    if fmt == "svg":
        return {"Date": None}
    return None


def axis_positions(values: list[str]) -> tuple[dict[str, float], list[str] | None]:
    """x positions of the distinct ``values`` of a grid key: the numbers themselves, or
    0, 1, ... in order of appearance with the values as tick labels when not all are numbers."""
    distinct = list(dict.fromkeys(values))
    try:
        return {v: float(v) for v in distinct}, None
    except ValueError:
        return {v: float(i) for i, v in enumerate(distinct)}, distinct


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
