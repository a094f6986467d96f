"""Reading scenarios from TOML with --set overrides, and writing them back fully resolved."""

from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Any

import annotated_types
import tomli_w
from pydantic import BaseModel, ValidationError

from cosim.registry import KINDS, names
from cosim.scenario import Scenario

RELATIVE_PATHS = (("mobility", "trace_file"), ("fl", "profile"))  # relative to the scenario file


class ScenarioError(ValueError):
    """An unusable scenario; the message names the file, field, value and what is allowed."""


def load_scenario(path: str | Path, overrides: typing.Sequence[str] = ()) -> Scenario:
    """Read ``path``, apply ``section.key=value`` overrides, validate; raise ScenarioError."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text: {exc}") from None
    for section, key in RELATIVE_PATHS:
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            raw[section][key] = str((path.parent / value).resolve())
    return scenario_from_dict(raw, source=str(path), overrides=overrides)


def scenario_from_dict(
    raw: dict[str, Any],
    source: str = "<scenario>",
    overrides: typing.Sequence[str] | typing.Mapping[str, Any] = (),
) -> Scenario:
    """Validate a scenario given as nested dicts, after applying overrides: ``section.key=value``
    strings (values read as TOML) or a ``{"section.key": value}`` mapping."""
    data = copy.deepcopy(raw)
    if isinstance(overrides, typing.Mapping):
        changes = [(_split_key(k, f"{k}={v!r}"), v) for k, v in overrides.items()]
    else:
        changes = [parse_override(item) for item in overrides]
    overridden, by = set(), "updated()" if isinstance(overrides, typing.Mapping) else "--set"
    for (section, field), value in changes:
        if not isinstance(data.setdefault(section, {}), dict):
            raise ScenarioError(f"{source}: [{section}] must be a table")
        data[section][field] = value
        overridden.add(f"{section}.{field}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source, overridden, by)) from None


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


def scenario_to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML, every default written out."""
    header = "# Resolved scenario written by wfl-cosim: every field, defaults included.\n"
    header += "# `wfl-cosim run` on this file repeats the run exactly.\n\n"
    return header + tomli_w.dumps(scenario.model_dump(mode="json"))


def describe_field(section: str, field: str) -> str:
    """Allowed values of ``section.field`` in words (range or choices)."""
    sec = Scenario.model_fields.get(section)
    if sec is None:
        return f"sections: {', '.join(Scenario.model_fields)}"
    model: type[BaseModel] = sec.annotation  # type: ignore[assignment]
    info = model.model_fields.get(field)
    if info is None:
        return f"keys in [{section}]: {', '.join(model.model_fields)}"
    for kind, spec in KINDS.items():
        if spec.field == f"{section}.{field}":
            return "one of " + ", ".join(repr(n) for n in names(kind))
    return _allowed(info.annotation, info.metadata)


def _allowed(annotation: Any, metadata: list[Any]) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin is tuple:
        inner = typing.get_args(annotation)[0]
        return "a list, each " + _allowed(inner, [])
    lo = hi = ""
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            lo = f"{m.ge} <= "
        elif isinstance(m, annotated_types.Gt):
            lo = f"{m.gt} < "
        elif isinstance(m, annotated_types.Le):
            hi = f" <= {m.le}"
        elif isinstance(m, annotated_types.Lt):
            hi = f" < {m.lt}"
    name = getattr(annotation, "__name__", str(annotation))
    return f"{name} {lo}x{hi}".strip() if (lo or hi) else name


def _describe(exc: ValidationError, source: str, overridden: set[str], by: str = "--set") -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = ".".join(loc[:2]) if loc else "(scenario)"
        origin = f" (from {by})" if where in overridden else ""
        if err["type"] == "extra_forbidden":
            if len(loc) == 1:
                allowed = "sections: " + ", ".join(Scenario.model_fields)
                lines.append(f"{source}: [{loc[0]}]{origin}: unknown section; {allowed}")
            else:
                allowed = describe_field(loc[0], "")
                lines.append(f"{source}: {where}{origin}: unknown key; allowed {allowed}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" or len(loc) < 2:
            lines.append(f"{source}: {msg}")
            continue
        allowed = describe_field(loc[0], loc[1])
        value = err.get("input")
        lines.append(f"{source}: {where}{origin} = {value!r}: {msg}; allowed: {allowed}")
    return "\n".join(lines)
