"""The figures of a study folder (`wfl-cosim plot STUDY_DIR`): each metric against each axis
with one line and a 95 % band per variant, and the paired differences from the reference."""

from __future__ import annotations

import csv
import math
import tomllib
from pathlib import Path

import matplotlib.pyplot as plt

from cosim.analysis.figure import (
    STYLE,
    FigureOptions,
    PlotError,
    axis_positions,
    save,
    variant_colours,
)
from cosim.outputs.tables import number

NEEDED = ("study.csv", "study.toml")


def is_study(folder: Path) -> bool:
    """Whether ``folder`` is a study folder (study.csv beside the resolved study.toml)."""
    return all((Path(folder) / n).is_file() for n in NEEDED)


def plot_study(
    folder: str | Path, opts: FigureOptions | None = None
) -> tuple[list[Path], list[str]]:
    """Write study_<metric> (means with 95 % bands) and study_<metric>_diff (paired
    differences from the reference) for every metric of study.csv that has values; their
    paths, and the metrics left out because no run has a value (accuracy, learning-free)."""
    opts, folder = opts or FigureOptions(), Path(folder)
    if not is_study(folder):
        raise PlotError(f"{folder}: not a study folder (needs {' and '.join(NEEDED)})")
    with (folder / "study.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = reader.fieldnames or []
    if not rows:
        raise PlotError(f"{folder}/study.csv: no rows")
    axes = columns[1 : columns.index("metric")]
    reference = tomllib.loads((folder / "study.toml").read_text(encoding="utf-8"))["study"][
        "reference"
    ]
    paths, skipped = [], []
    with plt.style.context(STYLE):
        for metric in dict.fromkeys(r["metric"] for r in rows):
            mine = [r for r in rows if r["metric"] == metric]
            if all(math.isnan(number(r["mean"])) for r in mine):
                skipped.append(metric)
                continue
            for diff in (False, True):
                name = f"study_{metric}" + ("_diff" if diff else "")
                paths.append(_figure(folder, name, mine, axes, reference, metric, diff, opts))
    return paths, skipped


def _figure(folder, name, rows, axes, reference, metric, diff, opts) -> Path:
    """One figure: a panel per value of the axes after the first (the first is x), one line
    and band per variant; without axes, one point and interval per variant."""
    x_key, others = (axes[0], axes[1:]) if axes else (None, [])
    panels = list(dict.fromkeys(tuple(r[k] for k in others) for r in rows)) or [()]
    fig, grid = plt.subplots(
        1,
        len(panels),
        figsize=opts.size((4.0 * len(panels) + 1.5, 3.6)),
        squeeze=False,
        sharey=True,
        constrained_layout=True,
    )
    every = list(dict.fromkeys(r["variant"] for r in rows))
    colour = variant_colours(every)  # the same in the means and the differences figures
    variants = [v for v in every if not (diff and v == reference)]
    col = ("diff_mean", "diff_ci_low", "diff_ci_high") if diff else ("mean", "ci_low", "ci_high")
    for ax, panel in zip(grid[0], panels, strict=True):
        here = [r for r in rows if tuple(r[k] for k in others) == panel]
        for i, v in enumerate(variants):
            pts = [r for r in here if r["variant"] == v]
            mean, lo, hi = ([number(r[c]) for r in pts] for c in col)
            if x_key is None:
                err = [[m - a for m, a in zip(mean, lo, strict=True)]]
                err += [[b - m for m, b in zip(mean, hi, strict=True)]]
                ax.errorbar([i], mean, yerr=err, fmt="o", capsize=3, label=v, color=colour[v])
                continue
            pos, labels = axis_positions([r[x_key] for r in pts])
            xs = [pos[r[x_key]] for r in pts]
            ax.plot(xs, mean, marker="o", label=v, color=colour[v])
            ax.fill_between(xs, lo, hi, alpha=0.2, color=colour[v], lw=0)
            if labels:
                ax.set_xticks(range(len(labels)), labels)
        if x_key is None:  # one tick per variant: slanted when they would overlap
            many = len(variants) > 5
            ax.set_xticks(
                range(len(variants)),
                variants,
                rotation=40 if many else 0,
                ha="right" if many else "center",
            )
        else:
            ax.set_xlabel(x_key)
        if diff:
            ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        if others:
            opts.titled(ax, ", ".join(f"{k} = {val}" for k, val in zip(others, panel, strict=True)))
        ax.grid(alpha=0.3)
    label = f"{metric} − {reference}" if diff else metric
    grid[0][0].set_ylabel(label)
    if x_key is not None:
        grid[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    if not others:
        opts.titled(
            fig,
            f"{label}: paired by seed, 95 % t interval"
            if diff
            else f"{metric}: mean, 95 % t interval",
        )
    return save(fig, folder, name, opts)
