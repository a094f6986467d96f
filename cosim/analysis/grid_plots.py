"""A metric against a grid key, from a sweep's summary.csv or a study's points.csv
(`wfl-cosim plot SWEEP_DIR|STUDY_DIR --x KEY --y METRIC [--hue KEY]`): one line per hue value,
and where several runs share a point (seeds), their mean with a 95 % t interval as a band."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from cosim.analysis.figure import (
    STYLE,
    FigureOptions,
    PlotError,
    axis_positions,
    save,
    variant_colours,
)
from cosim.analysis.study_stats import t_interval
from cosim.outputs.summary import RUN_METRICS
from cosim.outputs.tables import number

TABLES = ("summary.csv", "points.csv")  # a sweep's, a study's
NOT_KEYS = {"point", "status", "seconds", "error", *RUN_METRICS}


Table = tuple[Path, list[dict[str, str]], list[str]]  # (file, rows, keys for x or hue)


def grid_file(folder: Path) -> Path | None:
    """The table of a sweep or study folder (summary.csv, points.csv); None for neither."""
    if (Path(folder) / "rounds.csv").is_file():
        return None  # a run folder
    return next((Path(folder) / n for n in TABLES if (Path(folder) / n).is_file()), None)


def grid_table(folder: Path) -> Table | None:
    """(table, rows, the keys a figure can use as x or hue) of a sweep or study folder;
    None when ``folder`` is neither."""
    path = grid_file(folder)
    if path is None:
        return None
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return path, rows, [c for c in reader.fieldnames or [] if c not in NOT_KEYS]


def plot_grid(
    folder: str | Path,
    x: str,
    y: str,
    hue: str | None = None,
    opts: FigureOptions | None = None,
) -> Path:
    """Write <y>_vs_<x>[_by_<hue>] into ``folder``; PlotError names what is not there."""
    found = grid_table(Path(folder))
    if found is None:
        raise PlotError(f"{folder}: not a sweep or study folder (no {' or '.join(TABLES)})")
    return _draw(Path(folder), found, x, y, hue, opts or FigureOptions())


def _draw(folder: Path, found: Table, x: str, y: str, hue: str | None, opts: FigureOptions) -> Path:
    table, rows, keys = found
    for flag, key, allowed in (("--x", x, keys), ("--hue", hue, keys), ("--y", y, RUN_METRICS)):
        if key is not None and key not in allowed:
            raise PlotError(f"{table}: {flag} {key!r}: not a column; one of {', '.join(allowed)}")
    done = [r for r in rows if r.get("status") != "failed" and not math.isnan(number(r[y]))]
    if not done:
        raise PlotError(f"{table}: no run has a value of {y} (learning-free runs have no accuracy)")
    pos, labels = axis_positions([r[x] for r in rows])
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=opts.size((6.0, 3.8)), constrained_layout=True)
        hues = list(dict.fromkeys(r[hue] for r in rows)) if hue else [None]
        colour = variant_colours(hues)
        for h in hues:
            mine = [r for r in done if hue is None or r[hue] == h]
            xs = sorted({pos[r[x]] for r in mine})
            stats = [
                t_interval(np.array([number(r[y]) for r in mine if pos[r[x]] == v])) for v in xs
            ]
            mean = [s[0] for s in stats]
            label = f"{hue} = {h}" if hue else None
            line = ax.plot(xs, mean, marker="o", label=label, color=colour[h])[0]
            lo, hi = [s[2] for s in stats], [s[3] for s in stats]
            if any(not math.isnan(v) for v in lo):  # seeds repeat: a 95 % band
                ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color(), lw=0)
        if labels:
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
        if hue:
            ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
        opts.titled(ax, f"{y}: mean over runs at a point, 95 % t band where seeds repeat")
        name = f"{y}_vs_{x}" + (f"_by_{hue}" if hue else "")
        return save(fig, folder, name.replace("/", "_"), opts)


DEFAULT_Y = ("final_accuracy", "miss_rate", "mbit_up", "sim_time_s")


def plot_sweep(
    folder: str | Path, opts: FigureOptions | None = None
) -> tuple[list[Path], list[str]]:
    """A sweep folder's figures without --x/--y: each of DEFAULT_Y against the first grid key,
    a line per value of the second; the paths, and the metrics no run has a value of."""
    found = grid_table(Path(folder))
    if found is None:
        raise PlotError(f"{folder}: not a sweep folder (no summary.csv)")
    _, rows, keys = found
    if not keys:
        raise PlotError(f"{folder}/summary.csv: no grid key column (written before they were)")
    paths, skipped = [], []
    for y in DEFAULT_Y:
        if all(math.isnan(number(r[y])) for r in rows):
            skipped.append(y)
            continue
        hue = keys[1] if len(keys) > 1 else None
        paths.append(_draw(Path(folder), found, keys[0], y, hue, opts or FigureOptions()))
    return paths, skipped
