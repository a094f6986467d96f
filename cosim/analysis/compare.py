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
    read_events,
    read_table,
    save,
    variant_colours,
)
from cosim.outputs.summary import RUN_METRICS, cell, summarise_folder
from cosim.outputs.tables import number
from cosim.scenario.io import flat_fields

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
    run_dirs: list[Path],
    target: float,
    out_csv: Path | None = None,
    opts: FigureOptions | None = None,
) -> tuple[list[dict], Path | None]:
    """One row per run (final accuracy, simulated time to reach ``target`` accuracy, Mbit
    sent up, share of scheduled clients that missed, simulated time), optionally as CSV; the
    runs' curves overlaid beside it as compare.<format> (``opts``)."""
    rows, curves, dirs = [], [], expand_sweeps(run_dirs)
    for d in dirs:
        if not (d / "rounds.csv").is_file():
            raise PlotError(f"{d}: not a run folder (missing rounds.csv)")
        rounds = read_table(d / "rounds.csv", ROUND_NUMBERS)
        if not rounds:
            raise PlotError(f"{d}/rounds.csv: no rounds recorded")
        rows.append(
            dict(
                run=str(d),
                mode=rounds[0].get("mode", "train"),
                rounds=len(rounds),
                **summarise_folder(d, target),
            )
        )
        curves.append(_curve(d, rounds))
    figure = None
    if out_csv is not None:
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        with out_csv.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COMPARE_COLUMNS)
            w.writeheader()
            w.writerows({k: cell(v) for k, v in r.items()} for r in rows)
        figure = _figure(curves, run_labels(dirs), target, out_csv, opts or FigureOptions())
    return rows, figure


def _curve(d: Path, rounds: list[dict]) -> tuple[bool, list[float], list[float]]:
    """(learning-free, t, y) of one run: accuracy from round 0 (before training), or the
    sparsification error of a learning-free run; rounds not evaluated left out."""
    learning_free = rounds[0].get("mode") == "surrogate"
    column = "sparsification_error" if learning_free else "accuracy"
    t = [number(r["t_end"]) for r in rounds]
    y = [number(r[column]) for r in rounds]
    if not learning_free and (d / "events.jsonl").is_file():
        start = next((e for e in read_events(d / "events.jsonl") if e["kind"] == "eval"), None)
        if start is not None and start["round"] == 0:
            t, y = [0.0, *t], [start["accuracy"], *y]
    y, t = evaluated(y, t)
    return learning_free, t, y


def run_labels(run_dirs: list[Path]) -> list[str]:
    """A label per run: up to three scenario fields, as key=value, chosen greedily to tell the
    runs apart (first the field with the most distinct values); the folders when no three
    fields do."""
    fields = []
    for d in run_dirs:
        toml = d / "scenario.toml"
        fields.append(flat_fields(toml.read_text(encoding="utf-8")) if toml.is_file() else {})
    differing = sorted({k for f in fields for k in f if any(g.get(k) != f.get(k) for g in fields)})
    chosen: list[str] = []

    def distinct(keys: list[str]) -> int:
        return len({tuple(repr(f.get(k)) for k in keys) for f in fields})

    while differing and len(chosen) < 3 and distinct(chosen) < len(fields):
        best = max(differing, key=lambda k: distinct([*chosen, k]))
        chosen.append(best)
        differing.remove(best)
    if not chosen or distinct(chosen) < len(fields):
        return [str(d) for d in run_dirs]
    return [", ".join(f"{k}={_short(f.get(k))}" for k in chosen) for f in fields]


def _short(value) -> str:
    """A field value as a label shows it (a path by its last part)."""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return Path(text).name if "/" in text else text


def _figure(curves, labels, target: float, out_csv: Path, opts: FigureOptions) -> Path:
    """The overlaid curves: a panel of accuracy for trained runs and one of sparsification
    error for learning-free runs (only the panels that have runs)."""
    kinds = [lf for lf in (False, True) if any(c[0] == lf for c in curves)]
    colours = variant_colours(labels)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(
            1,
            len(kinds),
            figsize=opts.size((6 * len(kinds) + 2, 4.5), 2.4),
            squeeze=False,
            constrained_layout=True,
        )
        for ax, lf in zip(axes[0], kinds, strict=True):
            for (kind, t, y), label in zip(curves, labels, strict=True):
                if kind == lf:
                    ax.plot(t, y, marker="o", ms=3, label=label, color=colours[label])
            if not lf:
                ax.axhline(target, color="grey", ls="--", lw=0.8, label=f"target {target:g}")
            ax.set_xlabel("simulated time [s]")
            ax.set_ylabel("sparsification error" if lf else "held-out accuracy")
            ax.grid(alpha=0.3)
        handles = {}
        for ax in axes[0]:
            handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=1)
        opts.titled(fig, "the compared runs (learning-free runs: their sparsification error)")
        return save(fig, out_csv.parent, out_csv.stem, opts)
