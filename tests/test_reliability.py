"""Nothing lost, nothing silent: each defect found by trying to break the tool is a test here
(docs/RELIABILITY.md lists them)."""

import json
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
from fl import Allocation

LEARNING_FREE = {"fl.mode": "surrogate"}


@pytest.fixture(autouse=True)
def _registry(clean_registry):
    """Registrations made by a test do not leak into the next."""


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


# ---------------------------------------------------------------------- resume verifies
class _Stop(Exception):
    """Raised by an observer: the run dies as if killed at that event."""


def _stop_at(round_):
    def watch(event):
        if event["kind"] == "round_start" and event["round"] == round_:
            raise _Stop

    return watch


RESUMABLE = {
    **LEARNING_FREE,
    "run.rounds": 6,
    "output.checkpoint_min_s": 0.0,
    "channel.model": "rayleigh",
    "mobility.model": "linear",
}
OUTPUTS = ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz", "scenario.toml")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    run(Scenario.load(TINY).updated(RESUMABLE), out)
    return out


def _killed(tmp_path, at=5):
    out = tmp_path / "killed"
    with pytest.raises(_Stop):
        run(Scenario.load(TINY).updated(RESUMABLE), out, observers=[_stop_at(at)])
    assert (out / "checkpoint").is_dir() and (out / ".checkpoint.old").is_dir()
    return out


def _same(a, b):
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _refused(out, match):
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(Exception, match=match) as err:
        from cosim import resume

        resume(out)
    assert type(err.value).__name__ == "CheckpointError"
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # nothing written, nothing cut
    res = CliRunner().invoke(main, ["run", "--resume", str(out), "--quiet"])
    assert res.exit_code == 2 and "error:" in res.output, res.output


def test_a_killed_run_resumes_byte_identical(tmp_path, uninterrupted):
    from cosim import resume

    out = _killed(tmp_path)
    resume(out)
    _same(out, uninterrupted)
    assert not (out / "checkpoint").exists() and not (out / ".checkpoint.old").exists()


def test_resume_refuses_a_table_shorter_than_the_checkpoint_recorded(tmp_path):
    """Seen: the table was padded with up to 56,230 NUL bytes and the resume exited 0."""
    out = _killed(tmp_path)
    data = (out / "events.jsonl").read_bytes()
    (out / "events.jsonl").write_bytes(data[: len(data) // 3])
    _refused(out, r"events\.jsonl: .* shorter than")


def test_resume_refuses_a_table_whose_prefix_changed(tmp_path):
    """Seen: an offset 1,000 bytes short glued a cut JSON line to the next."""
    out = _killed(tmp_path)
    data = bytearray((out / "rounds.csv").read_bytes())
    data[40] = ord("9") if data[40] != ord("9") else ord("8")
    (out / "rounds.csv").write_bytes(bytes(data))
    _refused(out, r"rounds\.csv: its first .* bytes differ")


def test_resume_refuses_a_symlinked_table_and_leaves_its_target_alone(tmp_path):
    """Seen: a symlinked events.jsonl had its target truncated and appended."""
    out = _killed(tmp_path)
    target = tmp_path / "elsewhere.jsonl"
    target.write_bytes((out / "events.jsonl").read_bytes())
    (out / "events.jsonl").unlink()
    (out / "events.jsonl").symlink_to(target)
    kept = target.read_bytes()
    with pytest.raises(Exception, match="symbolic link"):
        from cosim import resume

        resume(out)
    assert target.read_bytes() == kept


def test_resume_refuses_a_deleted_table(tmp_path):
    out = _killed(tmp_path)
    (out / "clients.csv").unlink()
    _refused(out, r"clients\.csv: missing")


def test_resume_refuses_an_edited_scenario(tmp_path):
    """Seen: a 2.0 s deadline edited to 1.5 s resumed into a run that mixed both, exit 0."""
    out = _killed(tmp_path)
    text = (out / "scenario.toml").read_text()
    (out / "scenario.toml").write_text(text.replace("seconds = 1.0", "seconds = 0.9"))
    _refused(out, r"changed since the checkpoint: scenario\.toml")


def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path, uninterrupted):
    """Seen: editing the clock in state.json changed the results, exit 0. Now the checksum
    catches it and the run resumes from the previous checkpoint, still byte-identical."""
    from cosim import resume

    out = _killed(tmp_path)
    state = out / "checkpoint" / "state.json"
    meta = json.loads(state.read_text())
    meta["roots"]["engine"]["items"][0][1]["v"] += 0.5  # the clock
    state.write_text(json.dumps(meta))
    resume(out)
    _same(out, uninterrupted)


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_checkpoints_are_one_clear_error(tmp_path, damage):
    """Seen: a truncated or empty arrays.npz printed only "Aborted!"."""
    out = _killed(tmp_path)
    for folder in ("checkpoint", ".checkpoint.old"):
        npz = out / folder / "arrays.npz"
        data = npz.read_bytes()
        npz.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"")
    _refused(out, r"arrays\.npz: damaged")


