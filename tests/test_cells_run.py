"""Runs over a multi-site layout (cells.layout = "hex"): scenario checks, clients over the
layout, the serving cell and its handovers in simulated time, per-cell bands, resume."""

import csv
import json
from collections import defaultdict

import numpy as np
import pytest
from conftest import read_events
from test_checkpoint import Stop

from cosim import Scenario, ScenarioError, run
from cosim.world.build import build_air
from cosim.world.cells import layout_of

HEX = {
    "fl.mode": "surrogate",
    "cells.layout": "hex",
    "channel.model": "uma",
    "channel.dt": 0.005,
    "channel.bandwidth_hz": 5e6,
    "channel.indoor_ratio": 0.0,
    "channel.in_car_ratio": 0.0,
    "clients.count": 30,
    "clients.per_round": 8,
    "mobility.model": "linear",  # cars at 100-150 km/h, as mobility.preset = "high_speed"
    "mobility.speed_min_mps": 27.8,
    "mobility.speed_max_mps": 41.7,
    "server.protocol": "fedbuff",
    "server.buffer_size": 4,
    "deadline.seconds": 2.0,
    "run.rounds": 1000,
    "run.max_time_s": 5.0,
    "run.seed": 3,
}


def _scenario(**more):
    return Scenario().updated({**HEX, **more})


@pytest.fixture(scope="module")
def hex_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hex") / "run"
    run(_scenario(), out)
    return out


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"channel.model": "rayleigh"}, "needs a 38.901 channel.model"),
        (
            {
                "channel.frequency_selective": True,
                "server.protocol": "sync",
                "server.buffer_size": 0,
            },
            "channel.frequency_selective with cells.layout",
        ),
        ({"cells.strongest_sites": 8}, "must be <= the layout's sites (7"),
        ({"cells.handover_share": "free"}, "read by server.protocol = 'sync' or 'first-k' only"),
        ({"cells.sectors": 2}, "cells.sectors"),
    ],
)
def test_a_hex_layout_refuses_what_it_cannot_run_naming_the_field(changes, words):
    with pytest.raises(ScenarioError) as e:
        _scenario(**changes)
    assert words in str(e.value)


def test_the_single_layout_is_the_default_and_writes_no_cell_columns():
    s = Scenario()
    assert s.cells.layout == "single" and not s.cells.multi
    from cosim.outputs.tables import client_columns

    assert "cell" not in client_columns("fixed", True)
    assert client_columns("fixed", True, True)[-2:] == ("cell", "handovers")


def test_clients_start_over_the_layout_and_cars_wrap_around_it():
    s = _scenario(**{"clients.count": 200})
    air = build_air(s)
    lay = layout_of(s)
    t = np.arange(0.0, 60.0, 0.5)
    pos = air.mobility.positions(t)
    assert lay.inside(pos[:, :, :2]).all()  # folded back into the layout at every instant
    start = pos[:, 0, :2]
    assert np.linalg.norm(lay.offsets(start), axis=-1).min() >= s.clients.min_distance_m
    # the layout's radius is ~1.2 km: cars at 28-42 m/s cross it within a minute, so every
    # one of them re-entered on the far side at least once (a jump of more than a step's path)
    jumps = np.linalg.norm(np.diff(pos[:, :, :2], axis=1), axis=-1) > 42.0 * 0.5 + 1e-6
    assert jumps.any(axis=1).mean() > 0.9


def test_the_window_trace_follows_the_serving_cell_of_its_links(tmp_path):
    """The trace toward the serving cell equals its links' gain (large scale + fading) at
    every step, and the serving cell changes exactly at the handovers A3 found."""
    s = _scenario(**{"clients.count": 40})
    air = build_air(s)
    ch = air.radio.channel
    clients = np.arange(40)
    steps = np.arange(0, 1200)
    t = steps * s.channel.dt
    tr = ch.trace(
        clients, steps, air.mobility.positions(t, clients), air.mobility.velocities(t, clients)
    )
    moved = 0
    for i, lk in enumerate(tr.links):
        col = np.array([np.flatnonzero(lk.cells == c)[0] for c in tr.cell[i]])
        rows = np.arange(len(steps))
        want = lk.gain_db[rows, col] + lk.fading_db[rows, col]
        np.testing.assert_allclose(tr.gain_db[i], want, rtol=0, atol=1e-9)
        assert tr.cell[i, 0] == lk.serving
        cell = lk.serving
        for h in lk.handovers:
            assert h.source == cell and h.target != cell
            assert h.rsrp_target_dbm > h.rsrp_source_dbm + s.cells.hysteresis_db
            after = np.searchsorted(t, h.t, side="left")
            assert tr.cell[i, after] == h.target
            cell = h.target
            moved += 1
    assert moved >= 5  # cars at 100-150 km/h for 6 s in a 500 m layout hand over


