"""TSFA stage 1: rank (and λ) chosen before round 1, logged, and written into the scenario."""

import pytest
from conftest import TINY, read_events

from cosim import load_scenario, run
from cosim.scenario import ScenarioError
from fl.allocators.tsfa_stage1 import choose

STAGE1 = [
    "allocation.name=tsfa",
    "strategy.name=soft",
    "allocation.stage1=true",
    "allocation.stage1_ranks=[2, 4, 8]",
    "allocation.stage1_lambdas=[0.0, 0.5]",
    "allocation.latency_target_s=0.9",
    "run.rounds=1",
]


@pytest.fixture(scope="module")
def stage1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1") / "run"
    return out, run(load_scenario(TINY, STAGE1), out)


def test_stage1_event_scores_every_candidate_and_the_choice_follows_the_rule(stage1_run):
    out, result = stage1_run
    events = read_events(out)
    assert [e["kind"] for e in events[:3]] == ["run_start", "stage1", "eval"]
    st = events[1]
    cands = st["candidates"]
    assert [(c["rank"], c["orth_lambda"]) for c in cands] == [
        (r, lam) for r in (2, 4, 8) for lam in (0.0, 0.5)
    ]
    for c in cands:
        assert c["expected_latency_s"] > 0 and c["pilot_loss"] > 0 and 0 <= c["pilot_accuracy"] <= 1
    # more rank: more bits and FLOPs, never less expected latency (same λ)
    for lam in (0.0, 0.5):
        lat = [c["expected_latency_s"] for c in cands if c["orth_lambda"] == lam]
        assert lat == sorted(lat)
    meets = [c for c in cands if c["expected_latency_s"] <= 0.9]
    if meets:
        assert st["chosen"]["pilot_loss"] == min(c["pilot_loss"] for c in meets)
    else:
        assert st["chosen"]["expected_latency_s"] == min(c["expected_latency_s"] for c in cands)
    # the choice is what ran, and what the resolved scenario says
    assert result.scenario.model.lora_rank == st["chosen"]["rank"]
    assert result.scenario.strategy.orth_lambda == st["chosen"]["orth_lambda"]
    text = (out / "scenario.toml").read_text()
    assert f"lora_rank = {st['chosen']['rank']}" in text


def test_resolved_scenario_reruns_identically(stage1_run, tmp_path):
    out, _ = stage1_run
    again = tmp_path / "again"
    run(load_scenario(out / "scenario.toml"), again)
    assert (again / "events.jsonl").read_bytes() == (out / "events.jsonl").read_bytes()


def test_choice_rule():
    rows = [
        {"rank": 2, "expected_latency_s": 1.0, "pilot_loss": 1.5},
        {"rank": 4, "expected_latency_s": 1.2, "pilot_loss": 1.2},
        {"rank": 8, "expected_latency_s": 2.0, "pilot_loss": 0.9},
    ]
    assert choose(rows, 1.5, learning_free=False)[0] == 1  # rank 8 misses the target
    assert choose(rows, 1.5, learning_free=True)[0] == 1  # largest rank within the target
    assert choose(rows, 0.5, learning_free=False)[0] == 0  # none meets it: least latency


def test_stage1_needs_tsfa_and_lambdas_need_soft():
    with pytest.raises(ScenarioError, match=r"allocation\.stage1"):
        load_scenario(TINY, ["allocation.stage1=true"])
    with pytest.raises(ScenarioError, match="stage1_lambdas"):
        load_scenario(
            TINY,
            ["allocation.name=tsfa", "strategy.name=topk", "allocation.stage1_lambdas=[0.1]"],
        )
    with pytest.raises(ScenarioError, match="strictly increasing"):
        load_scenario(TINY, ["allocation.stage1_ranks=[4, 2]"])
