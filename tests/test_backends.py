"""Training backends: Ray workers give the same events and tables as local training, and
asking for Ray without it installed is a clear error (exit 2)."""

import sys

import pytest
from click.testing import CliRunner
from conftest import TINY

from cosim import Scenario, ScenarioError, run
from cosim.cli import main

TABLES = ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz")


def _ray_equals_local(s, tmp_path):
    """``s`` on two Ray workers writes local training's files, and some client is stopped."""
    local = run(s, tmp_path / "local")
    result = run(s.updated({"train.backend": "ray", "train.ray_workers": 2}), tmp_path / "ray")
    for name in TABLES:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert result.host.trained_updates == local.host.trained_updates > 0
    assert any(c["miss"] == "stopped" for c in local.clients)


def test_ray_workers_reproduce_local_training_bit_for_bit(tmp_path):
    """first-k, so that jobs of clients the round stops are dropped on both backends."""
    import ray  # noqa: F401  (the dev extra installs it: this test must not skip)

    s = Scenario.load(TINY).updated(
        {"clients.per_round": 3, "server.protocol": "first-k", "server.aggregate_k": 1}
    )
    _ray_equals_local(s, tmp_path)


def test_ray_backend_without_ray_installed_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    s = Scenario.load(TINY).updated({"train.backend": "ray"})
    with pytest.raises(ScenarioError, match=r"train\.backend = 'ray' needs Ray.*\[ray\]"):
        run(s)
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main, ["run", str(TINY), "--set", "train.backend=ray", "--out", str(out), "--quiet"]
    )
    assert res.exit_code == 2 and "pip install" in res.output
    assert not out.exists()  # refused before anything was written


def test_ray_address_needs_the_ray_backend():
    with pytest.raises(ScenarioError, match=r"train\.ray_address .* is for train\.backend"):
        Scenario().updated({"train.ray_address": "ray://head:10001"})


def test_ray_actors_train_the_own_model_on_the_own_data(tmp_path, zoo):
    """model.path and data.path travel to the actors: Ray gives the local run's outputs."""
    from test_own_data import rows, scenario, write_csv

    write_csv(tmp_path / "data.csv", rows())
    path = scenario(tmp_path, zoo["gpt2"], "data.csv", partition="dirichlet")
    run(Scenario.load(path), tmp_path / "local")
    run(Scenario.load(path).updated({"train.backend": "ray"}), tmp_path / "ray")
    for name in ("events.jsonl", "rounds.csv", "clients.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_ray_workers_reproduce_local_training_under_fedbuff(tmp_path):
    """Jobs overlap and the run's end stops busy ones: Ray still gives local's outputs."""
    s = Scenario.load(TINY).updated(
        {
            "server.protocol": "fedbuff",
            "server.concurrency": 3,
            "server.buffer_size": 2,
            "run.rounds": 4,
        }
    )
    _ray_equals_local(s, tmp_path)