def test_a_hex_run_hands_over_in_simulated_time_and_counts_it_per_job(hex_run):
    events = read_events(hex_run)
    hos = [e for e in events if e["kind"] == "handover"]
    assert hos and all(e["source"] != e["target"] for e in hos)
    assert {e["uploading"] for e in hos} == {True, False}
    times = [e["t"] for e in events]
    assert times == sorted(times)  # the log stays in time order
    with open(hex_run / "clients.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["handovers"]) for r in rows) == len(hos)
    last = {}
    for e in hos:
        last[e["job"]] = e["target"]
    ended = {e["job"]: e for e in events if e["kind"] in ("upload_end", "client_missed")}
    assert ended  # jobs ended and were counted
    cells = {int(r["cell"]) for r in rows}
    assert len(cells) >= 5 and max(cells) < 21  # 7 sites x 3 sectors


def test_each_cells_band_is_never_over_assigned_in_a_run(hex_run):
    splits = [e for e in read_events(hex_run) if e["kind"] == "reallocation"]
    per_cell = defaultdict(int)
    for e in splits:
        assert sum(e["after_share"]) <= 1 + 1e-9
        assert e["assigned_hz"] <= e["pool_hz"] * (1 + 1e-9)
        per_cell[e["cell"]] += 1
    assert len(per_cell) >= 5


def test_interruptions_pause_uploads_in_a_run(hex_run):
    """An upload handed over sends nothing for handover_interrupt_s: a job with a handover
    on air takes longer than its bits at the rate before it would."""
    events = read_events(hex_run)
    on_air = [e for e in events if e["kind"] == "handover" and e["uploading"]]
    assert on_air
    for e in on_air:
        assert e["interrupt_s"] == pytest.approx(0.05)


def _stop_at_version(v):
    def watch(event):
        if event["kind"] == "aggregate" and event["round"] == v:
            raise Stop

    return watch


def test_a_hex_run_resumes_across_handovers_to_the_same_outputs(tmp_path):
    from cosim.running.runner import resume

    s = _scenario(**{"run.max_time_s": 4.0, "output.checkpoint_min_s": 0.0})
    run(s, tmp_path / "full")
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[_stop_at_version(4)])
    saved = json.loads((tmp_path / "part" / "checkpoint" / "state.json").read_text())
    assert saved["round"] >= 2
    before = [e for e in read_events(tmp_path / "full") if e["kind"] == "handover"]
    cut = max(e["t"] for e in read_events(tmp_path / "part"))
    assert any(e["t"] < cut for e in before) and any(e["t"] > cut for e in before)
    resume(tmp_path / "part")
    for name in ("events.jsonl", "rounds.csv", "clients.csv"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "part" / name).read_bytes()


def test_per_cell_placement_puts_as_many_clients_in_every_cell():
    s = _scenario(**{"clients.count": 44, "clients.placement": "per_cell"})
    air = build_air(s)
    lay = layout_of(s)
    start = air.mobility.positions(np.zeros(1))[:, 0, :2]
    counts = np.bincount(lay.cell_of(start), minlength=lay.cells)
    assert counts.tolist() == [3, 3] + [2] * 19  # 44 over 21 cells: the first 2 get one more
    assert lay.inside(start).all()
    with pytest.raises(ScenarioError, match="needs several cells"):
        Scenario().updated({"clients.placement": "per_cell"})


def test_the_geometric_cell_is_the_nearest_site_and_the_sector_facing_the_position():
    s = _scenario()
    lay = layout_of(s)
    # 100 m from the centre site at azimuths 30, 150, 270 (the boresights) and 89 degrees
    az = np.radians([30.0, 150.0, 270.0, 89.0])
    xy = 100.0 * np.column_stack([np.cos(az), np.sin(az)])
    assert lay.cell_of(xy).tolist() == [0, 1, 2, 0]
    near = lay.sites[4] + np.array([0.0, -60.0])  # below site 4: azimuth 270 -> sector 2
    assert lay.cell_of(near[None])[0] == 4 * 3 + 2


