"""The Python API: scenarios in code, run tables back as rows and frames, event observers, and
custom components registered by name (the example script uses each)."""

import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cosim import (
    RegistryError,
    Scenario,
    ScenarioError,
    read_run,
    register_allocator,
    register_strategy,
    run,
)
from cosim.cli import main
from fl import Allocation
from fl.strategies import FedAvgLoRA
from tests.conftest import ROOT, TINY

EXAMPLE = ROOT / "examples" / "custom_components.py"
LEARNING_FREE = {"fl.mode": "surrogate"}


@pytest.fixture(autouse=True)
def _registry(clean_registry):
    """Registrations made by a test do not leak into the next."""


def test_the_example_script_runs_and_uses_every_part(tmp_path):
    out = tmp_path / "ex"
    res = subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", str(out), "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "events by kind" in res.stdout and "deadline misses" in res.stdout
    tables = read_run(out)  # names the custom parts, though they are not registered here
    s = tables.scenario
    assert (s.mobility.model, s.allocation.name, s.strategy.name) == (
        "orbit",
        "snr-weighted",
        "seeded-random-k",
    )
    assert len(tables.rounds) == 2 and not math.isnan(tables.final_accuracy)


def test_run_tables_read_back_equal_those_in_memory(tiny_run):
    out, result = tiny_run
    back = read_run(out)
    assert back.rounds == result.rounds and back.clients == result.clients
    assert back.summary() == result.summary()
    frame = result.frame("clients")
    assert list(frame.columns) == list(result.clients[0]) and len(frame) == len(result.clients)
    kinds = {e["kind"] for e in back.events()}
    assert {"run_start", "round_start", "aggregate"} <= kinds
    assert all(e["kind"] == "eval" for e in back.events("eval"))
    with pytest.raises(ValueError, match="rounds, clients"):
        result.frame("events")


def test_observers_see_every_event_in_order(tmp_path):
    seen = []
    s = Scenario.load(TINY).updated(LEARNING_FREE)
    result = run(s, tmp_path / "r", observers=[seen.append])
    assert seen == list(read_run(tmp_path / "r").events())
    assert len(seen) == result.event_count
    assert [e["t"] for e in seen] == sorted(e["t"] for e in seen)  # simulated time only grows


def test_a_learning_free_frame_has_nan_accuracy(tmp_path):
    result = run(Scenario.load(TINY).updated(LEARNING_FREE))
    assert result.out_dir is None and result.frame("rounds")["accuracy"].isna().all()
    with pytest.raises(ValueError, match="observers"):
        next(result.events())


def test_updated_validates_like_a_file():
    s = Scenario.load(TINY)
    assert s.updated({"run.seed": 3}).run.seed == 3 and s.run.seed == 7  # a copy
    with pytest.raises(ScenarioError, match=r"run.seed \(from updated\(\)\) = -1.*0 <= x"):
        s.updated({"run.seed": -1})
    with pytest.raises(ScenarioError, match=r"section\.key"):
        s.updated({"seed": 3})
    assert Scenario.load(TINY) == Scenario.model_validate(__import__("tomllib").loads(s.to_toml()))


def test_unknown_names_list_the_built_in_and_registered_ones():
    register_allocator("half-band", lambda s: None)
    with pytest.raises(ScenarioError) as err:
        Scenario().updated({"allocation.name": "nope"})
    assert "'tsfa'" in str(err.value) and "'half-band'" in str(err.value)
    assert "--plugin" in str(err.value)


def test_registration_refuses_clashes_and_bad_names():
    def f(s):
        return None

    with pytest.raises(RegistryError, match="built in"):
        register_allocator("tsfa", f)
    with pytest.raises(RegistryError, match="letters, digits"):
        register_strategy("has space", f)
    register_strategy("mine", f)
    register_strategy("mine", f)  # the same factory again: fine
    with pytest.raises(RegistryError, match="already registered"):
        register_strategy("mine", lambda s: None)
    register_strategy("mine", lambda s: None, replace=True)


def test_options_are_for_custom_components_only():
    with pytest.raises(ScenarioError, match=r"allocation\.options is read by registered"):
        Scenario().updated({"allocation.options": {"x": 1}})


