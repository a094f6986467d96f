"""`wfl-cosim sweep`: the grid's product, one run folder per point, resume, failures kept apart."""

import csv
import fcntl
import json
import shutil

from click.testing import CliRunner
from conftest import ROOT, TINY, kill_at_checkpoint

from cosim.cli import main

DEFAULT = ROOT / "scenarios" / "default.toml"
GRID = ["--grid", "deadline.seconds=0.8,1.0", "--grid", "allocation.name=equal,minmax"]
FAST = ["--set", "fl.mode=surrogate", "--workers", "2"]


def _summary(out):
    return list(csv.DictReader((out / "summary.csv").open()))


def test_sweep_runs_the_product_and_resumes_after_a_point_is_removed(tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["sweep", str(TINY), *GRID, *FAST, "--out", str(out)])
    assert res.exit_code == 0, res.output
    progress = [line for line in res.output.splitlines() if " left" in line]
    assert len(progress) == 4 and progress[-1].endswith("0 left")  # a line per finished point
    rows = _summary(out)
    names = [r["point"] for r in rows]
    assert names == [
        "deadline.seconds=0.8__allocation.name=equal",
        "deadline.seconds=0.8__allocation.name=minmax",
        "deadline.seconds=1.0__allocation.name=equal",
        "deadline.seconds=1.0__allocation.name=minmax",
    ]
    assert all(r["status"] == "ran" for r in rows)
    assert all(r["final_accuracy"] == "" and float(r["mbit_up"]) > 0 for r in rows)  # not nan
    for name in names:
        assert (out / name / "timing.json").is_file()
    text = (out / names[3] / "scenario.toml").read_text()
    assert "seconds = 1.0" in text and 'name = "minmax"' in text
    events_before = (out / names[1] / "events.jsonl").read_bytes()
    shutil.rmtree(out / names[0])
    args = ["sweep", str(TINY), *GRID, *FAST, "--out", str(out), "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert " left" not in res.output  # --quiet: no progress lines
    status = {r["point"]: r["status"] for r in _summary(out)}
    assert status[names[0]] == "ran"
    assert all(status[n] == "skipped (complete)" for n in names[1:])
    assert (out / names[1] / "events.jsonl").read_bytes() == events_before  # untouched
    res = CliRunner().invoke(main, ["plot", str(out)])  # a sweep folder plots its metrics
    assert res.exit_code == 0, res.output
    assert (out / "miss_rate_vs_deadline.seconds_by_allocation.name.png").is_file()
    assert "no figure for final_accuracy" in res.output  # learning-free: no empty axes
    res = CliRunner().invoke(main, ["plot", str(out), "--x", "run.seed", "--y", "miss_rate"])
    assert res.exit_code == 2 and "not a column" in res.output and "deadline.seconds" in res.output
    res = CliRunner().invoke(main, ["plot", str(out / names[1]), "--x", "a", "--y", "mbit_up"])
    assert res.exit_code == 2 and "not a sweep or study folder" in res.output
    res = CliRunner().invoke(main, ["compare", str(out), "--out", str(tmp_path / "c.csv")])
    assert res.exit_code == 0, res.output  # a sweep folder compares its points
    compared = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert all(r["final_accuracy"] == "" and r["best_accuracy"] == "" for r in compared)
    runs = [r["run"] for r in compared]
    assert runs == [str(out / n) for n in sorted(names)]


def test_a_failed_point_is_reported_and_the_others_kept(tmp_path):
    plugin = tmp_path / "fails.py"
    plugin.write_text(
        "from cosim import register_allocator\n"
        "class Fails:\n    name = 'fails'\n    chooses_budgets = False\n"
        "    def allocate(self, request):\n        raise RuntimeError('allocator broke')\n"
        "    def observe(self, latency_s):\n        pass\n"
        "register_allocator('fails', lambda s: Fails())\n"
    )
    out = tmp_path / "sweep"
    args = ["sweep", str(TINY), "--grid", "allocation.name=equal,fails", *FAST]
    args += ["--plugin", str(plugin), "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "1 point(s) failed" in res.output, res.output
    status = {r["point"]: (r["status"], r["error"]) for r in _summary(out)}
    assert status["allocation.name=equal"][0] == "ran"
    assert status["allocation.name=fails"][0] == "failed"
    assert "allocator broke" in status["allocation.name=fails"][1]


def test_a_point_naming_a_missing_file_exits_2_before_anything_runs(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", str(TINY), "--grid", "mobility.model=static,trace", *FAST]
    args += ["--set", f"mobility.trace_file={tmp_path / 'missing.csv'}", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "missing.csv" in res.output
    assert not out.exists()


def test_a_bad_grid_value_exits_2_before_anything_runs(tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(
        main, ["sweep", str(TINY), "--grid", "deadline.seconds=0.8,abc", "--out", str(out)]
    )
    assert res.exit_code == 2 and "deadline.seconds" in res.output
    assert not out.exists()


def test_a_sweep_killed_during_a_point_resumes_that_point(tmp_path):
    """Killed alone (its workers not signalled; a closed terminal kills them too, which
    leaves the same folder): its workers must see their parent gone and end, not run on
    writing the point folder (its lock is free after), and the point resumes."""
    base = ["sweep", str(DEFAULT), "--grid", "run.seed=3", "--set", "fl.mode=surrogate"]
    base += ["--set", "run.rounds=60", "--set", "output.checkpoint_min_s=0"]
    out = tmp_path / "sweep"
    kill_at_checkpoint([*base, "--out", str(out)], out / "run.seed=3", alone=True)
    with open(out / "run.seed=3" / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody is writing the point any more
        fcntl.flock(f, fcntl.LOCK_UN)
    res = CliRunner().invoke(main, [*base, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _summary(out)[0]["status"] == "resumed"
    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(main, [*base, "--out", str(fresh)]).exit_code == 0
    for name in ("events.jsonl", "rounds.csv", "clients.csv"):
        a, b = out / "run.seed=3" / name, fresh / "run.seed=3" / name
        assert a.read_bytes() == b.read_bytes(), name


def test_a_complete_point_of_another_scenario_is_refused_or_rerun_when_asked(tmp_path):
    out = tmp_path / "sweep"
    base = ["sweep", str(TINY), "--grid", "allocation.name=equal", *FAST, "--out", str(out)]
    assert CliRunner().invoke(main, base).exit_code == 0
    (row,) = _summary(out)
    assert row["allocation.name"] == "equal" and row["status"] == "ran"  # a column per key
    events = (out / "allocation.name=equal" / "events.jsonl").read_bytes()
    res = CliRunner().invoke(main, [*base, "--set", "run.rounds=1"])
    assert res.exit_code == 2, res.output  # was: "skipped (complete)" with the old results
    assert "run.rounds = 2 there, 1 asked" in res.output and "--rerun-changed" in res.output
    assert (out / "allocation.name=equal" / "events.jsonl").read_bytes() == events
    res = CliRunner().invoke(main, [*base, "--set", "run.rounds=1", "--rerun-changed"])
    assert res.exit_code == 0, res.output
    assert _summary(out)[0]["status"] == "ran"
    assert len((out / "allocation.name=equal" / "rounds.csv").read_text().splitlines()) == 2
    res = CliRunner().invoke(main, [*base, "--set", "run.rounds=1"])
    assert res.exit_code == 0 and _summary(out)[0]["status"] == "skipped (complete)"


def test_a_changed_input_file_makes_a_point_another_run(tmp_path):
    profile = tmp_path / "profile.json"
    body = {"format": "wfl-cosim surrogate profile", "rank_importance": [1.0, 0.5], "spread": 0.3}
    profile.write_text(json.dumps(body))
    out = tmp_path / "sweep"
    base = ["sweep", str(TINY), "--grid", "allocation.name=equal", *FAST, "--out", str(out)]
    base += ["--set", f"fl.profile={profile}"]
    assert CliRunner().invoke(main, base).exit_code == 0
    profile.write_text(profile.read_text() + "\n")
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 2 and "fl.profile: the file changed" in res.output, res.output


def test_a_complete_point_run_before_a_field_existed_counts_when_asked_at_its_default(tmp_path):
    """A field added to the tool since a point ran (absent from its scenario.toml) is the
    same run at its default, and another run when asked otherwise."""
    out = tmp_path / "sweep"
    base = ["sweep", str(TINY), "--grid", "allocation.name=equal", *FAST, "--out", str(out)]
    assert CliRunner().invoke(main, base).exit_code == 0
    toml = out / "allocation.name=equal" / "scenario.toml"
    lines = toml.read_text().splitlines()
    start = lines.index("[cells]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    toml.write_text("\n".join(lines[:start] + lines[end:]) + "\n")  # as written before [cells]
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0 and _summary(out)[0]["status"] == "skipped (complete)"
    res = CliRunner().invoke(main, [*base, "--set", "cells.hysteresis_db=2.0"])
    assert res.exit_code == 2 and "cells.hysteresis_db = '(absent)' there" in res.output
