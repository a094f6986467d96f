"""Parameter sweeps: the cartesian product of field values, one run folder per point, in worker
processes, with a summary table; complete points of the same scenario are skipped when a sweep
is run again."""

from __future__ import annotations

import csv
import hashlib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cosim.outputs.summary import RUN_METRICS, cell
from cosim.running.points import Point, run_points
from cosim.running.progress import PointProgress
from cosim.scenario import ScenarioError, load_scenario
from cosim.world.inputs import check_inputs
from cosim.world.memory import check_memory

SUMMARY = ("point", "status", *RUN_METRICS, "error")  # summary.csv (grid keys after status)


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``section.key=v1,v2`` items -> [(key, [raw values])]; ScenarioError when malformed."""
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or "." not in key or not values:
            raise ScenarioError(f"--grid {item!r}: expected section.key=v1,v2,...")
        grid.append((key.strip(), [v.strip() for v in values.split(",") if v.strip()]))
    keys = [k for k, _ in grid]
    if len(set(keys)) != len(keys):
        raise ScenarioError(f"--grid names a field twice: {keys}")
    return grid


def points(grid: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Every combination as a list of ``section.key=value`` overrides, in grid order."""
    return [
        [f"{k}={v}" for k, v in zip([k for k, _ in grid], combo, strict=True)]
        for combo in itertools.product(*[vals for _, vals in grid])
    ]


def point_name(overrides: list[str]) -> str:
    """Folder name of a point: its values, file-system safe (e.g. deadline.seconds=1.5). An
    override that had to be changed to be safe gets ``~`` and a short hash of what it was, so
    two values never share a folder (``~`` is never left by the cleaning)."""
    parts = []
    for o in overrides:
        clean = re.sub(r"[^A-Za-z0-9._=+-]", "_", o)
        if clean != o:
            clean += "~" + hashlib.sha256(o.encode("utf-8")).hexdigest()[:8]
        parts.append(clean)
    return "__".join(parts)


def sweep(
    scenario: str | Path,
    grid_items: Sequence[str],
    out_dir: str | Path,
    workers: int = 1,
    base_overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
    rerun_changed: bool = False,
    target_accuracy: float | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run every point not yet complete under ``out_dir``; write ``out_dir/summary.csv``.
    Every point is validated before anything runs (ScenarioError names the bad one); a point
    folder holding a run of another scenario is refused (PointChangedError naming the fields
    that differ) unless ``rerun_changed``; ``plugins`` (see --plugin) are imported in every
    worker first; ``target_accuracy`` is the accuracy time_to_target_s counts to;
    ``progress``: a bar and a line per finished point on stderr."""
    grid = parse_grid(grid_items)
    keys = [k for k, _ in grid]
    out = Path(out_dir)
    todo = []
    for overrides in points(grid):
        full = (*base_overrides, *overrides)
        s = load_scenario(scenario, full)  # validate up front: fields, files, memory
        check_inputs(s, str(scenario))
        check_memory(s, str(scenario))
        labels = dict(o.split("=", 1) for o in overrides)
        todo.append(Point(point_name(overrides), full, out / point_name(overrides), s, labels))
    finished = PointProgress(len(todo), progress)
    try:
        rows = run_points(
            str(scenario), todo, workers, plugins, rerun_changed, finished, target_accuracy
        )
    finally:
        finished.close()
    out.mkdir(parents=True, exist_ok=True)
    columns = (*SUMMARY[:2], *keys, *SUMMARY[2:])
    ordered = [{**p.labels, **rows[p.name]} for p in todo]
    with (out / "summary.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in ordered:
            w.writerow({k: cell(r.get(k, "")) for k in columns})
    return ordered
