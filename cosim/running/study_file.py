"""Study files (STUDY.toml): a scenario, seeds, a reference variant, metrics, overrides for
every point, variants and axes (a grid, and zipped keys that move together), validated, and
expanded into paired points: each (variant, axis point, seed) is one run, and every variant at
an axis point runs the same seeds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cosim.outputs.summary import RUN_METRICS
from cosim.running.points import Point
from cosim.running.sweep import point_name
from cosim.scenario import ScenarioError, load_scenario
from cosim.scenario.io import RELATIVE_PATHS, toml_tables
from cosim.world.inputs import check_inputs
from cosim.world.memory import check_memory

DEFAULT_METRICS = ("final_accuracy", "miss_rate", "mbit_up", "sim_time_s")
NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"
KEY = re.compile(r"^[a-z_]+\.[a-z0-9_]+$")


class StudyFileError(ScenarioError):
    """An unusable study file; names the file, the field, the value and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _StudySection(_Strict):
    scenario: str
    seeds: int | list[int]
    reference: str
    metrics: Annotated[list[str], Field(min_length=1)] = list(DEFAULT_METRICS)
    set: dict[str, Any] = {}
    target_accuracy: Annotated[float, Field(gt=0, le=1)] | None = None


class _Variant(_Strict):
    set: dict[str, Any] = {}


class _File(_Strict):
    study: _StudySection
    variants: Annotated[dict[Annotated[str, Field(pattern=NAME)], _Variant], Field(min_length=1)]
    axes: dict[str, Any] = {}


@dataclass(frozen=True)
class Axis:
    """One axis: its keys (several when zipped; named by the first) and its values, one tuple
    of values per point."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    @property
    def name(self) -> str:
        return self.keys[0]


@dataclass(frozen=True)
class Study:
    """A validated study file."""

    path: Path
    scenario: Path
    seeds: tuple[int, ...]
    reference: str
    metrics: tuple[str, ...]
    overrides: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    axes: tuple[Axis, ...]
    target_accuracy: float | None

    @property
    def axis_keys(self) -> list[str]:
        return [a.name for a in self.axes]

    def axis_points(self) -> list[dict[str, Any]]:
        """Every axis point as ``{key: value}`` for every key of every axis (grid order)."""
        combos: list[dict[str, Any]] = [{}]
        for axis in self.axes:
            combos = [
                {**c, **dict(zip(axis.keys, vals, strict=True))}
                for c in combos
                for vals in axis.values
            ]
        return combos

    def to_toml(self) -> str:
        """The study as resolved (scenario path absolute, seeds listed): the study folder's copy."""
        axes: dict[str, Any] = {
            a.name: [v[0] for v in a.values] for a in self.axes if len(a.keys) == 1
        }
        zipped = {
            ", ".join(a.keys): [list(v) for v in a.values] for a in self.axes if len(a.keys) > 1
        }
        if zipped:
            axes["zip"] = zipped
        study: dict[str, Any] = dict(
            scenario=str(self.scenario),
            seeds=list(self.seeds),
            reference=self.reference,
            metrics=list(self.metrics),
            set=self.overrides,
        )
        if self.target_accuracy is not None:
            study["target_accuracy"] = self.target_accuracy
        data = dict(study=study, variants={v: {"set": s} for v, s in self.variants.items()})
        if axes:
            data["axes"] = axes
        return "# Resolved study written by wfl-cosim study.\n\n" + tomli_w.dumps(data)


def _describe(exc: ValidationError, path: Path) -> str:
    lines = []
    for e in exc.errors():
        field = ".".join(str(x) for x in e["loc"] if not str(x).startswith(("int", "list[")))
        value = e.get("input")
        shown = "" if e["type"] == "missing" else f" = {value!r}"
        lines.append(f"{path}: {field}{shown}: {e['msg']}")
    return "\n".join(dict.fromkeys(lines))


def _axes(raw: dict[str, Any], path: Path) -> tuple[Axis, ...]:
    out = []
    for key, values in raw.items():
        if key == "zip":
            if not isinstance(values, dict) or not values:
                raise StudyFileError(f'{path}: axes.zip: a table of "k1, k2" = [[v1, v2], ...]')
            for names, rows in values.items():
                keys = tuple(k.strip() for k in names.split(","))
                if len(keys) < 2 or not isinstance(rows, list) or not rows:
                    raise StudyFileError(
                        f"{path}: axes.zip.{names!r}: two or more comma-separated keys, each "
                        "point a list with one value per key"
                    )
                for row in rows:
                    if not isinstance(row, list) or len(row) != len(keys):
                        raise StudyFileError(
                            f"{path}: axes.zip.{names!r}: point {row!r}: expected a list of "
                            f"{len(keys)} values, one per key"
                        )
                out.append(Axis(keys, tuple(tuple(r) for r in rows)))
        else:
            if not isinstance(values, list) or not values:
                raise StudyFileError(
                    f"{path}: axes.{key!r} = {values!r}: a non-empty list of values"
                )
            out.append(Axis((key,), tuple((v,) for v in values)))
    keys = [k for a in out for k in a.keys]
    for k in keys:
        if not KEY.match(k):
            raise StudyFileError(
                f"{path}: axes: key {k!r}: expected section.key (e.g. deadline.seconds)"
            )
    if len(set(keys)) != len(keys):
        raise StudyFileError(f"{path}: axes name a key twice: {keys}")
    return tuple(out)


def _read(path: Path) -> _File:
    try:
        raw = toml_tables(path, "study")
    except ScenarioError as exc:
        raise StudyFileError(str(exc)) from None
    try:
        return _File.model_validate(raw)
    except ValidationError as exc:
        raise StudyFileError(_describe(exc, path)) from None


