"""Command line: run and validate, exit code 2 with a clear message on bad input."""

import subprocess
import sys

from click.testing import CliRunner
from conftest import TINY

from cosim.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args], capture_output=True, text=True, timeout=120
    )


def test_validate_ok():
    res = CliRunner().invoke(main, ["validate", str(TINY)])
    assert res.exit_code == 0 and "valid" in res.output


def test_validate_broken_files_exit_2_without_traceback(tmp_path):
    cases = {
        "syntax.toml": ("[run\nseed = 1\n", "not valid TOML"),
        "range.toml": ("[clients]\ncount = 0\n", "clients.count = 0"),
        "unknown.toml": ("[clients]\ncuont = 3\n", "unknown key"),
        "cross.toml": ("[clients]\ncount = 3\nper_round = 4\n", "clients.per_round (4)"),
    }
    for name, (text, needle) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        res = CliRunner().invoke(main, ["validate", str(f)])
        assert res.exit_code == 2, name
        assert str(f) in res.stderr and needle in res.stderr, res.stderr
        assert res.exception is None or isinstance(res.exception, SystemExit)
    # one real process: the exit code and the message a shell sees, no traceback
    res = _cli("validate", str(tmp_path / "syntax.toml"))
    assert res.returncode == 2 and "not valid TOML" in res.stderr
    assert "Traceback" not in res.stderr
    res = CliRunner().invoke(main, ["validate", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "not found" in res.stderr


def test_run_refuses_non_empty_folder_and_keeps_its_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "events.jsonl").write_text("precious\n")
    res = CliRunner().invoke(main, ["run", str(TINY), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (out / "events.jsonl").read_text() == "precious\n"


def test_run_with_bad_override_writes_nothing(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(TINY), "--out", str(out), "--set", "run.rounds=0"])
    assert res.exit_code == 2 and "run.rounds (from --set) = 0" in res.output
    assert not out.exists()


def test_run_end_to_end_and_overwrite(tmp_path):
    out = tmp_path / "run"
    args = ["run", str(TINY), "--out", str(out), "--quiet", "--seed", "3"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "final accuracy" in res.output
    for name in (
        "scenario.toml",
        "events.jsonl",
        "rounds.csv",
        "clients.csv",
        "channel.npz",
        "timing.json",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "seed = 3" in (out / "scenario.toml").read_text()
    assert CliRunner().invoke(main, args).exit_code == 2
    assert CliRunner().invoke(main, [*args, "--overwrite"]).exit_code == 0