def test_per_cell_scheduling_keeps_that_many_busy_in_every_cell(tmp_path):
    """clients.per_cell = 1: the first batch starts one job in every cell, from a client
    camping on it (its `csi` event's cell), and a cell never has two jobs drawn for it."""
    s = _scenario(**{"clients.count": 300, "clients.per_cell": 1, "run.max_time_s": 3.0})
    assert s.concurrency == 21
    run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    first = [e for e in events if e["kind"] == "csi" and e["t"] == 0.0]
    assert sorted(e["cell"] for e in first) == list(range(21))
    busy, home = defaultdict(int), {}
    for e in events:
        if e["kind"] == "csi":
            home[e["client"]] = e["cell"]
            busy[e["cell"]] += 1
            assert busy[e["cell"]] <= 1
        elif e["kind"] in ("upload_end", "deadline_miss", "stopped", "update_dropped"):
            busy[home.pop(e["client"])] -= 1
    with pytest.raises(ScenarioError, match=r"server\.concurrency"):
        _scenario(**{"clients.per_cell": 1, "server.concurrency": 5})
    with pytest.raises(ScenarioError, match="needs several cells"):
        Scenario().updated({"clients.per_cell": 1})


def test_the_trace_of_several_cells_agrees_with_a_run_wherever_they_serve_alike(tmp_path):
    """The trace connects every client from t = 0 (A3 over its whole trace), a run from each
    job's start: their serving cells may differ, but wherever they agree every channel term
    is the same value (a function of the seed, the client, its position and the cell)."""
    from cosim.outputs.channel_npz import read_channel
    from cosim.running.trace import trace_channel

    s = _scenario(**{"output.channel": True, "run.max_time_s": 2.0})
    run(s, tmp_path / "run")
    trace_channel(s, 2.5, tmp_path / "trace")
    ran, tr = (
        read_channel(tmp_path / "run" / "channel.npz"),
        read_channel(tmp_path / "trace" / "channel.npz"),
    )
    assert tr.dense("cell").min() >= 0  # every client, every step
    same = checked = 0
    for client in range(s.clients.count):
        a, b = ran.samples(client), tr.samples(client)
        if not len(a["step"]):
            continue
        at = b["step"].searchsorted(a["step"])
        agree = b["cell"][at] == a["cell"]
        same += int(agree.sum())
        checked += len(agree)
        for name in (
            "pathloss_db",
            "shadowing_db",
            "fading_gain",
            "antenna_gain_db",
            "distance_3d_m",
        ):
            np.testing.assert_allclose(b[name][at][agree], a[name][agree], rtol=1e-9, atol=0)
    assert checked and same / checked > 0.8


def test_random_waypoints_are_uniform_over_a_wrapped_layout():
    """Waypoints: a uniform point of one cell of the wrap-around lattice, folded into the
    layout — uniform over it, so each of the 21 equal cells gets 1/21 of them (4 standard
    errors of a binomial share over 21,000 draws)."""
    s = _scenario(**{"mobility.model": "random_waypoint", "clients.count": 50})
    air = build_air(s)
    lay = layout_of(s)
    n = 21_000
    u = np.random.default_rng(5).random((n, 3))
    p = np.zeros((n, 3))
    p[:, 0] = 3000.0  # a walker in another copy of the layout: its target lies in that copy
    xy = air.mobility._waypoints(u, p)
    folded = lay.wrap(xy)
    assert np.allclose(xy - folded, (p[:, :2] - lay.wrap(p[:, :2]))[0])
    share = np.bincount(lay.cell_of(folded), minlength=21) / n
    se = np.sqrt((1 / 21) * (20 / 21) / n)
    assert np.all(np.abs(share - 1 / 21) < 4 * se), share
    pos = air.mobility.positions(np.arange(0.0, 120.0, 1.0))
    assert lay.inside(pos[:, :, :2]).all()


def test_tsfa_stage1_scores_on_each_clients_strongest_cell(tmp_path):
    s = _scenario(
        **{
            "allocation.name": "tsfa",
            "strategy.name": "soft",
            "allocation.stage1": True,
            "run.max_time_s": 1.5,
        }
    )
    air = build_air(s)
    start = air.mobility.positions(np.zeros(1))[:, 0]
    ch = air.radio.channel
    got = ch.strongest_gain_db(np.arange(30), start)
    every = ch.sites.links(np.arange(30), start[:, None, :]).gain_db[:, 0]
    np.testing.assert_array_equal(got, every.max(axis=-1))
    cells = ch.camping(np.arange(30), start)
    np.testing.assert_array_equal(every[np.arange(30), cells], got)
    run(s, tmp_path / "run")
    assert [e for e in read_events(tmp_path / "run") if e["kind"] == "stage1"]


