"""Sync and first-k rounds over several cells: one allocator call per cell on its own band,
planned shares held within each cell, handovers in the rounds' simulated time, per-cell
scheduling, and a resumed run equal to an uninterrupted one."""

import csv
import json
from collections import Counter, defaultdict

import pytest
from conftest import read_events
from test_cells_run import HEX, _penalties
from test_checkpoint import Stop

from cosim import Scenario, run

SYNC = {
    **HEX,
    "server.protocol": "sync",
    "server.buffer_size": 0,
    "run.rounds": 4,
    "run.max_time_s": 0.0,
    "clients.per_round": 10,
}


def _scenario(**more):
    return Scenario().updated({**SYNC, **more})


@pytest.fixture(scope="module")
def sync_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sync") / "run"
    run(_scenario(), out)
    return out


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_each_cell_splits_its_own_band_among_the_clients_it_serves(sync_run):
    """The equal allocator, called once per cell: every client of a cell at the round's
    start (its `csi` event's cell) gets the band over that cell's clients."""
    events = read_events(sync_run)
    cell = {(e["round"], e["client"]): e["cell"] for e in events if e["kind"] == "csi"}
    assert len(cell) == 40  # every scheduled client has its csi event
    by_round_cell = Counter((r, c) for (r, _), c in cell.items())
    assert max(by_round_cell.values()) >= 2  # some cell serves two clients at once
    band = SYNC["channel.bandwidth_hz"]
    for e in events:
        if e["kind"] == "allocation" and not e["excluded"]:
            n = by_round_cell[(e["round"], cell[(e["round"], e["client"])])]
            assert e["bandwidth_hz"] == pytest.approx(band / n, rel=1e-12)


def test_handovers_and_re_splits_happen_inside_sync_rounds(sync_run):
    events = read_events(sync_run)
    rounds = {int(r["round"]): r for r in _rows(sync_run / "rounds.csv")}
    assert sorted(rounds) == [1, 2, 3, 4]
    hos = [e for e in events if e["kind"] == "handover"]
    assert hos, "cars at 100-150 km/h in 500 m cells hand over within 4 rounds of 2 s"
    for e in hos:  # within its round
        r = rounds[e["round"]]
        assert float(r["t_start"]) <= e["t"] <= float(r["t_end"])
    made = Counter((e["round"], e["client"]) for e in hos)
    rows = _rows(sync_run / "clients.csv")
    assert len(rows) == 40 and {"cell", "handovers"} <= set(rows[0])
    for row in rows:
        assert int(row["handovers"]) == made[(int(row["round"]), int(row["client"]))]
    band = SYNC["channel.bandwidth_hz"]
    splits = [e for e in events if e["kind"] == "reallocation"]
    assert splits and all("cell" in e for e in splits)
    for e in splits:
        assert e["assigned_hz"] <= band * (1 + 1e-9)
    counted = Counter(e["round"] for e in splits)
    for r, row in rounds.items():
        assert int(row["reallocations"]) == counted[r]
    # a round ends at its deadline or when its last update is in
    for row in rounds.values():
        assert float(row["t_end"]) <= float(row["t_start"]) + SYNC["deadline.seconds"] + 1e-9


def test_first_k_over_cells_takes_the_first_k_updates_and_stops_the_rest(tmp_path):
    s = _scenario(**{"server.protocol": "first-k", "server.aggregate_k": 6})
    run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    agg = [e for e in events if e["kind"] == "aggregate"]
    assert [len(e["clients"]) for e in agg] == [6] * 4
    stopped = Counter(e["round"] for e in events if e["kind"] == "stopped")
    ended = Counter(e["round"] for e in events if e["kind"] in ("deadline_miss", "upload_end"))
    for r in range(1, 5):
        assert stopped[r] + ended[r] == 10
        first_six = sorted(e["t"] for e in events if e["kind"] == "upload_end" and e["round"] == r)
        assert len(first_six) == 6
        assert all(
            e["t"] == first_six[-1] for e in events if e["kind"] == "stopped" and e["round"] == r
        )


def test_per_cell_scheduling_draws_that_many_of_each_cells_campers_every_round(tmp_path):
    s = _scenario(**{"clients.count": 200, "clients.per_cell": 1, "run.rounds": 2})
    run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    per = defaultdict(list)
    for e in events:
        if e["kind"] == "csi":
            per[e["round"]].append(e["cell"])
    for cells in per.values():
        assert sorted(cells) == list(range(21))


def test_a_sync_run_over_cells_resumes_to_the_same_outputs(tmp_path):
    from cosim.running.runner import resume

    s = _scenario(**{"output.checkpoint_min_s": 0.0, "cells.interference_window_s": 1.0})

    def watch(event):
        if event["kind"] == "aggregate" and event["round"] == 3:
            raise Stop

    run(s, tmp_path / "full")
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[watch])
    saved = json.loads((tmp_path / "part" / "checkpoint" / "state.json").read_text())
    assert saved["round"] == 2
    resume(tmp_path / "part")
    for name in ("events.jsonl", "rounds.csv", "clients.csv"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "part" / name).read_bytes()


def test_plans_see_the_interference_the_cells_measured_before_the_round(tmp_path):
    """Sync: at a round's start nothing is on air, so a plan at the CSI instant sees no
    interference; with cells.interference_window_s it sees the previous round's average."""
    run(_scenario(), tmp_path / "now")
    assert max(p for _, p in _penalties(read_events(tmp_path / "now"))) < 1e-9
    run(_scenario(**{"cells.interference_window_s": 1.0}), tmp_path / "avg")
    pen = _penalties(read_events(tmp_path / "avg"))
    assert max(p for e, p in pen if e["round"] == 1) < 1e-9  # nothing measured before
    assert max(p for e, p in pen if e["round"] > 1) > 0.1