def _seeds(st: _StudySection, path: Path) -> tuple[int, ...]:
    seeds = tuple(range(1, st.seeds + 1)) if isinstance(st.seeds, int) else tuple(st.seeds)
    if not seeds or min(seeds) < 0:
        raise StudyFileError(
            f"{path}: study.seeds = {st.seeds!r}: a count n >= 1 (seeds 1..n) or a non-empty "
            "list of seeds >= 0"
        )
    if len(set(seeds)) != len(seeds):
        raise StudyFileError(f"{path}: study.seeds = {list(seeds)}: a seed is listed twice")
    return seeds


def _check_sets(f: _File, axes: tuple[Axis, ...], path: Path) -> None:
    """Set keys are section.key, never run.seed (the study's seeds), never an axis key."""
    axis_keys = {k for a in axes for k in a.keys}
    sets = [("study.set", f.study.set)] + [
        (f"variants.{v}.set", x.set) for v, x in f.variants.items()
    ]
    for where, table in sets:
        for key in table:
            if not KEY.match(key):
                raise StudyFileError(f"{path}: {where}: key {key!r}: expected section.key")
            if key == "run.seed":
                raise StudyFileError(f"{path}: {where}: run.seed: the seeds are study.seeds")
            if key in axis_keys:
                raise StudyFileError(f"{path}: {where}: {key} is also an axis; set it in one place")


def _here(sets: dict[str, Any], base: Path) -> dict[str, Any]:
    """``sets`` with file fields (data.path, ...) made absolute from the study's folder."""
    relative = {f"{sec}.{key}" for sec, key in RELATIVE_PATHS}
    return {
        k: str((base / v).resolve()) if k in relative and isinstance(v, str) and v else v
        for k, v in sets.items()
    }


def load_study(path: str | Path) -> Study:
    """Read and check a study file's own fields (not yet the runs it asks for: see points)."""
    path = Path(path)
    f = _read(path)
    st = f.study
    if st.reference not in f.variants:
        raise StudyFileError(
            f"{path}: study.reference = {st.reference!r}: not a variant (variants: "
            f"{', '.join(f.variants)})"
        )
    bad = [m for m in st.metrics if m not in RUN_METRICS]
    if bad:
        raise StudyFileError(
            f"{path}: study.metrics: {', '.join(map(repr, bad))} not a run summary field "
            f"(one of {', '.join(RUN_METRICS)})"
        )
    axes = _axes(f.axes, path)
    _check_sets(f, axes, path)
    base = path.parent
    axes = tuple(
        Axis(
            a.keys,
            tuple(tuple(_here(dict(zip(a.keys, v, strict=True)), base).values()) for v in a.values),
        )
        for a in axes
    )
    return Study(
        path=path,
        scenario=(base / st.scenario).resolve(),
        seeds=_seeds(st, path),
        reference=st.reference,
        metrics=tuple(st.metrics),
        overrides=_here(st.set, base),
        variants={v: _here(x.set, base) for v, x in f.variants.items()},
        axes=axes,
        target_accuracy=st.target_accuracy,
    )


def override(key: str, value: Any) -> str:
    """``key=value`` with the value written as TOML, as --set reads it back."""
    return f"{key}={tomli_w.dumps({'v': value})[4:].strip()}"


def _overrides(sets: dict[str, Any]) -> tuple[str, ...]:
    return tuple(override(k, v) for k, v in sets.items())


def _load(study: Study, overrides: tuple[str, ...], where: str) -> Any:
    try:
        return load_scenario(study.scenario, overrides)
    except ScenarioError as exc:
        msg = str(exc).replace("(from --set)", "(from the study)")
        raise StudyFileError(f"{study.path}: {where}: {msg}") from None


def points(study: Study, out: Path) -> list[Point]:
    """Every (variant, axis point, seed) as a Point in ``out``/VARIANT/[AXES__]seed=N, each
    validated (fields, files it reads, memory) before anything runs; StudyFileError names the
    study file and the field whose value does not validate."""
    if not study.scenario.is_file():
        raise StudyFileError(f"{study.path}: study.scenario: {study.scenario}: file not found")
    _load(study, _overrides(study.overrides), "study.set")
    for v, sets in study.variants.items():
        _load(study, _overrides({**study.overrides, **sets}), f"variants.{v}.set")
    for axis in study.axes:
        for vals in axis.values:
            where = f"axes.{axis.name} = {vals[0] if len(vals) == 1 else list(vals)!r}"
            sets = {**study.overrides, **dict(zip(axis.keys, vals, strict=True))}
            _load(study, _overrides(sets), where)
    out_points = []
    for v, sets in study.variants.items():
        for ax in study.axis_points():
            base = {**study.overrides, **sets, **ax}
            where = f"variants.{v}.set with axes {ax}" if ax else f"variants.{v}.set"
            axis_part = point_name([f"{a.name}={ax[a.name]}" for a in study.axes])
            for seed in study.seeds:
                overrides = _overrides({**base, "run.seed": seed})
                s = _load(study, overrides, where)
                if seed == study.seeds[0]:  # files and memory do not depend on the seed
                    try:
                        check_inputs(s, str(study.scenario))
                        check_memory(s, str(study.scenario))
                    except ScenarioError as exc:
                        raise StudyFileError(f"{study.path}: {where}: {exc}") from None
                folder = out / v / (f"{axis_part}__seed={seed}" if axis_part else f"seed={seed}")
                labels = dict(variant=v, **{a.name: ax[a.name] for a in study.axes}, seed=seed)
                out_points.append(Point(f"{v}/{folder.name}", overrides, folder, s, labels))
    return out_points
