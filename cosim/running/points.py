"""The points of a sweep or study: what each asks for, whether its folder already holds that
run (complete, resumable, or another run), and running the rest in worker processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosim.outputs.summary import summarise_folder
from cosim.plugins import load_plugins
from cosim.running.checkpoint import NAME as CHECKPOINT
from cosim.running.integrity import file_hash
from cosim.scenario import Scenario, ScenarioError, scenario_to_toml
from cosim.scenario.io import flat_fields
from cosim.world.inputs import input_files

POINT = "point.json"  # in a point's folder: what it runs (resolved scenario and input hashes)


class PointChangedError(ScenarioError):
    """Point folders that hold runs of other scenarios or inputs than asked (names them)."""


@dataclass(frozen=True)
class Point:
    """One run of a sweep or study: its name in the tables, its ``section.key=value``
    overrides of the scenario file, its folder and its resolved scenario."""

    name: str
    overrides: tuple[str, ...]
    folder: Path
    scenario: Scenario
    labels: dict[str, Any] = field(default_factory=dict)  # table columns: variant, keys, seed


def plugin_paths(plugins: Sequence[str]) -> list[Path]:
    """The .py files among --plugin values (modules are not files: not hashed)."""
    return [Path(p).resolve() for p in plugins if p.endswith(".py")]


def spec(s: Scenario, plugin_files: Sequence[Path] = ()) -> dict[str, Any]:
    """What a point is: the SHA-256 of its resolved scenario, of every file it names and of
    the plugin files its workers import."""
    text = scenario_to_toml(s).encode("utf-8")
    return {
        "scenario_sha256": hashlib.sha256(text).hexdigest(),
        "inputs": {
            name: file_hash(Path(path)) for name, path in input_files(s, plugin_files).items()
        },
    }


def complete(folder: Path) -> bool:
    """Whether the run in ``folder`` finished (the runner writes timing.json last)."""
    return (folder / "timing.json").is_file()


def differences(point: Point, asked: dict[str, Any]) -> list[str]:
    """How ``point``'s folder differs from what is asked: fields whose values differ (the
    folder's scenario.toml against the resolved scenario) and input files whose hashes do;
    empty when the folder holds this run. A field the folder's scenario lacks — one added to
    the tool since it ran — is no difference when asked at its default: a new field's default
    keeps what runs did before, byte for byte."""
    folder = point.folder
    toml = folder / "scenario.toml"
    if not toml.is_file():
        return ["no scenario.toml (not a run folder)"]
    theirs = flat_fields(toml.read_text(encoding="utf-8"))
    ours = flat_fields(scenario_to_toml(point.scenario))
    defaults = flat_fields(scenario_to_toml(Scenario()))
    out = [
        f"{key} = {theirs.get(key, '(absent)')!r} there, {ours.get(key, '(absent)')!r} asked"
        for key in sorted(set(theirs) | set(ours))
        if theirs.get(key) != ours.get(key)
        and not (key not in theirs and key in defaults and ours.get(key) == defaults[key])
    ]
    marker = _marker(folder)
    recorded = marker.get("inputs") if isinstance(marker, dict) else None
    if isinstance(recorded, dict):
        for name in sorted(set(recorded) | set(asked["inputs"])):
            if recorded.get(name) != asked["inputs"].get(name):
                out.append(f"{name}: the file changed since the point ran")
    return out


@dataclass(frozen=True)
class Plan:
    """What to do with each point: run it (fresh), resume it, or take its finished run."""

    run: list[tuple[Point, dict[str, Any]]]
    resume: list[Point]
    done: list[Point]


def plan(
    points: Sequence[Point], rerun_changed: bool, source: str, plugin_files: Sequence[Path] = ()
) -> Plan:
    """Sort the points by what their folders hold. A folder with a run of another scenario or
    other input files is replaced when ``rerun_changed``, else PointChangedError names every
    such point and the fields that differ, before anything runs."""
    run, resume, done, changed = [], [], [], []
    for p in points:
        asked = spec(p.scenario, plugin_files)
        holds = p.folder.is_dir() and any(p.folder.iterdir())
        diff = differences(p, asked) if holds else []
        if holds and _marker(p.folder) == asked and not complete(p.folder):
            # a point this same spec started and that stopped: continue it, or start it again
            (resume.append(p) if (p.folder / CHECKPOINT).is_dir() else run.append((p, asked)))
        elif holds and not diff and complete(p.folder):
            done.append(p)
        elif diff and not rerun_changed:
            changed.append(f"  {p.folder}: " + "; ".join(diff))
        else:
            run.append((p, asked))
    if changed:
        raise PointChangedError(
            f"{source}: {len(changed)} point folder(s) hold runs of another scenario or other "
            "input files than asked (--rerun-changed replaces them):\n" + "\n".join(changed)
        )
    return Plan(run, resume, done)


def _marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / POINT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_point(
    job: tuple[str, str, tuple[str, ...], str, dict[str, Any] | None, float | None],
) -> dict[str, Any]:
    """Run one point in a worker (``spec`` given) or resume it (None); never raises: a failure
    comes back as a row, so that one failed point does not lose the others."""
    from cosim.running.runner import resume, run
    from cosim.scenario import load_scenario

    name, scenario_path, overrides, folder, asked, target = job
    t0, out = time.perf_counter(), Path(folder)
    try:
        if asked is None:
            resume(out)
            status = "resumed"
        else:
            s = load_scenario(scenario_path, overrides)
            out.mkdir(parents=True, exist_ok=True)
            (out / POINT).write_text(json.dumps(asked), encoding="utf-8")  # run() keeps it
            run(s, out, overwrite=True, progress=False, source=scenario_path)
            status = "ran"
        row = dict(status=status, error="", **summarise_folder(out, target))
    except Exception as exc:
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        row = dict(status="failed", error=last)
    return dict(point=name, seconds=time.perf_counter() - t0, **row)


def finished_row(p: Point, target_accuracy: float | None = None) -> dict[str, Any]:
    """The row of a point an earlier invocation completed, from its folder."""
    summary = summarise_folder(p.folder, target_accuracy)
    return dict(point=p.name, status="skipped (complete)", error="", seconds=0.0, **summary)


def run_points(
    scenario_path: str,
    points: Sequence[Point],
    workers: int = 1,
    plugins: Sequence[str] = (),
    rerun_changed: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    target_accuracy: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Every point's row (status, seconds, RUN_METRICS or error) by name: finished ones read
    back, the rest run or resumed in ``workers`` spawned processes; ``on_row`` gets each row
    as its point finishes (skipped ones first); ``target_accuracy`` for time_to_target_s."""
    todo = plan(points, rerun_changed, scenario_path, plugin_paths(plugins))
    rows: dict[str, dict[str, Any]] = {}
    for p in todo.done:
        rows[p.name] = finished_row(p, target_accuracy)
        if on_row:
            on_row(rows[p.name])
    t = target_accuracy
    work = [(p, a) for p, a in todo.run] + [(p, None) for p in todo.resume]
    # seed-major: a worker's consecutive points share the seed, so its channel tiles are drawn
    # once per seed (channels.sionna_fading's process-wide store); rows come back by name
    work.sort(key=lambda pa: pa[0].scenario.run.seed)
    jobs = [(p.name, scenario_path, p.overrides, str(p.folder), a, t) for p, a in work]
    for row in _pool(jobs, workers, plugins):
        rows[row["point"]] = row
        if on_row:
            on_row(row)
    return rows


def _worker_start(plugins: tuple[str, ...], parent: int) -> None:
    """A worker's first act: load the plugins, and end itself when the sweep or study that
    started it is gone (killed alone, its workers would run on, writing their folders): the
    point it was running keeps its last checkpoint and resumes with the next invocation."""
    load_plugins(plugins)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _pool(jobs: list, workers: int, plugins: Sequence[str]) -> Iterator[dict[str, Any]]:
    if not jobs:
        return
    # spawned, not forked: a fork of a process whose torch (OpenMP) threads already ran can
    # deadlock in the child; a script's top-level registrations still run in it
    with ProcessPoolExecutor(
        max(1, min(workers, len(jobs))),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(tuple(plugins), os.getpid()),
    ) as pool:
        futures = [pool.submit(_run_point, job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()
