"""Runs a scenario end to end into a run folder: resolved scenario, events, tables, timing."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cosim.engine.simulation import Simulation
from cosim.outputs.channel_npz import ChannelRecorder
from cosim.outputs.events import EventLog
from cosim.outputs.results import RunResult, typed
from cosim.outputs.tables import CsvTable, client_columns, round_columns
from cosim.running import checkpoint, integrity
from cosim.running.folder import OUTPUT_FILES, RunDirError, check_run_dir, writing
from cosim.running.progress import Progress
from cosim.scenario import load_scenario, scenario_to_toml
from cosim.scenario.schema import Scenario
from cosim.world.build import build_world
from cosim.world.inputs import built, check_inputs, input_files
from cosim.world.memory import check_memory
from cosim.world.world import World

logger = logging.getLogger(__name__)


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
    check_inputs(scenario, source)  # before anything is written: the files it names, loaded
    check_memory(scenario, source)
    return _build_and_play(scenario, source, out, observers, progress, wall0, fresh=overwrite)


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
    checkpoint.verify(out, saved)
    logger.info("%s: resuming after round %d from %s", out, saved.round, saved.folder.name)
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
    fresh: bool | None = None,
) -> RunResult:
    """Lock the run folder, check it under the lock (a new run: empty unless ``fresh`` says
    overwrite; so two runs into one folder cannot both pass the check), build the world,
    play it, and release the training workers whatever happens."""
    with writing(out):
        if out is not None and saved is None and fresh is not None:
            check_run_dir(out, fresh)
        world = built(build_world, scenario, source)
        try:
            return _play(world, out, observers, progress, wall0, saved)
        finally:
            if world.training is not None:
                world.training.close()


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
    write the tables, checkpoints between rounds, and timing."""
    build_s = time.perf_counter() - wall0
    prior = saved.extra if saved is not None else {"wall_s": 0.0, "build_s": 0.0}
    scenario = world.scenario  # with TSFA stage 1's choice written in, when it ran
    logger.info("built in %.1f s host time", build_s)
    if world.stage1 is not None:
        logger.info("TSFA stage 1 chose %s (%s)", world.stage1.chosen, world.stage1.rule)
    if out is not None and saved is None:
        _fresh_folder(out, scenario)
    log, rounds, clients = _outputs(world.scenario, out, observers, saved)
    recorder = (
        ChannelRecorder(scenario.clients.count, scenario.channel.dt)
        if scenario.output.channel and out is not None
        else None
    )
    sim = Simulation(world, log, rounds, clients, recorder)
    if saved is not None:
        restored = checkpoint.restore(saved, _parts(world, sim, recorder))
        _resumable(saved.folder, restored["engine"])
        sim.load_state(restored["engine"])
    bar = Progress(scenario.run.rounds, rounds.rows, progress)
    clock = _Checkpoints(world, sim, recorder, out, log, rounds, clients)
    try:
        for row in sim.rounds():  # between rounds the clock stands still: checkpoint here
            bar.update(row)
            clock.after(
                row.round, prior["wall_s"] + time.perf_counter() - wall0, prior["build_s"] + build_s
            )
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
        checkpoint.remove(out)  # complete: nothing to resume
        logger.info("run folder %s complete (%.1f s host time)", out, wall_s)
    return result


def _fresh_folder(out: Path, scenario: Scenario) -> None:
    """A new run in ``out``: earlier outputs and checkpoint removed, the resolved scenario."""
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    checkpoint.remove(out)
    (out / "scenario.toml").write_text(scenario_to_toml(scenario), encoding="utf-8")


def _outputs(
    scenario: Scenario,
    out: Path | None,
    observers: Sequence[Callable[[dict[str, Any]], None]],
    saved: checkpoint.Saved | None,
) -> tuple[EventLog, CsvTable, CsvTable]:
    """The event log and the two tables: new files, or a checkpoint's offsets continued."""
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
    rounds = CsvTable(
        path("rounds.csv"),
        round_columns(scenario.model.task, scenario.server.is_async),
        resume_at("rounds.csv"),
    )
    clients = CsvTable(
        path("clients.csv"),
        client_columns(scenario.downlink.model, scenario.server.is_async, scenario.cells.multi),
        resume_at("clients.csv"),
    )
    return log, rounds, clients


class _Checkpoints:
    """Writes a checkpoint after every output.checkpoint_every-th round, at least
    output.checkpoint_min_s host seconds apart (when never changes results)."""

    def __init__(self, world, sim, recorder, out, log, rounds, clients) -> None:
        self.world, self.sim, self.recorder, self.out = world, sim, recorder, out
        self.log, self.rounds, self.clients = log, rounds, clients
        o = world.scenario.output
        self.every, self.min_s = o.checkpoint_every, o.checkpoint_min_s
        self.last = time.perf_counter()

    def after(self, r: int, wall_s: float, build_s: float) -> None:
        """Round ``r`` ended; ``wall_s`` / ``build_s``: host seconds so far (all sessions)."""
        now = time.perf_counter()
        due = self.every and r % self.every == 0 and now - self.last >= self.min_s
        if self.out is None or not due or r >= self.world.scenario.run.rounds:
            return
        if self.sim.out_of_time:  # that was the last round
            return
        self.last = now
        offsets = {
            "events.jsonl": self.log.offset(),
            "rounds.csv": self.rounds.offset(),
            "clients.csv": self.clients.offset(),
        }
        outputs = {name: integrity.prefix(self.out / name, n) for name, n in offsets.items()}
        extra = dict(events=self.log.count, wall_s=wall_s, build_s=build_s)
        inputs = run_inputs(self.out, self.world.scenario)
        parts = _parts(self.world, self.sim, self.recorder)
        checkpoint.write(self.out, r, parts, outputs, inputs, extra)


def run_inputs(out: Path, scenario: Scenario) -> dict[str, dict[str, str]]:
    """Hashes of what the run in ``out`` depends on: its scenario.toml, the trace and profile
    files it names, the plugin files this process imported."""
    return integrity.inputs(out, input_files(scenario))


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


def _resumable(folder: Path, engine: dict[str, Any]) -> None:
    """Refuse a fedasync/fedbuff checkpoint written before the band kept one clock."""
    flight = engine.get("flight")
    if flight is not None and "band" not in flight:
        raise checkpoint.CheckpointError(
            f"{folder}: a fedasync/fedbuff checkpoint from before the band kept one clock (its "
            "uploads are stored another way); this version cannot resume it — run the scenario "
            "again"
        )
