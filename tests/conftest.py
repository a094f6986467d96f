"""Shared fixtures: the tiny scenario and one run of it (runs once per test session)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cosim import load_scenario, run

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.toml"


def read_events(run_dir: Path) -> list[dict]:
    """The events of a run folder, in order."""
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Run folder of the tiny scenario, and its result."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    result = run(load_scenario(TINY), out)
    return out, result


def kill_at_checkpoint(
    args: list[str], run_dir: Path, round_: int = 3, alone: bool = False
) -> None:
    """Start ``python -m cosim *args`` in its own process group and kill the whole group (as
    a closed terminal does) once ``run_dir`` holds a checkpoint of ``round_`` or later; with
    ``alone``, kill that process only and wait (at most 10 s) for its children to end by
    themselves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosim", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = run_dir / "checkpoint" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["round"] >= round_:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    if not alone:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return
    import psutil

    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    for p in alive:
        p.kill()
    assert not alive, f"children still running after their parent died: {alive}"


@pytest.fixture
def clean_registry():
    """Registrations made by a test do not leak into the next (use with autouse wrappers)."""
    from cosim.scenario import registry as reg

    saved = {k: dict(v) for k, v in reg._custom.items()}
    yield
    for k in reg._custom:
        reg._custom[k] = saved[k]


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """model_type -> folder of a tiny random checkpoint of it (built once per session)."""
    from model_zoo import CONFIGS, build_checkpoint

    root = tmp_path_factory.mktemp("zoo")
    return {kind: build_checkpoint(kind, root / kind) for kind in CONFIGS}
