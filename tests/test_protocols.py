"""Round protocols (server.protocol) and the run's time limit (run.max_time_s): first-k takes
the first k updates to arrive and stops the rest; sync is what it always was."""

import csv
import math

import pytest
from conftest import ROOT, read_events

from cosim import Scenario, ScenarioError, run

DEFAULT = ROOT / "scenarios" / "default.toml"
FILES = ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz")

# learning-free, 38.901 UMi walkers with TSFA: uploads of many lengths, re-splits, dropouts
BASE = {"fl.mode": "surrogate", "run.rounds": 6, "clients.per_round": 8}


def _clients(out):
    with open(out / "clients.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_first_k_aggregates_the_first_k_arrivals_and_stops_the_rest(tmp_path):
    s = Scenario.load(DEFAULT).updated({**BASE, "server.protocol": "first-k"})
    assert s.aggregate_k == 6  # 8 scheduled / 1.3 (FedScale's over-commitment), rounded down
    result = run(s, tmp_path / "fk")
    events = read_events(tmp_path / "fk")
    rows = _clients(tmp_path / "fk")
    total = s.channel.bandwidth_hz
    for r in range(1, s.run.rounds + 1):
        ev = [e for e in events if e.get("round") == r]
        ends = sorted(e["t"] for e in ev if e["kind"] == "upload_end")
        agg = next(e for e in ev if e["kind"] == "aggregate")
        row = result.rounds[r - 1]
        stopped = [e for e in ev if e["kind"] == "stopped"]
        if len(ends) >= 6:
            # exactly the first k arrivals, and the round ends at the k-th
            assert len(agg["clients"]) == 6 and len(ends) == 6
            assert row["t_end"] == pytest.approx(ends[5], abs=0) and agg["t"] == ends[5]
            assert stopped, "over-committed clients are stopped when the quorum is reached"
        else:  # fewer than k in time: the deadline ends the round, as in sync
            assert not stopped
        for e in stopped:
            assert e["t"] == row["t_end"] and 0 <= e["bits"] <= e["payload_bits"]
            assert e["phase"] in ("train", "upload")
            assert (e["phase"] == "train") == (e["bits"] == 0)
            assert 0 <= e["bandwidth_hz"] <= total
        # nothing happens in a round after it ended, and the band is never over-assigned
        assert all(e["t"] <= row["t_end"] for e in ev)
        for e in ev:
            if e["kind"] == "reallocation":
                assert e["assigned_hz"] <= total * (1 + 1e-9)
        mine = [c for c in rows if int(c["round"]) == r]
        assert sorted(int(c["client"]) for c in mine if c["miss"] == "stopped") == sorted(
            e["client"] for e in stopped
        )
        assert sum(c["on_time"] == "True" for c in mine) == row["on_time"] == len(agg["clients"])
    assert any(e["kind"] == "stopped" for e in events)


def test_first_k_with_k_all_scheduled_is_sync(tmp_path):
    """k = per_round: the quorum is everyone, so the rounds are sync's, byte for byte."""
    sync = Scenario.load(DEFAULT).updated(BASE)
    run(sync, tmp_path / "sync")
    run(sync.updated({"server.protocol": "first-k", "server.aggregate_k": 8}), tmp_path / "fk")
    for name in FILES:
        assert (tmp_path / "sync" / name).read_bytes() == (tmp_path / "fk" / name).read_bytes()


def test_max_time_ends_the_run_there_and_changes_nothing_before(tmp_path):
    """The round under way at run.max_time_s is stopped there and not aggregated: the run's
    rounds are the complete ones, each as in a run without the limit."""
    s = Scenario.load(DEFAULT).updated({**BASE, "run.rounds": 50})
    full = run(s.updated({"run.rounds": 8}), tmp_path / "full")
    limit = 0.5 * (full.rounds[4]["t_end"] + full.rounds[5]["t_end"])  # inside round 6
    cut = run(s.updated({"run.max_time_s": limit}), tmp_path / "cut")
    assert cut.rounds == full.rounds[:5] and cut.clients == full.clients[: len(cut.clients)]
    events = read_events(tmp_path / "cut")
    assert all(e["t"] <= limit for e in events)
    sixth = [e for e in events if e.get("round") == 6]
    assert sixth[0]["kind"] == "round_start" and not [e for e in sixth if e["kind"] == "aggregate"]
    stopped = [e for e in sixth if e["kind"] == "stopped"]
    assert stopped and all(e["t"] == limit and e["reason"] == "max_time" for e in stopped)
    ended = {e["client"] for e in sixth if e["kind"] in ("upload_end", "deadline_miss")}
    scheduled = {e["client"] for e in sixth if e["kind"] == "allocation"}
    assert {e["client"] for e in stopped} | ended == scheduled  # everyone accounted for


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"server.protocol": "fedbuff", "channel.frequency_selective": True}, "not built yet"),
        ({"server.protocol": "gossip"}, "server.protocol"),
        ({"server.protocol": "first-k", "server.aggregate_k": 9}, "must be <= clients.per_round"),
        ({"server.aggregate_k": 2}, "read by server.protocol = 'first-k' only"),
        ({"run.max_time_s": -1.0}, "run.max_time_s"),
    ],
)
def test_bad_protocol_fields_are_refused_naming_them(changes, words):
    with pytest.raises(ScenarioError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Scenario.load(DEFAULT).updated({**BASE, **changes})


def test_with_a_time_limit_the_last_complete_round_is_evaluated(tmp_path):
    from conftest import TINY

    s = Scenario.load(TINY).updated(
        {"run.rounds": 50, "run.max_time_s": 2.5, "server.eval_every": 1000}
    )
    result = run(s, tmp_path / "run")
    assert 1 < len(result.rounds) < 50 and result.rounds[-1]["t_end"] <= 2.5
    assert not math.isnan(result.rounds[-1]["accuracy"])  # the run's final model, evaluated
