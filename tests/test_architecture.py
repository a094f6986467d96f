"""Architecture and hygiene: import direction (import-linter) and a ruff-clean tree."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(__import__("sys").executable).parent / name)
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return path


def test_imports_point_one_way():
    res = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_clean():
    res = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


PACKAGES = ("cosim", "channels", "fl")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


def _sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_files_and_functions_stay_small():
    """No module over 400 lines, no function over 60 (one idea per file, a round as a story)."""
    import ast

    long_files, long_functions = [], []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.name} ({n} lines)")
    assert not long_files, long_files
    assert not long_functions, long_functions


def test_capabilities_are_declared_not_guessed():
    """The engine reads what a component can do from its declared attributes: never through
    getattr with a default, never by comparing a component's name inside cosim/ (channels'
    38.901 formulas do branch on the cell they describe). cosim/world/components.py reads a
    duck-typed registered allocator's declarations once, into the typed interface."""
    import re

    guess = re.compile(r"getattr\([^)]*(chooses_budgets|needs_true_channel|least_bandwidth)")
    by_name = re.compile(r"\.name\s*==\s*[\"']")
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if guess.search(line) and rel != "cosim/world/components.py":
                found.append(f"{rel}:{i}: {line.strip()}")
            if by_name.search(line) and rel.startswith("cosim/"):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, found
