"""Shared fixtures: the tiny scenario and one run of it (runs once per test session)."""

import json
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
