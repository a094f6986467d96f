"""Parameter sweeps: the cartesian product of field values, one run folder per point, in worker
processes, with a summary table; complete points are skipped when a sweep is run again."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import multiprocessing
import re
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cosim.outputs.tables import read_rows, summarise_rounds
from cosim.plugins import load_plugins
from cosim.scenario import ScenarioError, load_scenario
from cosim.world.inputs import check_inputs
from cosim.world.memory import check_memory

POINT = "point.json"  # in a point's folder: what it runs, so a stopped point can be resumed
SUMMARY = (
    "point",
    "status",
    "final_accuracy",
    "mbit_up",
    "miss_rate",
    "sim_time_s",
    "error",
)


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


def _complete(folder: Path) -> bool:
    return (folder / "timing.json").is_file()  # the runner writes it last


def _spec(scenario_path: str, overrides: list[str]) -> dict[str, Any]:
    """What a point is: its scenario file's text (hashed) and its overrides."""
    text = Path(scenario_path).read_bytes()
    return {"scenario_sha256": hashlib.sha256(text).hexdigest(), "overrides": overrides}


def _run_point(job: tuple[str, list[str], str]) -> dict[str, Any]:
    """Run one point in a worker, or resume it when an earlier sweep was stopped during it
    (same scenario text and overrides, and a checkpoint left); never raises (a failure is
    returned as a row)."""
    from cosim.running.checkpoint import NAME
    from cosim.running.runner import resume, run

    scenario_path, overrides, folder = job
    name, out = Path(folder).name, Path(folder)
    try:
        spec = _spec(scenario_path, overrides)
        marker = out / POINT
        same = marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == spec
        if same and (out / NAME).is_dir():
            res = resume(out)
            return dict(point=name, status="resumed", error="", **summarise_rounds(res.rounds))
        s = load_scenario(scenario_path, overrides)
        out.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(spec), encoding="utf-8")  # run() leaves it in place
        res = run(s, folder, overwrite=True, progress=False, source=scenario_path)
        return dict(point=name, status="ran", error="", **summarise_rounds(res.rounds))
    except Exception as exc:  # a failed point must not lose the others
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return dict(point=name, status="failed", error=last)


def _summary_of(folder: Path) -> dict[str, Any]:
    """Row of a point completed by an earlier sweep, from its rounds.csv."""
    rounds = read_rows(folder / "rounds.csv")
    return dict(
        point=folder.name, status="skipped (complete)", error="", **summarise_rounds(rounds)
    )


def sweep(
    scenario: str | Path,
    grid_items: Sequence[str],
    out_dir: str | Path,
    workers: int = 1,
    base_overrides: Sequence[str] = (),
    plugins: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Run every point not yet complete under ``out_dir``; write ``out_dir/summary.csv``.
    Every point is validated before anything runs (ScenarioError names the bad one);
    ``plugins`` (see --plugin) are imported in every worker first."""
    grid = parse_grid(grid_items)
    out = Path(out_dir)
    todo, rows = [], {}
    for overrides in points(grid):
        full = [*base_overrides, *overrides]
        point = load_scenario(scenario, full)  # validate up front: fields, files, memory
        check_inputs(point, str(scenario))
        check_memory(point, str(scenario))
        folder = out / point_name(overrides)
        if _complete(folder):
            rows[folder.name] = _summary_of(folder)
        else:
            todo.append((str(scenario), full, str(folder)))
    out.mkdir(parents=True, exist_ok=True)
    if todo:
        # spawned, not forked: a fork of a process whose torch (OpenMP) threads already ran
        # can deadlock in the child; a script's top-level registrations still run in it
        with ProcessPoolExecutor(
            max(1, workers),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=load_plugins,
            initargs=(tuple(plugins),),
        ) as pool:
            for row in pool.map(_run_point, todo):
                rows[row["point"]] = row
    ordered = [rows[point_name(o)] for o in points(grid)]
    with (out / "summary.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY)
        w.writeheader()
        for r in ordered:
            w.writerow({k: r.get(k, "") for k in SUMMARY})
    return ordered
