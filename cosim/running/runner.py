"""Runs a scenario end to end into a run folder: resolved scenario, events, tables, timing."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cosim.engine.simulation import Simulation, World
from cosim.mobility.paths import TraceFileError
from cosim.outputs.events import EventLog
from cosim.outputs.results import RunResult, typed
from cosim.outputs.tables import CLIENT_COLUMNS, ROUND_COLUMNS, ChannelRecorder, CsvTable, number
from cosim.running import checkpoint
from cosim.scenario import ScenarioError, load_scenario, scenario_to_toml
from cosim.scenario.registry import ComponentError
from cosim.scenario.schema import Scenario
from cosim.world.build import build_world
from fl import PartitionError, ProfileError
from fl.backends import BackendUnavailable

OUTPUT_FILES = (
    "scenario.toml",
    "events.jsonl",
    "rounds.csv",
    "clients.csv",
    "channel.npz",
    "timing.json",
)


logger = logging.getLogger(__name__)


class RunDirError(ValueError):
    """The run folder cannot be used (exists and not empty without overwrite, or not a folder)."""


@contextlib.contextmanager
def _writing(out: Path | None) -> Iterator[None]:
    """Hold the run folder's lock while writing it: a second run, resume or sweep point on
    the same folder (say, a killed sweep's worker still finishing) is refused, not mixed in."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".lock"
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"{out}: another process is writing this run folder (a run, resume or sweep "
                "point still going); wait for it to end or stop it"
            ) from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def check_run_dir(path: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite``; refuse a path that is a file."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RunDirError(
            f"{path}: run folder exists and is not empty; pass --overwrite to replace its "
            "outputs, or choose another --out"
        )


def run(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    observers: Sequence[Callable[[dict[str, Any]], None]] = (),
    progress: bool = False,
    source: str = "<scenario>",
) -> RunResult:
    """Run ``scenario``; write the run folder when ``out_dir`` is given. Every ``observers``
    callable gets each event (a dict, as in events.jsonl) the moment it is logged."""
    wall0 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_run_dir(out, overwrite)
    return _build_and_play(scenario, source, out, observers, progress, wall0)


def resume(
    run_dir: str | Path,
    observers: Sequence[Callable[[dict[str, Any]], None]] = (),
    progress: bool = False,
) -> RunResult:
    """Continue a run folder whose run was killed, from its latest checkpoint (the end of the
    last round saved); the folder ends with the same events and tables, bit for bit, as an
    uninterrupted run. Observers see the events from the resumed round on."""
    wall0 = time.perf_counter()
    out = Path(run_dir)
    if not (out / "scenario.toml").is_file():
        raise RunDirError(f"{out}: not a run folder (no scenario.toml): nothing to resume")
    if (out / "timing.json").is_file():
        raise RunDirError(f"{out}: the run is complete (timing.json is written last)")
    scenario = load_scenario(out / "scenario.toml")
    saved = checkpoint.read(out)
    if saved is None:
        logger.warning("%s: no round had ended before the run stopped: starting over", out)
        return run(scenario, out, overwrite=True, observers=observers, progress=progress)
    logger.info("%s: resuming after round %d", out, saved.round)
    source = str(out / "scenario.toml")
    return _build_and_play(scenario, source, out, observers, progress, wall0, saved)


def _build_and_play(
    scenario: Scenario,
    source: str,
    out: Path | None,
    observers: Sequence[Callable[[dict[str, Any]], None]],
    progress: bool,
    wall0: float,
    saved: checkpoint.Saved | None = None,
) -> RunResult:
    """Build the world, play it with the run folder locked, and release the training
    workers whatever happens."""
    world = _build(scenario, source)
    try:
        with _writing(out):
            return _play(world, out, observers, progress, wall0, saved)
    finally:
        if world.training is not None:
            world.training.close()


def _build(scenario: Scenario, source: str) -> World:
    """The run's world; a part the scenario asks for and that cannot be had is ScenarioError."""
    try:
        return build_world(scenario)
    except PartitionError as exc:
        raise ScenarioError(
            f"{source}: data.partition = {scenario.data.partition!r}: {exc}"
        ) from None
    except TraceFileError as exc:
        raise ScenarioError(f"{source}: mobility.trace_file: {exc}") from None
    except ProfileError as exc:
        raise ScenarioError(f"{source}: fl.profile: {exc}") from None
    except (ComponentError, BackendUnavailable) as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def _parts(world: World, sim: Simulation, recorder: ChannelRecorder | None) -> dict[str, Any]:
    """Every part of the run that carries state from one round to the next."""
    w = world
    return dict(
        mobility=w.mobility,
        channel=w.channel,
        compute=w.compute,
        allocator=w.allocator,
        strategy=w.strategy,
        surrogate=w.surrogate,
        recorder=recorder,
        engine=sim.state(),
    )


