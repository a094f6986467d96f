"""fedasync and fedbuff: jobs that overlap on one clock, the band re-split as uploads come and
go, staleness, the two server updates, and their rows."""

import csv
import itertools
import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, read_events
from test_checkpoint import Stop

from cosim import Scenario, ScenarioError, run
from cosim.engine.simulation import Simulation
from cosim.outputs.events import EventLog
from cosim.outputs.tables import CsvTable, client_columns, round_columns
from cosim.world.build import build_world
from fl.asynchronous import buffered_step, mix, staleness_weight
from fl.backends import train_seeded

DEFAULT = ROOT / "scenarios" / "default.toml"
# learning-free, 38.901 UMi walkers: uploads of many lengths and channels
BASE = {"fl.mode": "surrogate", "run.rounds": 12}


def _clients(out):
    with open(out / "clients.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_staleness_weights_are_the_literatures_forms():
    assert staleness_weight(7, "constant", 0.5, 4) == 1.0
    assert staleness_weight(3, "polynomial", 0.5, 4) == pytest.approx(0.5)  # (1+3)^-0.5
    assert staleness_weight(0, "polynomial", 0.5, 4) == 1.0
    assert staleness_weight(4, "hinge", 10.0, 4) == 1.0
    assert staleness_weight(6, "hinge", 10.0, 4) == pytest.approx(1 / 21)  # 1/(10·2+1)
    with pytest.raises(ValueError):
        staleness_weight(-1, "constant", 0.5, 4)


def test_mixing_and_the_buffered_step_by_hand():
    g = {"w": torch.tensor([1.0, 2.0])}
    c = {"w": torch.tensor([3.0, 6.0])}
    assert torch.equal(mix(g, c, 0.25)["w"], torch.tensor([1.5, 3.0]))
    assert torch.equal(mix(g, c, 1.0)["w"], c["w"])
    s1, c1 = {"w": torch.tensor([0.0, 0.0])}, {"w": torch.tensor([2.0, 4.0])}
    s2, c2 = {"w": torch.tensor([1.0, 1.0])}, {"w": torch.tensor([1.0, 3.0])}
    out = buffered_step(g, [s1, s2], [c1, c2], [0.5, 0.25], 2.0)
    # g + 2 · (0.5·[2, 4] + 0.25·[0, 2])
    assert torch.equal(out["w"], torch.tensor([3.0, 7.0]))


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"server.concurrency": 3}, "read by server.protocol = 'fedasync' or 'fedbuff' only"),
        ({"server.protocol": "fedasync", "server.buffer_size": 3}, "'fedbuff' only"),
        ({"server.protocol": "fedbuff", "server.concurrency": 21}, "must be <= clients.count"),
        ({"server.protocol": "fedbuff", "allocation.name": "oracle"}, "split_in_flight"),
        ({"server.protocol": "fedbuff", "channel.frequency_selective": True}, "not built yet"),
        ({"server.protocol": "fedbuff", "server.staleness": "linear"}, "server.staleness"),
    ],
)
def test_bad_asynchronous_fields_are_refused_naming_them(changes, words):
    with pytest.raises(ScenarioError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Scenario.load(DEFAULT).updated({**BASE, **changes})


def test_fedasync_with_one_client_at_a_time_and_mixing_1_is_sequential_training(tmp_path):
    """Concurrency 1 and mixing 1: every update is fresh (τ = 0) and replaces the model, so
    the run is plain sequential training, client after client; redone here by hand."""
    s = Scenario.load(TINY).updated(
        {
            "server.protocol": "fedasync",
            "server.concurrency": 1,
            "server.mixing": 1.0,
            "run.rounds": 3,
            "deadline.seconds": 5.0,
            "output.channel": False,
        }
    )
    events = []
    world = build_world(s)
    log = EventLog(observers=[events.append])
    sim = Simulation(
        world,
        log,
        CsvTable(None, round_columns(s.model.task, True)),
        CsvTable(None, client_columns(s.downlink.model, True)),
    )
    rows = list(sim.rounds())
    assert [r.round for r in rows] == [1, 2, 3] and all(r.staleness_mean == 0 for r in rows)
    aggregates = [e for e in events if e["kind"] == "aggregate"]
    assert [len(e["jobs"]) for e in aggregates] == [1, 1, 1]
    hand = build_world(s)
    state = hand.initial_state
    settings = hand.training.settings
    for e in aggregates:
        (job,), (k,) = e["jobs"], e["clients"]  # one job per batch: its key is its id
        result = train_seeded(
            hand.trainer,
            hand.strategy,
            settings,
            (state, hand.shards[k], hand.seeds.int_seed("local_train", job, k)),
        )
        budget = s.strategy.budget
        payload = hand.strategy.compress(
            result.state, state, budget, hand.seeds.rng("compress", job, k)
        )
        state = hand.strategy.aggregate(state, [payload], [1.0])
    assert sim.global_state.keys() == state.keys()
    for name in state:
        assert torch.equal(sim.global_state[name], state[name]), name


def test_fedbuff_versions_take_exactly_buffer_size_updates(tmp_path):
    s = Scenario.load(DEFAULT).updated(
        {**BASE, "server.protocol": "fedbuff", "server.concurrency": 6, "server.buffer_size": 4}
    )
    result = run(s, tmp_path / "fb")
    events = read_events(tmp_path / "fb")
    aggregates = [e for e in events if e["kind"] == "aggregate"]
    assert len(aggregates) == len(result.rounds) == 12
    assert all(len(e["jobs"]) == 4 for e in aggregates)
    assert all(r["on_time"] == 4 for r in result.rounds)
    ends = {e["job"]: e for e in events if e["kind"] == "upload_end"}
    taken = [j for e in aggregates for j in e["jobs"]]
    assert len(set(taken)) == len(taken)  # every update is aggregated once
    for e in aggregates:  # each one the version its upload_end said, weighted by s(τ)
        each = zip(e["jobs"], e["versions"], e["staleness"], e["weights"], strict=True)
        for job, v, tau, w in each:
            assert ends[job]["version"] == v and ends[job]["staleness"] == tau
            assert w == pytest.approx(0.25 * (1 + tau) ** -0.5)  # equal data, FedBuff's s(τ)
    rows = _clients(tmp_path / "fb")
    assert {"version", "staleness"} <= set(rows[0])
    assert "staleness_mean" in (tmp_path / "fb" / "rounds.csv").read_text().splitlines()[0]
    # every job that ended before the last version is in a row's counts
    assert sum(r["scheduled"] for r in result.rounds) == sum(
        r["on_time"] + r["late"] for r in result.rounds
    )


def test_staleness_is_the_versions_made_while_a_job_was_busy(tmp_path):
    """3 clients, all busy at once (fedasync): staleness counted by hand from the log."""
    s = Scenario.load(DEFAULT).updated(
        {
            **BASE,
            "clients.count": 3,
            "clients.per_round": 3,
            "server.protocol": "fedasync",
            "run.rounds": 9,
        }
    )
    run(s, tmp_path / "fa")
    events = read_events(tmp_path / "fa")
    versions, start_version, seen = 0, {}, 0
    for e in events:
        if e["kind"] == "aggregate":
            versions += 1
            assert e["round"] == versions
        elif e["kind"] == "train_start":
            start_version[(e["round"], e["client"])] = versions
        elif e["kind"] == "upload_end":
            v = start_version[(e["round"], e["client"])]
            assert e["version"] == v and e["staleness"] == versions - v
            seen += 1
    assert seen >= 9 and any(e["staleness"] > 0 for e in events if e["kind"] == "upload_end")


def test_the_band_holds_exactly_the_uploads_on_air_and_is_never_over_assigned(tmp_path):
    s = Scenario.load(DEFAULT).updated(
        {**BASE, "server.protocol": "fedasync", "server.concurrency": 8, "clients.count": 20}
    )
    run(s, tmp_path / "fa")
    events = read_events(tmp_path / "fa")
    on_air, splits = {}, 0
    for e in events:
        if e["kind"] == "upload_start":
            on_air[(e["round"], e["client"])] = True
        elif e["kind"] in ("upload_end", "deadline_miss", "stopped"):
            on_air.pop((e["round"], e["client"]), None)
        elif e["kind"] == "reallocation":
            splits += 1
            assert e["call"] == "in_flight"
            assert sum(e["after_share"]) <= 1 + 1e-9
            assert e["assigned_hz"] <= s.channel.bandwidth_hz * (1 + 1e-9)
            # an upload's end re-splits the band before its upload_end is logged
            leaving = e["reason"] in ("upload finished", "deadline")
            assert len(e["clients"]) == len(on_air) - leaving
            assert set(e["clients"]) <= {k for _, k in on_air}
    assert splits > 12  # uploads came and went


def test_async_runs_count_every_job_once(tmp_path):
    s = Scenario.load(DEFAULT).updated({**BASE, "server.protocol": "fedasync"})
    result = run(s, tmp_path / "fa")
    events = read_events(tmp_path / "fa")
    rows = _clients(tmp_path / "fa")
    started = [e for e in events if e["kind"] == "train_start"]
    assert len(rows) == len(started)  # a row per job, stopped ones included
    stopped = [e for e in events if e["kind"] == "stopped"]
    assert all(e["reason"] == "run_end" for e in stopped)
    assert sum(r["miss"] == "stopped" for r in rows) == len(stopped)
    assert sum(r["on_time"] for r in result.rounds) == len(result.rounds)  # one per version
    assert all(not math.isnan(r["staleness_mean"]) for r in result.rounds)
    t = [e["t"] for e in events]
    assert t == sorted(t)


@pytest.mark.parametrize("protocol", ["fedasync", "fedbuff"])
def test_a_single_version_run_ends_and_is_evaluated(protocol, tmp_path):
    s = Scenario.load(TINY).updated({"server.protocol": protocol, "run.rounds": 1})
    result = run(s, tmp_path / "one")
    assert len(result.rounds) == 1 and not math.isnan(result.rounds[0]["accuracy"])


def test_async_runs_are_reproducible(tmp_path):
    s = Scenario.load(DEFAULT).updated({**BASE, "server.protocol": "fedbuff"})
    run(s, tmp_path / "a")
    run(s, tmp_path / "b")
    for name in ("events.jsonl", "rounds.csv", "clients.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_max_staleness_drops_older_updates_and_logs_them(tmp_path):
    s = Scenario.load(DEFAULT).updated(
        {**BASE, "server.protocol": "fedasync", "server.max_staleness": 0, "run.rounds": 8}
    )
    run(s, tmp_path / "fa")
    events = read_events(tmp_path / "fa")
    dropped = [e for e in events if e["kind"] == "update_dropped"]
    assert dropped and all(e["staleness"] > 0 for e in dropped)
    assert all(tau == 0 for e in events if e["kind"] == "aggregate" for tau in e["staleness"])
    rows = _clients(tmp_path / "fa")
    assert sum(r["miss"] == "stale" for r in rows) == len(dropped)
    assert np.all([int(r["staleness"]) > 0 for r in rows if r["miss"] == "stale"])


def _stop_at_version(v: int):
    def watch(event):
        if event["kind"] == "aggregate" and event["round"] == v:
            raise Stop

    return watch


@pytest.mark.parametrize(
    "base, changes",
    [
        # trained fedbuff, the model broadcast in a fixed time (jobs wait in phase "lead")
        (
            TINY,
            {
                "server.protocol": "fedbuff",
                "server.buffer_size": 2,
                "server.concurrency": 3,
                "server.broadcast_s": 0.05,
                "run.rounds": 6,
            },
        ),
        # learning-free fedasync, downloads over the channel, walkers in a 38.901 cell
        (
            DEFAULT,
            {
                **BASE,
                "server.protocol": "fedasync",
                "server.concurrency": 8,
                "downlink.model": "channel",
                "downlink.bandwidth_hz": 2e6,
                "output.channel": True,
            },
        ),
    ],
    ids=["fedbuff-trained", "fedasync-downlink"],
)
def test_an_async_run_stopped_with_jobs_in_flight_resumes_to_the_same_outputs(
    base, changes, tmp_path
):
    """The checkpoint holds every job in flight (its phase, its wait, its upload's progress,
    the buffer): the resumed run's files equal an uninterrupted run's, byte for byte."""
    from cosim.running.runner import resume

    s = Scenario.load(base).updated({**changes, "output.checkpoint_min_s": 0.0})
    full = run(s, tmp_path / "full")
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[_stop_at_version(5)])
    saved = json.loads((tmp_path / "part" / "checkpoint" / "state.json").read_text())
    assert saved["round"] >= 2
    resumed = resume(tmp_path / "part")
    for name in ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz"):
        if (tmp_path / "full" / name).exists():
            assert (tmp_path / "full" / name).read_bytes() == (
                tmp_path / "part" / name
            ).read_bytes(), name
    assert resumed.rounds == full.rounds


def test_every_figure_draws_an_async_run_with_overlapping_jobs(tmp_path):
    from cosim.analysis import plots
    from cosim.analysis.timeline import read_activity

    s = Scenario.load(DEFAULT).updated(
        {**BASE, "server.protocol": "fedbuff", "run.rounds": 6, "output.channel": True}
    )
    run(s, tmp_path / "fb")
    written = plots.plot_run(tmp_path / "fb")
    names = {p.name for p in written}
    assert {"timeline.png", "misses.png", "accuracy.png", "positions.png", "snr.png"} <= names
    act = read_activity(read_events(tmp_path / "fb"), (1, 6))
    assert sorted(act.versions) == [1, 2, 3, 4, 5, 6] and not act.starts
    spans = sorted((a, b) for bars in act.bars.values() for a, b, _ in bars)
    assert any(b1 > a2 for (_, b1), (a2, _) in itertools.pairwise(spans))  # overlap


@pytest.mark.parametrize("protocol", ["sync", "fedbuff"])
def test_share_lists_off_changes_the_reallocation_events_only(protocol, tmp_path):
    """output.share_lists = false: `reallocation` events keep counts, not lists; every other
    event, both tables and the figures are as with the lists."""
    from cosim.analysis import plots

    changes = {**BASE, "run.rounds": 4, "clients.per_round": 8}
    if protocol == "fedbuff":
        changes.update({"server.protocol": "fedbuff", "server.buffer_size": 4})
    s = Scenario.load(DEFAULT).updated(changes)
    run(s, tmp_path / "lists")
    run(s.updated({"output.share_lists": False}), tmp_path / "counts")
    for name in ("rounds.csv", "clients.csv"):
        assert (tmp_path / "lists" / name).read_bytes() == (tmp_path / "counts" / name).read_bytes()
    full, brief = read_events(tmp_path / "lists"), read_events(tmp_path / "counts")
    assert len(full) == len(brief)
    splits = 0
    for a, b in zip(full, brief, strict=True):
        if a["kind"] != "reallocation":
            assert a == b
            continue
        splits += 1
        assert b["uploads"] == len(a["clients"]) and "clients" not in b
        assert b["changed"] == sum(
            abs(x - y) > 1e-9 for x, y in zip(a["before_share"], a["after_share"], strict=True)
        )
    assert splits > 0
    assert {p.name for p in plots.plot_run(tmp_path / "counts")} >= {"timeline.png"}


def test_a_checkpoint_from_before_the_band_clock_is_refused_naming_it(tmp_path):
    """An async checkpoint whose uploads were stored as members (the format before the band
    kept one clock) is refused with a CheckpointError, not a traceback."""
    from cosim.running import integrity
    from cosim.running.checkpoint import PARTS, CheckpointError
    from cosim.running.runner import resume

    s = Scenario.load(DEFAULT).updated(
        {**BASE, "server.protocol": "fedbuff", "run.rounds": 6, "output.checkpoint_min_s": 0.0}
    )
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[_stop_at_version(4)])
    folder = tmp_path / "part" / "checkpoint"
    state = (folder / "state.json").read_text()
    assert '"band"' in state
    (folder / "state.json").write_text(state.replace('"band"', '"members"'))
    sums = {part: integrity.digest(folder / part) for part in PARTS}
    (folder / "checksum.json").write_text(json.dumps(sums))
    shutil.rmtree(tmp_path / "part" / ".checkpoint.old", ignore_errors=True)
    with pytest.raises(CheckpointError, match="before the band kept one clock"):
        resume(tmp_path / "part")