def test_channel_npz_of_a_hex_run_holds_the_serving_cell_and_the_figures_draw(tmp_path):
    from cosim.analysis import plots
    from cosim.outputs.channel_npz import read_channel

    s = _scenario(**{"output.channel": True, "run.max_time_s": 2.0})
    run(s, tmp_path / "run")
    ch = read_channel(tmp_path / "run" / "channel.npz")
    events = read_events(tmp_path / "run")
    dt = s.channel.dt
    for e in [e for e in events if e["kind"] == "csi"][:20]:
        got = ch.samples(e["client"])
        at = np.flatnonzero(got["step"] == round(e["t"] / dt))
        assert len(at) and got["cell"][at[0]] == e["cell"]
    hos = [e for e in events if e["kind"] == "handover" and e["uploading"]]
    for e in hos[:5]:  # the serving cell changes to the target from the handover's step on
        got = ch.samples(e["client"])
        later = got["step"] > e["t"] / dt + 1
        assert got["cell"][later][0] == e["target"]
    names = {p.name for p in plots.plot_run(tmp_path / "run")}
    assert {"positions.png", "snr.png", "timeline.png"} <= names


def test_the_downlink_over_cells_is_multicast_per_cell_under_full_load_interference():
    """downlink.model = "channel" over several cells: each cell multicasts to the clients it
    serves at the worst of their rates, and every other kept cell's base station transmits at
    full power (full load): the gain a download sees is the serving gain less 10·log10(1+I/N)."""
    from types import SimpleNamespace

    from channels import LinkBudget, Shannon
    from cosim.engine.downlink import Downlink

    s = _scenario(**{"downlink.model": "channel", "server.broadcast_s": 0.0})
    air = build_air(s)
    clients, steps = np.arange(12), np.arange(0, 200)
    t = steps * s.channel.dt
    pos, vel = air.mobility.positions(t, clients), air.mobility.velocities(t, clients)
    tr = air.radio.channel.trace(clients, steps, pos, vel)
    d = s.downlink
    dl = Downlink(d, LinkBudget(d.tx_power_dbm, d.noise_figure_db), Shannon())
    gain, cell = dl._sinr_gain_db(SimpleNamespace(trace=tr))
    noise = 10 ** (dl.link.noise_dbm(d.bandwidth_hz) / 10)
    for i, j in [(0, 0), (3, 57), (11, 199)]:
        lk = tr.links[i]
        others = [
            10 ** (g / 10)
            for g, c in zip(lk.gain_db[j], lk.cells, strict=True)
            if c != tr.cell[i, j]
        ]
        want = tr.gain_db[i, j] - 10 * np.log10(
            1 + 10 ** (d.tx_power_dbm / 10) * sum(others) / noise
        )
        assert gain[i, j] == pytest.approx(want, abs=1e-9)
    rate = dl._rates(gain, cell)
    alone = dl._rates(gain, np.arange(12)[:, None] + 1000 * np.ones_like(cell))  # each its own
    for j in (0, 100):
        for c in np.unique(cell[:, j]):
            mine = cell[:, j] == c
            assert np.all(rate[mine, j] == alone[mine, j].min())
    assert len(np.unique(cell[:, 0])) > 1 and len(np.unique(rate[:, 0])) > 1


def _penalties(events):
    """Per allocation event with band: how much lower its planned SNR is than the CSI gain
    alone gives (SNR − gain + 10·log10(band) is the same constant for every noise-only plan)."""
    gain = {(e["round"], e["client"], e["t"]): e["gain_db"] for e in events if e["kind"] == "csi"}
    c = [
        (
            e,
            e["snr_db"]
            - gain[(e["round"], e["client"], e["t"])]
            + 10 * np.log10(e["bandwidth_hz"]),
        )
        for e in events
        if e["kind"] == "allocation" and e["bandwidth_hz"] > 0
    ]
    top = max(v for _, v in c)
    return [(e, top - v) for e, v in c]


def test_fedbuff_start_plans_see_the_interference_at_the_csi_instant(hex_run):
    pen = _penalties(read_events(hex_run))
    assert max(p for e, p in pen if e["t"] == 0.0) < 1e-9  # the first batch: nobody on air
    assert max(p for _, p in pen) > 0.1