def _rows_upto(path: Path, offset: int) -> list[dict[str, Any]]:
    """The rows of a run table within its first ``offset`` bytes, typed as the run wrote them."""
    with path.open("rb") as f:
        text = f.read(offset).decode("utf-8")
    return [{k: typed(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _play(
    world: World,
    out: Path | None,
    observers: Sequence[Callable[[dict[str, Any]], None]],
    progress: bool,
    wall0: float,
    saved: checkpoint.Saved | None = None,
) -> RunResult:
    """Write the run folder's scenario, play the rounds (from a checkpoint's, when given),
    write the tables, checkpoints at round ends, and timing."""
    build_s = time.perf_counter() - wall0
    prior = saved.extra if saved is not None else {"wall_s": 0.0, "build_s": 0.0}
    scenario = world.scenario  # with TSFA stage 1's choice written in, when it ran
    logger.info("built in %.1f s host time", build_s)
    if world.stage1 is not None:
        logger.info("TSFA stage 1 chose %s (%s)", world.stage1.chosen, world.stage1.rule)
    if out is not None and saved is None:
        out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / checkpoint.NAME, ignore_errors=True)
        (out / "scenario.toml").write_text(scenario_to_toml(scenario), encoding="utf-8")
    watchers = list(observers)
    if logger.isEnabledFor(logging.DEBUG):
        watchers.append(lambda event: logger.debug("event %s", json.dumps(event)))

    def path(name: str) -> Path | None:
        return out / name if out is not None else None

    def resume_at(name: str) -> tuple[int, list[dict[str, Any]]] | None:
        if saved is None or out is None:
            return None
        return saved.offsets[name], _rows_upto(out / name, saved.offsets[name])

    log = EventLog(
        path("events.jsonl"),
        watchers,
        None if saved is None else (saved.offsets["events.jsonl"], saved.extra["events"]),
    )
    rounds = CsvTable(path("rounds.csv"), ROUND_COLUMNS, resume_at("rounds.csv"))
    clients = CsvTable(path("clients.csv"), CLIENT_COLUMNS, resume_at("clients.csv"))
    recorder = (
        ChannelRecorder(scenario.clients.count, scenario.channel.dt)
        if scenario.output.channel and out is not None
        else None
    )
    bar = tqdm(
        total=scenario.run.rounds,
        initial=len(rounds.rows),
        file=sys.stderr,
        disable=not progress,
        desc="rounds",
        unit="round",
        dynamic_ncols=True,
    )
    totals = {
        "scheduled": sum(int(r["scheduled"]) for r in rounds.rows),
        "on_time": sum(int(r["on_time"]) for r in rounds.rows),
    }
    evaluated = [a for a in (number(r["accuracy"]) for r in rounds.rows) if not math.isnan(a)]
    latest = {"accuracy": evaluated[-1] if evaluated else float("nan")}  # the bar shows the latest
    every, min_s = scenario.output.checkpoint_every, scenario.output.checkpoint_min_s
    last_checkpoint = [time.perf_counter()]

    def accuracy(row: dict[str, Any]) -> str:
        if row["mode"] == "surrogate":
            return "n/a (learning-free)"
        return "not evaluated" if math.isnan(row["accuracy"]) else f"{row['accuracy']:.3f}"

    def on_round(row: dict[str, Any]) -> None:
        totals["scheduled"] += row["scheduled"]
        totals["on_time"] += row["on_time"]
        if not math.isnan(row["accuracy"]):
            latest["accuracy"] = row["accuracy"]
        bar.set_postfix(
            t=f"{row['t_end']:.2f}s",
            on_time=f"{totals['on_time'] / totals['scheduled']:.0%}",
            acc="learning-free" if row["mode"] == "surrogate" else f"{latest['accuracy']:.3f}",
        )
        bar.update(1)
        logger.info(
            "round %d/%d ended at %.3f s simulated: %d of %d on time, %.3f Mbit up, "
            "%d reallocations, accuracy %s",
            row["round"],
            scenario.run.rounds,
            row["t_end"],
            row["on_time"],
            row["scheduled"],
            row["bits_up"] / 1e6,
            row["reallocations"],
            accuracy(row),
        )
        r, now = row["round"], time.perf_counter()
        due = every and r % every == 0 and now - last_checkpoint[0] >= min_s
        if out is not None and due and r < scenario.run.rounds:
            last_checkpoint[0] = now
            offsets = {
                "events.jsonl": log.offset(),
                "rounds.csv": rounds.offset(),
                "clients.csv": clients.offset(),
            }
            extra = dict(
                events=log.count,
                wall_s=prior["wall_s"] + time.perf_counter() - wall0,
                build_s=prior["build_s"] + build_s,
            )
            checkpoint.write(out, r, _parts(world, sim, recorder), offsets, extra)

    sim = Simulation(world, log, rounds, clients, recorder, on_round)
    if saved is not None:
        restored = checkpoint.restore(saved, _parts(world, sim, recorder))
        sim.load_state(restored["engine"])
    try:
        sim.run()
    finally:
        bar.close()
        log.close()
        rounds.close()
        clients.close()
    if recorder is not None and out is not None:
        recorder.save(out / "channel.npz", world.channel.carrier_hz, world.channel.bs_position)
    wall_s = time.perf_counter() - wall0
    result = RunResult(
        out_dir=out,
        scenario=scenario,
        rounds=rounds.rows,
        clients=clients.rows,
        event_count=log.count,
        host=sim.host,
        build_s=prior["build_s"] + build_s,
        wall_s=prior["wall_s"] + wall_s,
    )
    if out is not None:
        (out / "timing.json").write_text(json.dumps(timing(result), indent=2) + "\n")
        shutil.rmtree(out / checkpoint.NAME, ignore_errors=True)  # complete: nothing to resume
        logger.info("run folder %s complete (%.1f s host time)", out, wall_s)
    return result


def timing(result: RunResult) -> dict[str, Any]:
    """Where the host wall time went (never part of simulated time; differs run to run)."""
    h = result.host
    return {
        "note": "host wall-clock seconds; not simulated time; varies between runs",
        "mode": result.scenario.fl.mode,
        "learning_free": result.scenario.fl.mode == "surrogate",
        "wall_s": round(result.wall_s, 3),
        "build_s": round(result.build_s, 3),
        "train_s": round(h.train_s, 3),
        "eval_s": round(h.eval_s, 3),
        "engine_and_io_s": round(result.wall_s - result.build_s - h.train_s - h.eval_s, 3),
        "trained_updates": h.trained_updates,
    }