# ---------------------------------------------------------------------- bounded inputs
def _validate(*args):
    return CliRunner().invoke(main, ["validate", str(TINY), *args])


UMA = ROOT / "scenarios" / "uma_vehicles.toml"
ROAD = ROOT / "scenarios" / "traces" / "road.csv"


def _trace_run(trace, *extra):
    one = ["--set", "clients.count=1", "--set", "clients.per_round=1"]
    args = ["validate", str(UMA), "--set", f"mobility.trace_file={trace}", *one, *extra]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("t,client,x,y\n0,0,1.7e308,0\n1,0,-1.7e308,0\n", "within"),
        ("t,client,x,y\n0,0,1,0\n5e-324,0,2,0\n", "apart"),
        (b"t,client,x,y\n0,0,\xff\xfe,0\n", "not UTF-8"),
        ("t,client,x,y\n0,0," + "9" * 200_000 + ",0\n", "not a readable CSV"),
    ],
)
def test_the_trace_loader_refuses_what_would_crash_mid_run(tmp_path, content, message):
    """Seen: finite values whose differences overflow, a 5e-324 s step, non-UTF-8 bytes and
    oversized cells passed validation (or gave a traceback) and crashed mid-run."""
    trace = tmp_path / "bad.csv"
    trace.write_bytes(content if isinstance(content, bytes) else content.encode())
    res = _trace_run(trace)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output


