"""Scenario errors, and the words that say what a field allows: every message names the
file, the field, the value and what is allowed."""

from __future__ import annotations

import typing
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError

from cosim.scenario.registry import KINDS, names


class ScenarioError(ValueError):
    """An unusable scenario; the message names the file, field, value and what is allowed."""


def describe_field(schema: type[BaseModel], section: str, field: str) -> str:
    """Allowed values of ``section.field`` in words (range or choices)."""
    sec = schema.model_fields.get(section)
    if sec is None:
        return f"sections: {', '.join(schema.model_fields)}"
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
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return _allowed(base, [*meta, *metadata])
    pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
    if pattern:
        return f"a name matching {pattern}"
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


def describe(
    exc: ValidationError, schema: type[BaseModel], source: str, overridden: set[str], by: str
) -> str:
    """One line per validation error of ``schema``, naming source, field, value, allowed."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = ".".join(loc[:2]) if loc else "(scenario)"
        origin = f" (from {by})" if where in overridden else ""
        if err["type"] == "extra_forbidden":
            if len(loc) == 1:
                allowed = "sections: " + ", ".join(schema.model_fields)
                lines.append(f"{source}: [{loc[0]}]{origin}: unknown section; {allowed}")
            else:
                allowed = describe_field(schema, loc[0], "")
                lines.append(f"{source}: {where}{origin}: unknown key; allowed {allowed}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" or len(loc) < 2:
            lines.append(f"{source}: {msg}")
            continue
        allowed = describe_field(schema, loc[0], loc[1])
        value = err.get("input")
        lines.append(f"{source}: {where}{origin} = {value!r}: {msg}; allowed: {allowed}")
    return "\n".join(lines)
