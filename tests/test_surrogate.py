"""Learning-free mode (fl.mode = "surrogate"): profiles, drawn updates, and runs that say so."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT, TINY, read_events

from cosim import load_scenario, run
from cosim.cli import main
from fl import STRATEGIES, LoraSpec, ModelSource, Soft, SurrogateProfile, model_skeleton
from fl.strategies import RandomRank, SVDTruncated
from fl.surrogate import Surrogate, dropped_share, surrogate_template

SURROGATE = ["fl.mode=surrogate"]
RECORDED = ROOT / "scenarios" / "profiles" / "minilm_bbc_soft.json"


@pytest.fixture(scope="module")
def surrogate_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("surrogate") / "run"
    s = load_scenario(
        TINY, [*SURROGATE, "run.rounds=6", "strategy.name=soft", "strategy.budget=0.5"]
    )
    return out, run(s, out)


def test_learning_free_run_says_so_everywhere_and_trains_nothing(surrogate_run):
    out, _ = surrogate_run
    events = read_events(out)
    assert events[0]["kind"] == "run_start" and events[0]["learning_free"] is True
    assert "synthetic" in events[0]["profile"]
    assert not [e for e in events if e["kind"] == "eval"]
    aggregates = [e for e in events if e["kind"] == "aggregate"]
    assert len(aggregates) == 6 and all(e["learning_free"] for e in aggregates)
    for table in ("rounds.csv", "clients.csv"):
        rows = list(csv.DictReader((out / table).open()))
        assert rows and {r["mode"] for r in rows} == {"surrogate"}
    rounds = list(csv.DictReader((out / "rounds.csv").open()))
    assert all(r["accuracy"] == "" for r in rounds)  # no accuracy, not a made-up one
    timing = json.loads((out / "timing.json").read_text())
    assert timing["learning_free"] is True and timing["trained_updates"] == 0
    assert 'mode = "surrogate"' in (out / "scenario.toml").read_text()
    assert all(e["host_trained"] is False for e in events if e["kind"] == "train_start")
    # on-time updates carry the drawn update's dropped share (ρ = 0.5 keeps half the slots)
    errors = [float(r["sparsification_error"]) for r in rounds if int(r["on_time"]) > 0]
    assert errors and all(0.0 < e < 1.0 for e in errors)


def test_learning_free_run_is_deterministic(surrogate_run, tmp_path):
    out, result = surrogate_run
    again = tmp_path / "again"
    run(result.scenario, again)
    assert (again / "events.jsonl").read_bytes() == (out / "events.jsonl").read_bytes()


def test_cli_prints_learning_free(tmp_path):
    args = ["run", str(TINY), "--out", str(tmp_path / "r"), "--quiet", "--set", SURROGATE[0]]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "LEARNING-FREE" in res.output and "final accuracy" not in res.output


def test_bad_profile_is_a_clear_error_and_writes_nothing(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"format": "wfl-cosim surrogate profile", "rank_importance": [1, 2]}))
    out = tmp_path / "run"
    args = ["run", str(TINY), "--out", str(out), "--set", "fl.mode=surrogate"]
    res = CliRunner().invoke(main, [*args, "--set", f"fl.profile={bad}"])
    assert res.exit_code == 2
    assert "fl.profile" in res.output and "rank_importance" in res.output and str(bad) in res.output
    assert not out.exists()
    res = CliRunner().invoke(main, [*args, "--set", f"fl.profile={tmp_path / 'none.json'}"])
    assert res.exit_code == 2 and "not found" in res.output


def test_profile_round_trip_and_rank_resampling(tmp_path):
    p = SurrogateProfile.synthetic(8)
    p.save(tmp_path / "p.json")
    q = SurrogateProfile.load(tmp_path / "p.json")
    np.testing.assert_allclose(q.importance, p.importance, atol=1e-6)
    assert q.spread == p.spread
    np.testing.assert_array_equal(q.at_rank(8), q.importance)
    r4 = q.at_rank(4)
    assert len(r4) == 4 and np.all(np.diff(r4) < 0)
    recorded = SurrogateProfile.load(RECORDED)
    assert recorded.source.startswith("recorded") and len(recorded.importance) == 8


def test_skeleton_has_the_real_adapter_shapes():
    from fl import build_model
    from fl.model import get_trainable_state

    spec = LoraSpec(rank=4, alpha=8.0, targets=("query", "value"))
    real = get_trainable_state(build_model(ModelSource(layers=2), 5, spec))
    skeleton = {
        n: p
        for n, p in model_skeleton(ModelSource(layers=2), 5, spec).named_parameters()
        if p.requires_grad
    }
    assert {n: tuple(t.shape) for n, t in real.items()} == {
        n: tuple(t.shape) for n, t in skeleton.items()
    }


def test_template_carries_the_profile_and_bits_match_the_real_strategy():
    rng = np.random.default_rng(0)
    spec = LoraSpec(rank=8, alpha=16.0, targets=("query", "value"))
    skeleton = {
        n: p
        for n, p in model_skeleton(ModelSource(layers=2), 5, spec).named_parameters()
        if p.requires_grad
    }
    imp = SurrogateProfile.synthetic(8).importance
    template = surrogate_template(skeleton, imp, rng)
    soft = Soft(32, 0.01)
    # predicted error of the template = the profile's dropped share, by hand
    k = 2
    expected = float((imp[k:] ** 2).sum() / (imp**2).sum())
    assert soft.predicted_error(template, 0.25) == pytest.approx(expected, rel=1e-5)
    for name, cls in STRATEGIES.items():
        strat = cls(32, 0.0) if issubclass(cls, Soft) else cls(32)
        budgets = (1.0,) if strat.dense_only else (0.25, 1.0)
        for b in budgets:
            payload = strat.compress(template, template, b, np.random.default_rng(1))
            assert payload.bits == strat.payload_bits(template, b), (name, b)


def test_surrogate_errors_by_strategy():
    rng = np.random.default_rng(2)
    sur = Surrogate(SurrogateProfile.synthetic(8), layers=4, rank=8)
    imp = sur.draw(rng)
    assert imp.shape == (4, 8)
    top = Soft(32, 0.0).surrogate_error(imp, 0.25, rng)
    kept = np.zeros_like(imp, dtype=bool)
    np.put_along_axis(kept, np.argsort(-imp, axis=1)[:, :2], True, axis=1)
    assert top == pytest.approx(dropped_share(imp, kept))
    assert SVDTruncated(32).surrogate_error(imp, 0.25, rng) == pytest.approx(top)
    randoms = [RandomRank(32).surrogate_error(imp, 0.25, rng) for _ in range(20)]
    assert min(randoms) >= top - 1e-12 and np.mean(randoms) > top
    assert Soft(32, 0.0).surrogate_error(imp, 1.0, rng) == 0.0
    assert STRATEGIES["fedavg-lora"](32).surrogate_error(imp, 1.0, rng) == 0.0


def _tsfa_learning_free(v: float, tmp_path):
    sets = [
        *SURROGATE,
        "run.rounds=200",
        "clients.count=10",
        "clients.per_round=4",
        "channel.model=rayleigh",
        "mobility.preset=pedestrian",
        "channel.csi_delay_s=0.01",
        "compute.min_tflops=0.05",
        "compute.max_tflops=0.1",
        "deadline.seconds=2.0",
        "allocation.name=tsfa",
        "allocation.latency_target_s=0.3",
        f"allocation.lyapunov_v={v}",
        "strategy.name=soft",
        "output.channel=false",
    ]
    return run(load_scenario(TINY, sets), tmp_path / f"v{v}")


def test_tsfa_long_term_latency_holds_over_200_learning_free_rounds(tmp_path):
    """The engine's realised round latencies (moving channel, stale CSI) keep TSFA's queue
    stable: past the transient the mean latency meets T̄ (0.3 s, below what the densest
    budgets would take); a larger V buys less sparsification error with more latency."""
    lo, hi = _tsfa_learning_free(0.01, tmp_path), _tsfa_learning_free(0.1, tmp_path)
    for res in (lo, hi):
        lat = np.array([r["t_end"] - r["t_start"] for r in res.rounds])
        # the long-term mean over the second half (past the queue's transient) meets T̄
        assert lat[100:].mean() <= 0.3 + 0.01, lat[100:].mean()
    lat_lo = np.mean([r["t_end"] - r["t_start"] for r in lo.rounds])
    lat_hi = np.mean([r["t_end"] - r["t_start"] for r in hi.rounds])
    err_lo = np.nanmean([r["sparsification_error"] for r in lo.rounds])
    err_hi = np.nanmean([r["sparsification_error"] for r in hi.rounds])
    assert lat_hi > lat_lo and err_hi < err_lo
