"""Scenario files in and out: TOML read with paths made absolute, ``--set`` overrides applied,
and a resolved scenario written back. Knows nothing of the schema (validation is the
schema's)."""

from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Any

import tomli_w

from cosim.scenario.errors import ScenarioError

# file and folder fields: in a scenario file relative to that file, with --set relative to the
# current directory; stored absolute in the resolved scenario
RELATIVE_PATHS = (
    ("mobility", "trace_file"),
    ("fl", "profile"),
    ("model", "path"),
    ("data", "path"),
)


def toml_tables(path: Path, kind: str = "scenario") -> dict[str, Any]:
    """The tables of the TOML file ``path`` (a ``kind`` file: scenario, study); ScenarioError
    when it is missing, not TOML or not UTF-8."""
    if not path.is_file():
        raise ScenarioError(f"{path}: {kind} file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text: {exc}") from None


def flat_fields(text: str) -> dict[str, Any]:
    """A resolved scenario's fields as ``section.key`` -> value ({} when it is not TOML)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
    return {
        f"{s}.{k}": v
        for s, table in data.items()
        if isinstance(table, dict)
        for k, v in table.items()
    }


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of scenario file ``path``, its relative file paths made absolute."""
    raw = toml_tables(path)
    for section, key in RELATIVE_PATHS:
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str) and value:
            raw[section][key] = _absolute(value, path.parent, f"{path}: {section}.{key}")
    return raw


def _absolute(value: str, base: Path, field: str) -> str:
    """A file path of a scenario field as an absolute one (relative ones from ``base``)."""
    if "\x00" in value:
        raise ScenarioError(f"{field}: the file path {value[:80]!r} contains a NUL character")
    return value if Path(value).is_absolute() else str((base / value).resolve())


def apply_overrides(
    raw: dict[str, Any],
    source: str,
    overrides: typing.Sequence[str] | typing.Mapping[str, Any],
) -> tuple[dict[str, Any], set[str], str]:
    """A copy of ``raw`` with ``section.key=value`` strings (values read as TOML) or a
    ``{"section.key": value}`` mapping applied; the keys overridden and by what (messages)."""
    data = copy.deepcopy(raw)
    if isinstance(overrides, typing.Mapping):
        changes = [(_split_key(k, f"{k}={v!r}"), v) for k, v in overrides.items()]
    else:
        changes = [parse_override(item) for item in overrides]
    overridden, by = set(), "updated()" if isinstance(overrides, typing.Mapping) else "--set"
    for (section, field), value in changes:
        if not isinstance(data.setdefault(section, {}), dict):
            raise ScenarioError(f"{source}: [{section}] must be a table")
        if (section, field) in RELATIVE_PATHS and isinstance(value, str) and value:
            # stored resolved: a re-run of the folder's scenario.toml reads the same file
            value = _absolute(value, Path.cwd(), f"{source}: {section}.{field}")
        data[section][field] = value
        overridden.add(f"{section}.{field}")
    return data, overridden, by


def _split_key(key: str, item: str) -> tuple[str, str]:
    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ScenarioError(f"--set {item!r}: key must be section.key (e.g. run.seed)")
    return parts[0], parts[1]


def parse_override(item: str) -> tuple[tuple[str, str], Any]:
    """``section.key=value`` -> ((section, key), value); value read as TOML, else as a string."""
    if "=" not in item:
        raise ScenarioError(f"--set {item!r}: expected section.key=value")
    key, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return _split_key(key, item), value


def toml_text(data: dict[str, Any]) -> str:
    """A resolved scenario (as plain tables) as TOML, with the header a run folder keeps."""
    header = "# Resolved scenario written by wfl-cosim: every field, defaults included.\n"
    header += "# `wfl-cosim run` on this file repeats the run exactly.\n\n"
    return header + tomli_w.dumps(data)