class _HalfBand:
    """Gives every client half of an equal share: never more band than there is."""

    name = "half-band"
    chooses_budgets = True

    def __init__(self, budget):
        self.budget = budget

    def allocate(self, request):
        n = len(request.clients)
        return Allocation(np.full(n, request.total_bandwidth_hz / (2 * n)), np.full(n, self.budget))

    def observe(self, round_latency_s):
        pass


def _half_band(s):
    return _HalfBand(float(s.allocation.options.get("budget", 0.5)))


def test_a_custom_allocator_runs_and_its_budgets_must_come_from_the_grid():
    register_allocator("half-band", _half_band)
    base = Scenario.load(TINY).updated(
        {**LEARNING_FREE, "allocation.name": "half-band", "strategy.name": "topk"}
    )
    shares = []

    def watch(e):
        if e["kind"] == "allocation":
            shares.append((e["round"], e["share"], e["budget"]))

    run(base, observers=[watch])
    per_round = {}
    for r, share, budget in shares:
        per_round[r] = per_round.get(r, 0.0) + share
        assert budget == 0.5
    assert all(abs(v - 0.5) < 1e-12 for v in per_round.values())
    with pytest.raises(RuntimeError, match="not all from the request's budget_grid"):
        run(base.updated({"allocation.options": {"budget": 0.3}}))
    with pytest.raises(ScenarioError, match=r"chooses sparsity budgets.*dense only"):
        run(base.updated({"strategy.name": "fedavg-lora"}))


def test_a_factory_that_fails_or_returns_the_wrong_thing_is_a_scenario_error():
    def picky(s):
        raise ValueError("options are budget in (0, 1]")

    register_allocator("picky", picky)
    register_allocator("wrong", lambda s: object())
    register_strategy("dense-mine", lambda s: FedAvgLoRA(32))
    s = Scenario.load(TINY).updated(LEARNING_FREE)
    with pytest.raises(ScenarioError, match=r"allocation\.name = 'picky': options are budget"):
        run(s.updated({"allocation.name": "picky"}))
    with pytest.raises(ScenarioError, match="lacks allocate"):
        run(s.updated({"allocation.name": "wrong"}))
    with pytest.raises(ScenarioError, match="'dense-mine' is dense only"):
        run(s.updated({"strategy.name": "dense-mine", "strategy.budget": 0.5}))


def test_cli_loads_custom_components_with_plugin(tmp_path):
    scenario = tmp_path / "orbit.toml"
    scenario.write_text(
        TINY.read_text()
        + '\n[mobility]\nmodel = "orbit"\noptions = { speed_mps = 2.0 }\n'
        + '\n[fl]\nmode = "surrogate"\n'
    )
    cli = CliRunner()
    missing = cli.invoke(main, ["validate", str(scenario)])
    assert missing.exit_code == 2 and "mobility.model = 'orbit' is not a known name" in (
        missing.output
    )
    out, plugin = tmp_path / "run", ["--plugin", str(EXAMPLE)]
    ok = cli.invoke(
        main,
        ["--log-level", "info", "run", str(scenario), "--out", str(out), "--quiet", *plugin],
    )
    assert ok.exit_code == 0, ok.output
    assert "round 2/2 ended at" in ok.output  # --log-level info: one line per round
    first: dict[int, float] = {}
    for c in read_run(out).clients:  # orbiting: each client keeps its distance (chords: ~0.1 %)
        d0 = first.setdefault(c["client"], c["distance_m"])
        assert abs(c["distance_m"] - d0) <= 1e-3 * d0
    bad = cli.invoke(
        main,
        ["validate", str(scenario), "--plugin", "no_such_module_here"],
    )
    assert bad.exit_code == 2 and "--plugin no_such_module_here: cannot import" in bad.output
    negative = ["--set", "mobility.options={speed_mps=-1.0}"]
    wrong = cli.invoke(
        main,
        ["run", str(scenario), "--out", str(tmp_path / "w"), "--quiet", *plugin, *negative],
    )
    assert wrong.exit_code == 2 and "mobility.model = 'orbit': options are speed_mps" in (
        wrong.output
    )