def test_a_trace_with_a_byte_order_mark_is_read(tmp_path):
    """Spreadsheets write a UTF-8 BOM before the header."""
    trace = tmp_path / "bom.csv"
    trace.write_bytes(b"\xef\xbb\xbf" + ROAD.read_bytes())
    res = CliRunner().invoke(main, ["validate", str(UMA), "--set", f"mobility.trace_file={trace}"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder", "nul"])
def test_input_files_must_be_regular_and_bounded(tmp_path, special):
    """Seen: fl.profile = "/dev/zero" read until the host killed it (~21 GB); a FIFO hung
    forever; a NUL in a path gave a traceback."""
    import os

    path = {"/dev/zero": "/dev/zero", "folder": str(tmp_path), "nul": "a\x00b"}.get(special)
    if special == "fifo":
        path = str(tmp_path / "pipe")
        os.mkfifo(path)
    for field in ("fl.profile", "mobility.trace_file"):
        extra = ["--set", "fl.mode=surrogate"] if field == "fl.profile" else []
        scenario = UMA if field == "mobility.trace_file" else TINY
        res = CliRunner().invoke(
            main, ["validate", str(scenario), *extra, "--set", f'{field}="{path}"']
        )
        assert res.exit_code == 2, (field, res.output)
        assert "Traceback" not in res.output and field.split(".")[1] in res.output


def test_booleans_are_not_numbers_in_a_profile(tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {"format": "wfl-cosim surrogate profile", "rank_importance": [True, 0.5], "spread": 0.3}
        )
    )
    res = _validate("--set", "fl.mode=surrogate", "--set", f"fl.profile={profile}")
    assert res.exit_code == 2 and "rank_importance" in res.output, res.output


def test_validate_loads_the_files_a_run_would(tmp_path):
    """Seen: validate said "valid" for a missing trace or profile; a sweep then failed every
    point (exit 1) instead of exiting 2 up front."""
    res = _validate("--set", "fl.mode=surrogate", "--set", f"fl.profile={tmp_path}/none.json")
    assert res.exit_code == 2 and "profile file not found" in res.output
    res = CliRunner().invoke(
        main,
        [
            "sweep",
            str(TINY),
            "--grid",
            "run.seed=1,2",
            "--set",
            "fl.mode=surrogate",
            "--set",
            f"fl.profile={tmp_path}/none.json",
            "--out",
            str(tmp_path / "sw"),
        ],
    )
    assert res.exit_code == 2 and "profile file not found" in res.output
    assert not (tmp_path / "sw").exists()


def test_messages_quote_file_contents_only_as_a_short_excerpt(tmp_path):
    """Seen: a trace pointed at a system password file put its first line in the error."""
    secret = "root:x:0:0:root:/root:/bin/bash,daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin"
    trace = tmp_path / "passwd"
    trace.write_text(secret + "\n" + secret + "\n")
    res = _trace_run(trace)
    assert res.exit_code == 2 and secret not in res.output and "/bin/bash" not in res.output
    trace.write_text("t,client,x,y\n0,0," + secret + ",0\n")
    res = _trace_run(trace)
    assert res.exit_code == 2 and "is not a number" in res.output and secret not in res.output


@pytest.mark.parametrize("target", ["nan", "inf", "1.5"])
def test_compare_refuses_a_target_that_is_not_an_accuracy(tiny_run, target):
    out, _ = tiny_run
    res = CliRunner().invoke(main, ["compare", str(out), "--target", target])
    assert res.exit_code == 2 and "--target" in res.output


# ---------------------------------------------------------------------- errors, not tracebacks
def test_a_read_only_out_is_an_error_before_the_build(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    res = CliRunner().invoke(
        main, ["run", str(TINY), "--out", str(ro / "run"), "--quiet", "--set", "fl.mode=surrogate"]
    )
    assert res.exit_code == 2 and "cannot write the run folder" in res.output


def test_an_out_that_cannot_be_made_is_an_error_before_the_build(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(
        main,
        ["run", str(TINY), "--out", str(blocker / "run"), "--quiet", "--set", "fl.mode=surrogate"],
    )
    assert res.exit_code == 2 and "cannot write the run folder" in res.output, res.output


def test_a_full_disk_mid_run_is_one_message_and_keeps_what_was_written(tmp_path, monkeypatch):
    import errno

    from cosim.outputs.tables import CsvTable

    calls = {"n": 0}
    original = CsvTable.append

    def full(self, row):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", "rounds.csv")
        return original(self, row)

    monkeypatch.setattr(CsvTable, "append", full)
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main, ["run", str(TINY), "--out", str(out), "--quiet", "--set", "fl.mode=surrogate"]
    )
    assert res.exit_code == 2 and "No space left on device" in res.output
    assert "--resume" in res.output and (out / "events.jsonl").stat().st_size > 0


@pytest.fixture
def damaged_copy(tiny_run, tmp_path):
    import shutil

    out, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    return copy


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: _edit(d / "rounds.csv", 1, "t_end", "soon"), "column t_end = 'soon'"),
        (lambda d: _drop_column(d / "rounds.csv", "accuracy"), "missing column(s) accuracy"),
        (lambda d: _append(d / "rounds.csv", "train,3\n"), "different number of cells"),
        (lambda d: _append(d / "events.jsonl", "{not json\n"), "is not JSON"),
        (lambda d: _truncate(d / "channel.npz"), "channel.npz: unreadable or damaged"),
    ],
)
def test_plot_and_compare_on_damaged_tables_are_errors(damaged_copy, damage, message):
    """Seen: text in numeric cells, missing columns, ragged rows, bad events lines or a
    truncated channel.npz all ended in tracebacks."""
    damage(damaged_copy)
    res = CliRunner().invoke(main, ["plot", str(damaged_copy)])
    assert res.exit_code == 2 and message in res.output, res.output
    if "npz" not in message and "JSON" not in message:
        res = CliRunner().invoke(
            main, ["compare", str(damaged_copy), "--out", str(damaged_copy / "c.csv")]
        )
        assert res.exit_code == 2 and message in res.output, res.output


