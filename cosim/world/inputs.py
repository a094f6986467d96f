"""The files a scenario names (trace, profile, model checkpoint, data file), loaded — not run —
so that `validate`, a sweep's up-front check and a run's build all refuse the same bad file
the same way, naming the field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cosim.mobility import TraceFileError, read_trace
from cosim.plugins import LOADED_FILES
from cosim.scenario.errors import ScenarioError
from cosim.scenario.files import InputFileError, check_input_file
from cosim.scenario.registry import ComponentError
from cosim.scenario.schema import Scenario
from cosim.world.learning import load_data, lora_spec, model_source
from fl import (
    LoraTargetError,
    ModelSourceError,
    PartitionError,
    ProfileError,
    SurrogateProfile,
    model_skeleton,
)
from fl.backends import BackendUnavailable
from fl.data import DataFileError, training_size
from fl.train import DeviceUnavailable, pick_device

T = TypeVar("T")

MAX_DATA_BYTES = 8 << 30  # a data file read whole into memory: 8 GiB at most

_FIELDS = (  # error type -> the field its message is about
    (PartitionError, "data.partition"),
    (TraceFileError, "mobility.trace_file"),
    (ProfileError, "fl.profile"),
    (ModelSourceError, "model.path"),
    (LoraTargetError, "model.lora_targets"),
    (DataFileError, "data.path"),
    (DeviceUnavailable, "train.device"),
)


def as_scenario_error(exc: Exception, s: Scenario, source: str) -> ScenarioError | None:
    """The ScenarioError a failure while loading or building ``s`` means (None: not one)."""
    if isinstance(exc, PartitionError):
        return ScenarioError(f"{source}: data.partition = {s.data.partition!r}: {exc}")
    for kind, field in _FIELDS:
        if isinstance(exc, kind):
            return ScenarioError(f"{source}: {field}: {exc}")
    if isinstance(exc, ComponentError | BackendUnavailable):
        return ScenarioError(f"{source}: {exc}")
    return None


def built(build: Callable[[Scenario], T], s: Scenario, source: str) -> T:
    """``build(s)``; a failure that means a part ``s`` asks for cannot be had is re-raised as
    the ScenarioError naming its field (any other failure propagates as it was)."""
    try:
        return build(s)
    except Exception as exc:
        err = as_scenario_error(exc, s, source)
        if err is None:
            raise
        raise err from None


def input_files(s: Scenario, plugin_files: Sequence[Path] | None = None) -> dict[str, str]:
    """The files a run of ``s`` reads besides its scenario (field or plugin -> path): the trace
    and profile it names, the model's config.json, the data, and ``plugin_files`` (None: every
    plugin file this process imported)."""
    files = {}
    if s.mobility.model == "trace" and s.mobility.trace_file:
        files["mobility.trace_file"] = s.mobility.trace_file
    if s.fl.mode == "surrogate" and s.fl.profile:
        files["fl.profile"] = s.fl.profile
    if s.model.path:
        files["model.path (config.json)"] = str(Path(s.model.path) / "config.json")
    if s.data.path:
        files["data.path"] = s.data.path
    for path in LOADED_FILES if plugin_files is None else plugin_files:
        files[f"--plugin {path}"] = str(path)
    return files


def check_inputs(s: Scenario, source: str) -> None:
    """Load every file-backed field ``s`` uses; ScenarioError naming field and file."""
    try:
        if s.mobility.model == "trace":
            read_trace(s.mobility.trace_file, s.clients.count, s.clients.height_m)
        if s.fl.mode == "surrogate" and s.fl.profile:
            SurrogateProfile.load(s.fl.profile)
        model_skeleton(model_source(s), 2, lora_spec(s))  # path, layers, task, targets
        check_data(s)
        if s.fl.mode == "train":
            pick_device(s.train.device)
    except (
        TraceFileError,
        ProfileError,
        ModelSourceError,
        LoraTargetError,
        DataFileError,
        DeviceUnavailable,
    ) as exc:
        raise as_scenario_error(exc, s, source) from None
    except InputFileError as exc:
        raise ScenarioError(f"{source}: data.path: {exc}") from None


def check_data(s: Scenario) -> None:
    """The scenario's data file: a bounded regular file (or a folder), readable, with the
    fields asked for, and at least one example per client."""
    if s.data.path and not Path(s.data.path).is_dir():
        check_input_file(s.data.path, "data file", MAX_DATA_BYTES)
    if not s.data.path and s.model.task == "classify":
        return  # a packaged dataset: checked by its tests, loaded by the run
    data = load_data(s)
    train = training_size(data.labels, s.data.test_fraction)
    if train < s.clients.count:
        raise DataFileError(
            f"{s.data.path or s.data.name}: {len(data.texts)} examples, {train} of them for "
            f"training (data.test_fraction = {s.data.test_fraction}), for clients.count = "
            f"{s.clients.count} clients; every client needs one at least"
        )
    if s.model.task == "causal-lm" and s.data.partition != "iid" and len(data.label_names) < 2:
        raise DataFileError(
            f"data.partition = {s.data.partition!r} splits by group, and the data has none: "
            "name a grouping column in data.group_field, or use data.partition = 'iid'"
        )
