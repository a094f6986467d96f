"""Checkpoint and resume: a run stopped or killed mid-way and resumed ends with the same files,
byte for byte, as an uninterrupted run; the CLI refuses what cannot be resumed."""

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT, TINY, kill_at_checkpoint

from cosim import Scenario, run
from cosim.cli import main
from cosim.running.runner import RunDirError, resume

FILES = ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz", "scenario.toml")
DEFAULT = ROOT / "scenarios" / "default.toml"


class Stop(Exception):
    """Raised by an observer: the run dies as if killed at that event."""


def _stop_at(round_: int):
    def watch(event):
        if event["kind"] == "round_start" and event["round"] == round_:
            raise Stop

    return watch


def _same_files(a, b):
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize(
    "changes",
    [
        # trained: SOFT + TSFA with stage 1, walkers in a 38.901 UMi cell (Sionna rays)
        {
            "run.rounds": 5,
            "strategy.name": "soft",
            "allocation.name": "tsfa",
            "allocation.stage1": True,
            "allocation.stage1_ranks": [2, 4],
            "channel.model": "umi",
            "mobility.preset": "pedestrian",
        },
        # learning-free: Gauss-Markov cars on Rayleigh fading, reallocation on
        {
            "run.rounds": 6,
            "fl.mode": "surrogate",
            "channel.model": "rayleigh",
            "mobility.preset": "vehicular",
            "allocation.name": "minmax",
        },
        # learning-free first-k (3 scheduled, the first 2 taken) ending at a simulated time
        {
            "run.rounds": 40,
            "run.max_time_s": 7.3,
            "fl.mode": "surrogate",
            "clients.per_round": 3,
            "server.protocol": "first-k",
            "server.aggregate_k": 2,
            "channel.model": "rayleigh",
            "mobility.preset": "vehicular",
        },
    ],
    ids=["trained-tsfa-umi", "learning-free-rayleigh", "first-k-max-time"],
)
def test_a_stopped_run_resumes_to_the_uninterrupted_outputs(changes, tmp_path):
    s = Scenario.load(TINY).updated({**changes, "output.checkpoint_min_s": 0.0})
    full = run(s, tmp_path / "full")
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[_stop_at(4)])
    assert json.loads((tmp_path / "part" / "checkpoint" / "state.json").read_text())["round"] == 3
    assert not (tmp_path / "part" / "timing.json").exists()
    seen = []
    resumed = resume(tmp_path / "part", observers=[seen.append])
    _same_files(tmp_path / "full", tmp_path / "part")
    assert resumed.rounds == full.rounds and resumed.clients == full.clients
    assert resumed.event_count == full.event_count
    assert resumed.host.trained_updates == full.host.trained_updates  # counters carried over
    assert seen[0]["kind"] == "round_start" and seen[0]["round"] == 4  # from the resumed round
    assert not (tmp_path / "part" / "checkpoint").exists()  # complete: removed


def test_a_killed_process_resumes_from_the_command_line(tmp_path):
    args = ["--set", "fl.mode=surrogate", "--set", "run.rounds=60", "--set", "run.seed=3"]
    args += ["--set", "output.checkpoint_min_s=0"]
    part = tmp_path / "part"
    kill_at_checkpoint(["run", str(DEFAULT), "--out", str(part), "--quiet", *args], part)
    assert not (part / "timing.json").exists()
    res = CliRunner().invoke(main, ["run", "--resume", str(part), "--quiet"])
    assert res.exit_code == 0, res.output
    full = tmp_path / "full"
    ok = CliRunner().invoke(main, ["run", str(DEFAULT), "--out", str(full), "--quiet", *args])
    assert ok.exit_code == 0, ok.output
    _same_files(full, part)


def test_no_checkpoint_yet_starts_over_and_a_complete_run_is_refused(tmp_path):
    s = Scenario.load(TINY).updated({"fl.mode": "surrogate", "output.checkpoint_every": 0})
    with pytest.raises(Stop):
        run(s, tmp_path / "part", observers=[_stop_at(2)])
    assert not (tmp_path / "part" / "checkpoint").exists()  # checkpoint_every = 0
    resume(tmp_path / "part")
    run(s, tmp_path / "full")
    _same_files(tmp_path / "full", tmp_path / "part")
    cli = CliRunner()
    done = cli.invoke(main, ["run", "--resume", str(tmp_path / "part")])
    assert done.exit_code == 2 and "complete" in done.output
    empty = cli.invoke(main, ["run", "--resume", str(tmp_path)])
    assert empty.exit_code == 2 and "not a run folder" in empty.output
    both = cli.invoke(main, ["run", str(TINY), "--resume", str(tmp_path / "part")])
    assert both.exit_code == 2 and "not both" in both.output


def test_a_run_folder_being_written_is_not_written_by_a_second_process(tmp_path):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with (out / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run still going holds it
        s = Scenario.load(TINY).updated({"fl.mode": "surrogate"})
        with pytest.raises(RunDirError, match="another process is writing"):
            run(s, out, overwrite=True)
        assert not (out / "events.jsonl").exists()
    run(s, out, overwrite=True)  # free again
    assert not (out / ".lock").exists()
