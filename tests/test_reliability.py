"""Nothing lost, nothing silent: each defect found by trying to break the tool is a test here
(docs/RELIABILITY.md lists them)."""

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT, TINY

from cosim import Scenario, register_allocator, run
from cosim.cli import main
from cosim.running.folder import RunDirError, writing
from cosim.running.sweep import point_name
from cosim.scenario import registry as reg
from fl import Allocation

LEARNING_FREE = {"fl.mode": "surrogate"}


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = {k: dict(v) for k, v in reg._custom.items()}
    yield
    for k in reg._custom:
        reg._custom[k] = saved[k]


def test_two_runs_into_one_new_folder_cannot_both_write_it(tmp_path):
    """Seen: both reported done and the later replaced the first's outputs (the emptiness
    check ran before the lock). Now exactly one of two simultaneous runs writes the folder."""
    out = tmp_path / "same"
    cmd = [
        sys.executable,
        "-m",
        "cosim",
        "run",
        str(TINY),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "fl.mode=surrogate",
    ]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in (0, 1)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errors = " ".join(err for _, err in outputs)
    assert codes == [0, 2], errors
    assert "not empty" in errors or "another process is writing" in errors


def test_the_emptiness_check_happens_under_the_lock(tmp_path):
    out = tmp_path / "run"
    s = Scenario.load(TINY).updated(LEARNING_FREE)
    with writing(out), pytest.raises(RunDirError, match="another process"):
        run(s, out)
    (out / "other.txt").write_text("someone else's")
    with pytest.raises(RunDirError, match="not empty"):
        run(s, out)
    assert (out / "other.txt").read_text() == "someone else's"


def test_a_run_that_fails_to_build_leaves_no_folder(tmp_path):
    out = tmp_path / "never"
    s = Scenario.load(TINY).updated(LEARNING_FREE)
    register_allocator("boom", lambda sc: (_ for _ in ()).throw(ValueError("no")))
    with pytest.raises(Exception, match="no"):
        run(s.updated({"allocation.name": "boom"}), out)
    assert not out.exists()


def test_relative_set_paths_are_saved_resolved_so_the_folder_reruns(tmp_path, monkeypatch):
    """Seen: --set mobility.trace_file=t/x.csv resolved against the cwd but saved as given:
    re-running the folder's scenario.toml (or --resume) failed or read another file."""
    (tmp_path / "t").mkdir()
    trace = ROOT / "scenarios" / "traces" / "road.csv"
    (tmp_path / "t" / "x.csv").write_bytes(trace.read_bytes())
    monkeypatch.chdir(tmp_path)
    s = Scenario.load(
        ROOT / "scenarios" / "uma_vehicles.toml",
        ["mobility.trace_file=t/x.csv", "fl.mode=surrogate"],
    )
    assert s.mobility.trace_file == str(tmp_path / "t" / "x.csv")
    assert s.updated({"fl.profile": "p.json"}).fl.profile == str(tmp_path / "p.json")


def test_sweep_point_names_never_collide_and_stay_readable():
    """Seen: two grid values that clean to the same folder name shared one folder."""
    a, b = point_name(["x.y=a b"]), point_name(["x.y=a_b"])
    assert a != b and a.startswith("x.y=a_b~") and b == "x.y=a_b"
    assert point_name(["deadline.seconds=1.5", "allocation.name=tsfa"]) == (
        "deadline.seconds=1.5__allocation.name=tsfa"
    )
    assert point_name(["x.y=a/b"]) != point_name(["x.y=a:b"])


class _Bad:
    name = "bad"
    chooses_budgets = False

    def __init__(self, answer):
        self.answer = answer

    def allocate(self, request):
        return self.answer(len(request.clients))

    def observe(self, latency_s):
        pass


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda n: None, "returned NoneType, not an fl.Allocation"),
        (lambda n: Allocation(np.ones(1), np.ones(1)), r"bandwidth_hz of shape \(1,\)"),
        (lambda n: Allocation(np.full(n, np.nan), np.ones(n)), "non-finite"),
    ],
)
def test_a_plugin_allocator_answer_is_checked_at_each_call(answer, message):
    """Seen: allocate() returning None marked every client a known dropout (exit 0); arrays
    of length 1 were broadcast over every client."""
    register_allocator("bad", lambda s: _Bad(answer))
    s = Scenario.load(TINY).updated({**LEARNING_FREE, "allocation.name": "bad"})
    with pytest.raises(RuntimeError, match=message):
        run(s)


def test_a_plugin_that_calls_sys_exit_is_an_error_not_a_quiet_success(tmp_path):
    """Seen: a plugin calling sys.exit(0) made `run` exit 0 having done nothing."""
    at_import = tmp_path / "exits.py"
    at_import.write_text("import sys\nsys.exit(0)\n")
    res = CliRunner().invoke(main, ["validate", str(TINY), "--plugin", str(at_import)])
    assert res.exit_code == 2 and "called sys.exit(0)" in res.output
    in_run = tmp_path / "exits_later.py"
    in_run.write_text(
        "import sys\nfrom cosim import register_allocator\n"
        "class A:\n    name = 'quitter'\n    chooses_budgets = False\n"
        "    def allocate(self, request):\n        sys.exit(0)\n"
        "    def observe(self, latency_s):\n        pass\n"
        "register_allocator('quitter', lambda s: A())\n"
    )
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(TINY),
            "--out",
            str(out),
            "--quiet",
            "--plugin",
            str(in_run),
            "--set",
            "fl.mode=surrogate",
            "--set",
            "allocation.name=quitter",
        ],
    )
    assert res.exit_code == 2 and "sys.exit(0)" in res.output, res.output
