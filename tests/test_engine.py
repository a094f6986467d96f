"""Engine: round flow, deadline semantics, bookkeeping consistency, channel trace output."""

import csv
from collections import defaultdict

import numpy as np
import pytest
from conftest import TINY, read_events

from cosim import load_scenario, run
from cosim.analysis.compare import compare_runs
from cosim.analysis.plots import plot_run
from cosim.engine.grid import RoundGrid, grid_steps


def test_grid_steps_cover_the_window():
    s = grid_steps(0.3, 1.0, 0.1)
    assert s[0] * 0.1 <= 0.3 and (s[-1] + 1) * 0.1 >= 1.0 - 1e-12
    assert list(grid_steps(0.0, 0.05, 0.01)) == [0, 1, 2, 3, 4]
    assert len(grid_steps(2.0, 2.0, 0.5)) >= 1


def test_round_grid_maps_instants_to_steps():
    g = RoundGrid.for_round(0.6, 0.75, 2.0, 0.25)  # CSI 0.15 s before a round at 0.75 s
    assert list(g.steps) == [2, 3, 4, 5, 6, 7] and g.j0 == 1
    assert g.t0 == 0.5 and g.end == 2.0 and list(g.times) == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert g.column(0.55) == 0 and g.column(0.8) == 1 and g.column(-5.0) == 0
    assert g.column(99.0) == g.n - 1 and g.column_from(1.9) == g.n - 1


def test_rounds_yield_each_row_as_it_ends_and_the_clock_waits_between(tmp_path):
    from cosim.engine.simulation import Simulation
    from cosim.outputs.events import EventLog
    from cosim.outputs.tables import CLIENT_COLUMNS, ROUND_COLUMNS, CsvTable
    from cosim.world.build import build_world

    world = build_world(load_scenario(TINY).updated({"fl.mode": "surrogate", "run.rounds": 3}))
    log = EventLog(tmp_path / "events.jsonl")
    sim = Simulation(world, log, CsvTable(None, ROUND_COLUMNS), CsvTable(None, CLIENT_COLUMNS))
    rounds = sim.rounds()
    first = next(rounds)
    assert first.round == 1 and sim.env.now == first.t_end and sim.first_round == 2
    events_after_one = log.count
    assert sim.env.now == first.t_end and log.count == events_after_one  # nothing ran meanwhile
    rest = list(rounds)
    assert [r.round for r in rest] == [2, 3] and rest[0].t_start == first.t_end


def test_round_flow_and_event_order(tiny_run):
    out, result = tiny_run
    events = read_events(out)
    times = [e["t"] for e in events]
    assert times == sorted(times)
    assert events[0]["kind"] == "run_start" and events[0]["learning_free"] is False
    assert events[1]["kind"] == "eval" and events[1]["round"] == 0
    rounds = result.scenario.run.rounds
    for r in range(1, rounds + 1):
        kinds = [e["kind"] for e in events if e["round"] == r]
        assert kinds[0] == "round_start" and kinds[-2:] == ["aggregate", "eval"]
        assert kinds.count("csi") == kinds.count("allocation") == result.scenario.clients.per_round
        assert kinds.index("broadcast") > max(i for i, k in enumerate(kinds) if k == "allocation")


def test_every_client_ends_on_time_or_at_the_deadline(tiny_run):
    out, _result = tiny_run
    events = read_events(out)
    deadline = {e["round"]: e["deadline"] for e in events if e["kind"] == "round_start"}
    per = defaultdict(list)
    for e in events:
        if "client" in e and e["kind"] not in ("csi", "allocation", "reallocation"):
            per[(e["round"], e["client"])].append(e)
    resplit = {e["round"] for e in events if e["kind"] == "reallocation"}
    for (r, _k), evs in per.items():
        kinds = [e["kind"] for e in evs]
        assert kinds[0] == "train_start"
        assert (kinds[-1] == "upload_end") != (kinds[-1] == "deadline_miss")
        last = evs[-1]
        if last["kind"] == "upload_end":
            assert kinds == ["train_start", "train_end", "upload_start", "upload_end"]
            assert last["t"] <= deadline[r]
            # static, fading-free channel: the plan is exact, or beaten when freed band was
            # re-split among the uploads
            if r in resplit:
                assert last["realised_s"] <= last["predicted_s"] * (1 + 1e-9)
            else:
                assert last["realised_s"] == pytest.approx(last["predicted_s"], rel=1e-9)
        else:
            assert last["t"] == pytest.approx(deadline[r])
            assert 0 <= last["bits"] < last["payload_bits"]


