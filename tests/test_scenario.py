"""Scenario schema: defaults, range and cross-field checks, overrides, resolved round trip."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from cosim import Scenario, ScenarioError, load_scenario, scenario_from_dict, scenario_to_toml
from cosim.scenario.io import parse_override
from cosim.scenario.schema import describe_field

SCENARIOS = sorted(  # scenarios/studies/ holds study files (tests/test_study.py checks them)
    p
    for p in (Path(__file__).parent.parent / "scenarios").glob("**/*.toml")
    if p.parent.name != "studies"
)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    s = load_scenario(path)
    assert s.clients.per_round <= s.clients.count


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_opens_with_what_it_models_knobs_and_what_to_look_at(path):
    lines = path.read_text().splitlines()
    head = "\n".join(lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    for part in ("What it models", "Knobs that matter", "Look at"):
        assert part in head, f"{path.name}: its opening comment block lacks {part!r}"


def test_public_keys_exist_with_their_names():
    s = Scenario()
    for key in (
        "run.seed",
        "run.rounds",
        "clients.count",
        "clients.per_round",
        "channel.model",
        "channel.dt",
        "deadline.seconds",
        "strategy.name",
        "output.channel",
    ):
        section, field = key.split(".")
        assert hasattr(getattr(s, section), field), key


def test_scenario_is_frozen():
    s = Scenario()
    with pytest.raises(ValidationError):
        s.run.rounds = 3


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"clients": {"per_round": 20, "count": 10}}, "clients.per_round (20) must be <="),
        ({"clients": {"colour": "red"}}, "clients.colour: unknown key; allowed keys in [clients]"),
        ({"radio": {}}, "[radio]: unknown section"),
        ({"run": {"rounds": 0}}, "run.rounds = 0"),
        ({"run": {"rounds": 2.5}}, "valid integer"),
        ({"run": {"seed": True}}, "run.seed = True"),
        ({"channel": {"model": "ray"}}, "one of 'pathloss'"),
        ({"deadline": {"seconds": -1.0}}, "0.0 < x <= 1000000.0"),
        ({"channel": {"dt": 5.0}, "deadline": {"seconds": 1.0}}, "channel.dt (5.0) must be <="),
        ({"compute": {"min_tflops": 2.0, "max_tflops": 1.0}}, "compute.max_tflops (1.0)"),
        ({"model": {"lora_targets": ["query", "a b"]}}, "each a name matching"),
        ({"channel": {"model": "umi", "ray_tile": 0}}, "channel.ray_tile = 0"),
        ({"channel": {"model": "rayleigh", "ray_tile": 1}}, "needs a 38.901 cell model"),
    ],
)
def test_bad_values_name_field_value_and_allowed(data, needle):
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, source="bad.toml")
    msg = str(err.value)
    assert msg.startswith("bad.toml: ")
    assert needle in msg


def test_range_message_gives_both_bounds():
    with pytest.raises(ScenarioError, match=r"allowed: int 1 <= x <= 100000"):
        scenario_from_dict({"clients": {"count": 0}}, source="f.toml")
    assert describe_field("strategy", "bits_per_value") == "one of 16, 32"


def test_overrides_parse_toml_values_or_plain_strings():
    assert parse_override("run.seed=5") == (("run", "seed"), 5)
    assert parse_override("output.channel=true") == (("output", "channel"), True)
    assert parse_override("strategy.name=fedavg-lora") == (("strategy", "name"), "fedavg-lora")
    assert parse_override("model.lora_targets=['query']")[1] == ["query"]
    with pytest.raises(ScenarioError, match=r"section\.key"):
        parse_override("seed=5")
    with pytest.raises(ScenarioError, match=r"expected section\.key=value"):
        parse_override("run.seed")


def test_override_is_validated_and_marked():
    s = scenario_from_dict({}, overrides=["clients.count=12", "deadline.seconds=1.5"])
    assert s.clients.count == 12 and s.deadline.seconds == 1.5
    with pytest.raises(ScenarioError, match=r"clients.count \(from --set\) = -3"):
        scenario_from_dict({}, source="f.toml", overrides=["clients.count=-3"])


def test_file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nseed = = 3\n")
    with pytest.raises(ScenarioError, match=r"bad.toml: not valid TOML.*line 2"):
        load_scenario(bad)


def test_resolved_scenario_round_trips(tmp_path):
    s = scenario_from_dict(
        {"clients": {"count": 7}, "model": {"lora_targets": ["key"]}}, overrides=["run.seed=9"]
    )
    f = tmp_path / "resolved.toml"
    f.write_text(scenario_to_toml(s))
    again = load_scenario(f)
    assert again == s
    text = f.read_text()
    for key in ("[train]", "lr = ", "noise_figure_db", "bits_per_value", "eval_samples"):
        assert key in text