def _edit(path, row, column, value):
    import csv as _csv

    rows = list(_csv.DictReader(path.open()))
    rows[row - 1][column] = value
    with path.open("w", newline="") as f:
        w = _csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _drop_column(path, column):
    import csv as _csv

    rows = list(_csv.DictReader(path.open()))
    names = [c for c in rows[0] if c != column]
    with path.open("w", newline="") as f:
        w = _csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _append(path, text):
    with path.open("a") as f:
        f.write(text)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_compare_out_naming_a_folder_is_an_error(tiny_run, tmp_path):
    out, _ = tiny_run
    res = CliRunner().invoke(main, ["compare", str(out), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is a folder" in res.output


# ---------------------------------------------------------------------- memory known up front
DEFAULT = ROOT / "scenarios" / "default.toml"


@pytest.mark.parametrize(
    ("sets", "driver"),
    [
        # channel.npz grows with the samples on air: 2,000 clients a round for 200 rounds
        (["clients.count=5000", "clients.per_round=2000", "run.rounds=200"], "channel.npz"),
        # seen: channel.dt = 1e-4 with a 1,000 s deadline took 4.15 GB for 2 clients
        (["channel.dt=1e-4", "deadline.seconds=1000", "output.channel=false"], "channel window"),
    ],
)
def test_validate_and_run_refuse_what_would_not_fit(tmp_path, sets, driver):
    args = [a for s in [*sets, "run.max_memory_gb=2"] for a in ("--set", s)]
    res = CliRunner().invoke(main, ["validate", str(DEFAULT), *args])
    assert res.exit_code == 2 and f"the largest part is the {driver}" in res.output, res.output
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(DEFAULT), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 2 and "estimated peak memory" in res.output
    assert not out.exists()  # refused before anything is written


def test_validate_prints_the_estimate_of_what_fits(tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "validate",
            str(DEFAULT),
            "--set",
            "clients.count=5000",
            "--set",
            "run.rounds=20",
            "--set",
            "output.channel=false",
            "--set",
            "run.max_memory_gb=2",
        ],
    )
    assert res.exit_code == 0 and "estimated peak memory" in res.output, res.output


def test_resume_refuses_a_changed_trace_file(tmp_path):
    trace = tmp_path / "walk.csv"
    rows = ["t,client,x,y"] + [
        f"{t},{c},{100 + 10 * c + t},{50.0}" for c in range(4) for t in (0, 60)
    ]
    trace.write_text("\n".join(rows) + "\n")
    out = tmp_path / "killed"
    s = Scenario.load(TINY).updated(
        {**RESUMABLE, "mobility.model": "trace", "mobility.trace_file": str(trace)}
    )
    with pytest.raises(_Stop):
        run(s, out, observers=[_stop_at(4)])
    trace.write_text(trace.read_text().replace("50.0", "55.0"))
    _refused(out, r"changed since the checkpoint: mobility\.trace_file")


def test_a_plugin_strategy_and_mobility_model_are_checked_at_each_call():
    from cosim import register_mobility, register_strategy
    from cosim.mobility import Paths
    from fl.strategies import TopK

    class NoBits(TopK):
        name = "no-bits"

        def compress(self, update, global_state, budget, rng):
            p = super().compress(update, global_state, budget, rng)
            return type(p)(p.tensors, p.values, -1, p.meta)

    class Jumpy(Paths):
        name = "jumpy"

        def next_legs(self, clients, legs, p, v_prev):
            return np.full((len(clients), 2), np.nan), np.ones(len(clients))

    register_strategy("no-bits", lambda s: NoBits(s.strategy.bits_per_value))
    register_mobility("jumpy", lambda s, placement, block: Jumpy(placement, block))
    s = Scenario.load(TINY).updated({"strategy.name": "no-bits", "strategy.budget": 0.5})
    with pytest.raises(RuntimeError, match=r"strategy 'no-bits': compress\(\) gave bits = -1"):
        run(s)
    s = Scenario.load(TINY).updated({**LEARNING_FREE, "mobility.model": "jumpy"})
    with pytest.raises(RuntimeError, match=r"'jumpy': next_legs\(\) gave velocity of shape"):
        run(s)


def test_resume_rereads_a_recorded_plugin_file_where_it_was(tmp_path, monkeypatch, uninterrupted):
    """A plugin file imported by the killed run is hashed again at its path on resume: an
    unchanged one resumes (even from a process that has not imported it), an edited one is
    refused."""
    from cosim import plugins, resume

    plugin = tmp_path / "harmless.py"
    plugin.write_text("X = 1\n")
    monkeypatch.setattr(plugins, "LOADED_FILES", [])
    plugins.load_plugin(str(plugin))
    monkeypatch.setattr("cosim.world.inputs.LOADED_FILES", plugins.LOADED_FILES)
    out = _killed(tmp_path)
    plugins.LOADED_FILES.clear()  # a new process: nothing imported
    plugin.write_text("X = 2\n")
    _refused(out, r"changed since the checkpoint: --plugin .*harmless\.py")
    plugin.write_text("X = 1\n")
    resume(out)
    _same(out, uninterrupted)