def test_tables_agree_with_events(tiny_run):
    out, result = tiny_run
    events = read_events(out)
    rows = list(csv.DictReader((out / "rounds.csv").open()))
    clients = list(csv.DictReader((out / "clients.csv").open()))
    assert len(rows) == result.scenario.run.rounds
    for row in rows:
        r = int(row["round"])
        ends = [e for e in events if e["round"] == r and e["kind"] == "upload_end"]
        misses = [e for e in events if e["round"] == r and e["kind"] == "deadline_miss"]
        agg = next(e for e in events if e["round"] == r and e["kind"] == "aggregate")
        assert int(row["on_time"]) == len(ends) and int(row["late"]) == len(misses)
        assert sorted(agg["clients"]) == sorted(e["client"] for e in ends)
        assert float(row["bits_up"]) == pytest.approx(sum(e["bits"] for e in ends + misses))
        crow = [c for c in clients if int(c["round"]) == r]
        assert len(crow) == int(row["scheduled"])
        assert sum(c["on_time"] == "True" for c in crow) == len(ends)
    assert 0 < result.on_time_share < 1  # the tiny deadline cuts someone off


def test_channel_npz_has_the_samples_on_air(tiny_run):
    """channel.npz holds one sample per scheduled client and step of its rounds (not clients
    x time), every client's position at each round start, and a dense view on request."""
    from cosim import read_channel

    out, result = tiny_run
    s = result.scenario
    ch = read_channel(out / "channel.npz")
    z = ch.arrays
    k, n = s.clients.count, len(z["t"])
    assert int(z["format"]) == 2 and np.allclose(np.diff(z["t"]), s.channel.dt)
    assert float(z["dt"]) == s.channel.dt and float(z["carrier_hz"]) == s.channel.carrier_hz
    assert z["bs_position"].tolist() == [0.0, 0.0, s.channel.bs_height_m]
    assert n * s.channel.dt >= result.rounds[-1]["t_end"] - s.channel.dt
    # one sample per (scheduled client, step of its round), sorted by client then step
    per_round = {}
    for row in result.clients:
        per_round.setdefault(int(row["round"]), []).append(int(row["client"]))
    keys = list(zip(z["sample_client"].tolist(), z["sample_step"].tolist(), strict=True))
    assert keys == sorted(set(keys))
    for r, clients in per_round.items():
        assert set(z["sample_client"][z["sample_round"] == r].tolist()) == set(clients)
    assert z["positions"].shape == (len(keys), 3) and np.all(np.isfinite(z["pathloss_db"]))
    assert np.all(np.isin(z["los"], [0, 1]))
    assert z["round_positions"].shape == (s.run.rounds, k, 3)
    assert z["round_t"].tolist() == [float(r["t_start"]) for r in result.rounds]
    # the dense view: NaN (-1 for los) where a client was not on air
    snr = ch.dense("snr_db")
    assert snr.shape == (k, n) and ch.dense("positions").shape == (k, n, 3)
    on_air = ch.dense("los") >= 0
    assert np.array_equal(on_air, np.isfinite(ch.dense("pathloss_db")))
    assert on_air.sum() == len(keys) and on_air.any() and not on_air.all()
    first = ch.samples(int(z["sample_client"][0]))
    assert np.array_equal(
        first["snr_db"], snr[int(z["sample_client"][0])][first["step"]], equal_nan=True
    )


def test_training_misses_skip_host_work_and_leave_the_model_unchanged(tmp_path):
    s = load_scenario(TINY, ["compute.min_tflops=1e-4", "compute.max_tflops=1e-4"])
    result = run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    assert result.host.trained_updates == 0
    assert all(not e["host_trained"] for e in events if e["kind"] == "train_start")
    misses = [e for e in events if e["kind"] == "deadline_miss"]
    assert len(misses) == s.run.rounds * s.clients.per_round
    assert all(e["phase"] == "train" and e["bits"] == 0 for e in misses)
    evals = [e["accuracy"] for e in events if e["kind"] == "eval"]
    assert len(set(evals)) == 1  # nothing arrived, nothing changed
    assert all(r["bits_up"] == 0 and r["on_time"] == 0 for r in result.rounds)


