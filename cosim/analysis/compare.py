"""Comparing run folders: one summary row per run (and per point of a sweep folder), and
their accuracy curves overlaid (`wfl-cosim compare`)."""

from __future__ import annotations

import csv
from pathlib import Path

from cosim.analysis.figure import (
    ROUND_NUMBERS,
    STYLE,
    FigureOptions,
    PlotError,
    evaluated,
    plt,
    read_table,
    save,
)
from cosim.outputs.summary import RUN_METRICS, cell, summarise_folder
from cosim.outputs.tables import number

COMPARE_COLUMNS = (
    "run",
    "mode",
    "rounds",
    *RUN_METRICS,
)


def expand_sweeps(paths: list[Path]) -> list[Path]:
    """The paths, with a sweep folder (one holding summary.csv) replaced by its point
    folders in name order; a sweep point that has not finished is an error."""
    out = []
    for p in map(Path, paths):
        if (p / "summary.csv").is_file() and not (p / "rounds.csv").is_file():
            out += sorted(d for d in p.iterdir() if d.is_dir())
        else:
            out.append(p)
    return out


def compare_runs(
    run_dirs: list[Path], target: float, out_csv: Path | None = None
) -> tuple[list[dict], Path | None]:
    """One row per run (final accuracy, simulated time to reach ``target`` accuracy, Mbit
    sent up, share of scheduled clients that missed, simulated time), optionally as CSV;
    the accuracy curves overlaid in ``out_csv``'s folder as compare.png."""
    rows, curves = [], []
    for d in expand_sweeps(run_dirs):
        if not (d / "rounds.csv").is_file():
            raise PlotError(f"{d}: not a run folder (missing rounds.csv)")
        rounds = read_table(d / "rounds.csv", ROUND_NUMBERS)
        if not rounds:
            raise PlotError(f"{d}/rounds.csv: no rounds recorded")
        acc = [number(r["accuracy"]) for r in rounds]
        t = [number(r["t_end"]) for r in rounds]
        rows.append(
            dict(
                run=str(d),
                mode=rounds[0].get("mode", "train"),
                rounds=len(rounds),
                **summarise_folder(d, target),
            )
        )
        acc_shown, t_shown = evaluated(acc, t)
        curves.append((d.name, t_shown, acc_shown))
    figure = None
    if out_csv is not None:
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        with out_csv.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COMPARE_COLUMNS)
            w.writeheader()
            w.writerows({k: cell(v) for k, v in r.items()} for r in rows)
        opts = FigureOptions()
        with plt.style.context(STYLE):
            fig, ax = plt.subplots(figsize=opts.size((8, 4.5)), constrained_layout=True)
            for name, t, acc in curves:
                ax.plot(t, acc, marker="o", ms=3, label=name)
            ax.axhline(target, color="grey", ls="--", lw=0.8, label=f"target {target:g}")
            ax.set_xlabel("simulated time [s]")
            ax.set_ylabel("held-out accuracy")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            ax.set_title("accuracy of the compared runs (empty for learning-free runs)")
            figure = save(fig, out_csv.parent, out_csv.stem, opts)
    return rows, figure
