"""`wfl-cosim study`: every (variant, axis point, seed) of a study file run as one point (in
workers, resumed, refused when its folder holds another run), then points.csv, study.csv and
study.md with the means, their intervals and the paired differences from the reference."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosim.analysis.study_stats import STAT_COLUMNS, excludes_zero, summarise_study
from cosim.outputs.summary import RUN_METRICS, cell
from cosim.running.points import run_points
from cosim.running.progress import PointProgress
from cosim.running.study_file import Study, load_study, points

STUDY_COPY = "study.toml"  # the resolved study file, in the study folder (marks it as one)


@dataclass(frozen=True)
class StudyResult:
    """What a study wrote: its folder, its points' rows and study.csv's rows, host seconds."""

    out_dir: Path
    study: Study
    points: list[dict[str, Any]]
    stats: list[dict[str, Any]]
    wall_s: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.points if r["status"] == "failed"]


def point_columns(study: Study) -> tuple[str, ...]:
    """points.csv's columns: variant, one per axis key, seed, point, status, seconds, every
    run metric, error."""
    return (
        "variant",
        *study.axis_keys,
        "seed",
        "point",
        "status",
        "seconds",
        *RUN_METRICS,
        "error",
    )


def run_study(
    study_path: str | Path,
    out_dir: str | Path | None = None,
    workers: int = 1,
    plugins: Sequence[str] = (),
    rerun_changed: bool = False,
    progress: bool = False,
) -> StudyResult:
    """Run the study in ``study_path`` into ``out_dir`` (default runs/study-<name>); every
    point is validated before anything runs (StudyFileError names the study file and field)."""
    wall0 = time.perf_counter()
    study = load_study(study_path)
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"study-{Path(study_path).stem}"
    todo = points(study, out)
    finished = PointProgress(len(todo), progress)
    try:
        rows = run_points(
            str(study.scenario),
            todo,
            workers,
            plugins,
            rerun_changed,
            finished,
            study.target_accuracy,
        )
    finally:
        finished.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / STUDY_COPY).write_text(study.to_toml(), encoding="utf-8")
    table = [{**p.labels, **rows[p.name]} for p in todo]
    _write_csv(out / "points.csv", point_columns(study), table)
    stats = summarise_study(table, study.metrics, study.axis_keys, study.reference)
    _write_csv(out / "study.csv", ("variant", *study.axis_keys, *STAT_COLUMNS), stats)
    (out / "study.md").write_text(study_markdown(study, stats, table), encoding="utf-8")
    return StudyResult(out, study, table, stats, time.perf_counter() - wall0)


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: cell(r.get(k, "")) for k in columns})


def _fmt(v: Any) -> str:
    if not isinstance(v, float) or math.isnan(v):
        return "–" if isinstance(v, float) else str(v)
    return f"{v:.4g}"


def study_markdown(study: Study, stats: list[dict[str, Any]], table: list[dict[str, Any]]) -> str:
    """study.md: per metric, one line per (variant, axis point): n, mean [95 % CI], and the
    paired difference from the reference [95 % CI] with its p-value, marked * when the
    interval excludes 0."""
    failed = sum(r["status"] == "failed" for r in table)
    lines = [
        f"# Study {study.path.name}",
        "",
        f"Scenario `{study.scenario}`, seeds {list(study.seeds)}, reference `{study.reference}`; "
        f"{len(table)} runs" + (f", {failed} failed (left out of n)" if failed else "") + ".",
        "Intervals: 95 % Student t over seeds; differences paired by seed (variant − "
        "reference), two-sided paired t-test; * marks a difference whose interval excludes 0.",
        "",
    ]
    head = ["variant", *study.axis_keys, "n", "mean", "95 % CI", "diff", "diff 95 % CI", "p"]
    for metric in study.metrics:
        lines += [f"## {metric}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in (r for r in stats if r["metric"] == metric):
            ref = r["variant"] == study.reference
            mark = " *" if excludes_zero(r) else ""
            cells = [
                r["variant"] + (" (reference)" if ref else ""),
                *[str(r[k]) for k in study.axis_keys],
                str(r["n"]),
                _fmt(r["mean"]),
                f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                "" if ref else _fmt(r["diff_mean"]) + mark,
                "" if ref else f"[{_fmt(r['diff_ci_low'])}, {_fmt(r['diff_ci_high'])}]",
                "" if ref else _fmt(r["p_value"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