def test_eval_every_evaluates_those_rounds_and_the_last_and_changes_nothing_else(
    tiny_run, tmp_path
):
    _out, full = tiny_run
    s = load_scenario(TINY, ["run.rounds=3", "server.eval_every=2"])
    every = run(s, tmp_path / "every", progress=False)
    evals = [e["round"] for e in read_events(tmp_path / "every") if e["kind"] == "eval"]
    assert evals == [0, 2, 3]  # the start, every 2nd round, and the last
    acc = [r["accuracy"] for r in every.rounds]
    assert acc[0] == "" and all(isinstance(a, float) for a in acc[1:])  # "": not evaluated
    # evaluation is host work only: the first rounds match the every-round run exactly
    for a, b in zip(every.rounds[:2], full.rounds, strict=True):
        assert a["t_end"] == b["t_end"] and a["bits_up"] == b["bits_up"]
    assert every.rounds[1]["accuracy"] == full.rounds[1]["accuracy"]
    figures = plot_run(tmp_path / "every")  # rounds without an evaluation are left out
    assert all(f.is_file() for f in figures)
    rows, _ = compare_runs([tmp_path / "every"], target=0.0, out_csv=tmp_path / "c.csv")
    assert rows[0]["final_accuracy"] == every.final_accuracy


def test_same_seed_same_bytes_other_seed_other_events(tiny_run, tmp_path):
    out, _result = tiny_run
    again = tmp_path / "again"
    run(load_scenario(TINY), again)
    for name in ("events.jsonl", "rounds.csv", "clients.csv", "scenario.toml"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    with np.load(out / "channel.npz") as a, np.load(again / "channel.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    other = tmp_path / "other"
    run(load_scenario(TINY, ["run.seed=8"]), other)
    assert (other / "events.jsonl").read_bytes() != (out / "events.jsonl").read_bytes()


def test_resolved_scenario_reruns_identically(tiny_run, tmp_path):
    out, _ = tiny_run
    rerun = tmp_path / "rerun"
    run(load_scenario(out / "scenario.toml"), rerun)
    assert (rerun / "events.jsonl").read_bytes() == (out / "events.jsonl").read_bytes()


@pytest.mark.slow
def test_default_scenario_learns_well_above_chance(tmp_path):
    s = load_scenario(TINY.parent / "default.toml", ["run.rounds=4", "output.channel=false"])
    result = run(s, tmp_path / "default")
    assert result.final_accuracy > 0.6  # five classes: chance is about 0.23 (majority class)
    assert result.rounds[-1]["accuracy"] > result.rounds[0]["accuracy"] - 0.05


def test_moving_fading_run_logs_stale_noisy_csi_and_plan_gaps(tmp_path):
    sets = [
        "channel.model=rayleigh",
        "mobility.preset=vehicular",
        "channel.csi_delay_s=0.05",
        "channel.csi_error_db=2.0",
        "run.rounds=3",
        "compute.min_tflops=0.005",
        "compute.max_tflops=0.01",
        "channel.bandwidth_hz=1e6",
    ]
    s = load_scenario(TINY, sets)
    result = run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    csi = [e for e in events if e["kind"] == "csi"]
    assert all(e["age_s"] == pytest.approx(min(0.05, e["t"])) for e in csi)
    assert any(e["age_s"] > 0 for e in csi)
    assert all(e["error_db"] == pytest.approx(e["gain_db"] - e["true_gain_db"]) for e in csi)
    assert all(e["speed_mps"] > 5 for e in csi)
    ends = [e for e in events if e["kind"] == "upload_end"]
    assert ends, "some upload should arrive"
    gaps = [abs(e["realised_s"] - e["predicted_s"]) / e["predicted_s"] for e in ends]
    assert max(gaps) > 0.01  # the channel moved between the estimate and the upload
    tx_w = 10 ** (s.channel.tx_power_dbm / 10) / 1000
    for row in result.clients:
        if row["miss"] != "train":
            expected = s.compute.device_power_w * row["train_s"] + tx_w * row["upload_s"]
            assert row["energy_j"] == pytest.approx(expected)
    with np.load(tmp_path / "run" / "channel.npz") as z:
        for name in ("speed", "shadowing_db", "penetration_db", "fading_gain"):
            assert z[name].shape == z["snr_db"].shape, name
        assert z["fading_gain"].std() > 0.1 and np.all(z["speed"] >= 0)


@pytest.mark.parametrize("name", ["ffa-lora", "topk", "svd", "random-rank", "soft"])
def test_every_strategy_runs_and_logs_the_error_terms(name, tmp_path):
    sets = [f"strategy.name={name}", "run.rounds=2", "output.channel=false"]
    if name not in ("ffa-lora",):
        sets.append("strategy.budget=0.25")
    s = load_scenario(TINY, sets)
    result = run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    starts = [e for e in events if e["kind"] == "upload_start"]
    alloc = {(e["round"], e["client"]): e["bits"] for e in events if e["kind"] == "allocation"}
    assert starts and all(e["bits"] == alloc[(e["round"], e["client"])] for e in starts)
    dense = next(e["bits"] for e in events if e["kind"] == "broadcast")
    assert all(e["bits"] < dense for e in starts)  # every one of these sends less than dense
    rows = list(csv.DictReader((tmp_path / "run" / "rounds.csv").open()))
    for row in rows:
        for col in ("sep_agg_error", "sparsification_error", "orth_defect_a", "orth_defect_b"):
            if int(row["on_time"]):
                assert float(row[col]) >= 0, col
    if name != "ffa-lora":
        errs = [float(r["sparsification_error"]) for r in rows if int(r["on_time"])]
        assert errs and all(e > 0 for e in errs)
    assert result.rounds[-1]["accuracy"] >= 0


def test_non_finite_updates_are_rejected_and_the_run_goes_on(tmp_path, monkeypatch):
    import fl.train

    original = fl.train.Trainer.train
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            name = next(iter(out.state))
            out.state[name][0] = float("nan")
        return out

    monkeypatch.setattr(fl.train.Trainer, "train", poisoned)
    result = run(load_scenario(TINY, ["output.channel=false"]), tmp_path / "run")
    events = read_events(tmp_path / "run")
    rejected = [e for e in events if e["kind"] == "update_rejected"]
    assert len(rejected) == 1 and "non-finite" in rejected[0]["reason"]
    assert sum(r["rejected"] for r in result.rounds) == 1
    assert len(result.rounds) == 2 and all(np.isfinite(r["accuracy"]) for r in result.rounds)
    agg = [e for e in events if e["kind"] == "aggregate"]
    assert rejected[0]["client"] not in agg[rejected[0]["round"] - 1]["clients"]


def test_tsfa_with_static_exact_csi_and_a_feasible_deadline_has_no_misses(tmp_path):
    sets = [
        "allocation.name=tsfa",
        "strategy.name=soft",
        "run.rounds=3",
        "compute.min_tflops=1.0",
        "compute.max_tflops=2.0",
        "output.channel=false",
        "allocation.latency_target_s=0.5",
    ]
    s = load_scenario(TINY, sets)
    result = run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    assert not [e for e in events if e["kind"] == "deadline_miss"]
    assert all(r["on_time"] == r["scheduled"] for r in result.rounds)
    info = [e for e in events if e["kind"] == "allocator"]
    assert len(info) == 3 and info[0]["queue_s"] == 0.0
    for e in info:
        assert {"v", "penalty", "drift", "objective", "predicted_round_s"} <= set(e)
    # the queue follows the realised latencies: Q(t+1) = max(Q(t) + T(t) - T̄, 0)
    q = 0.0
    for row, e in zip(result.rounds, info, strict=True):
        assert e["queue_s"] == pytest.approx(q)
        q = max(q + row["t_end"] - row["t_start"] - 0.5, 0.0)
    budgets = {e["budget"] for e in events if e["kind"] == "allocation"}
    assert budgets <= set(s.allocation.budget_grid)


def test_oracle_plans_on_the_real_channel_and_everyone_finishes_together(tmp_path):
    sets = [
        "allocation.name=oracle",
        "channel.model=rayleigh",
        "mobility.preset=vehicular",
        "compute.min_tflops=0.5",
        "compute.max_tflops=1.0",
        "run.rounds=3",
        "output.channel=false",
        "channel.csi_delay_s=0.05",
        "allocation.reallocate=false",  # the plan itself is what is checked
    ]
    run(load_scenario(TINY, sets), tmp_path / "run")
    events = read_events(tmp_path / "run")
    plans = {e["round"]: e for e in events if e["kind"] == "allocator"}
    starts = {e["round"]: e["t"] for e in events if e["kind"] == "round_start"}
    assert all(p["upper_bound"] and p["feasible"] for p in plans.values())
    assert not [e for e in events if e["kind"] == "deadline_miss"]
    for e in (e for e in events if e["kind"] == "upload_end"):
        # the realised fading channel delivers exactly when the oracle planned
        assert e["t"] - starts[e["round"]] == pytest.approx(
            plans[e["round"]]["predicted_round_s"], rel=1e-6
        )
