"""The files a scenario names (trace, profile), loaded — not run — so that `validate`, a
sweep's up-front check and a run's build all refuse the same bad file the same way, naming
the field."""

from __future__ import annotations

from cosim.mobility import TraceFileError, read_trace
from cosim.scenario.errors import ScenarioError
from cosim.scenario.registry import ComponentError
from cosim.scenario.schema import Scenario
from fl import PartitionError, ProfileError, SurrogateProfile
from fl.backends import BackendUnavailable


def as_scenario_error(exc: Exception, s: Scenario, source: str) -> ScenarioError | None:
    """The ScenarioError a failure while loading or building ``s`` means (None: not one)."""
    if isinstance(exc, PartitionError):
        return ScenarioError(f"{source}: data.partition = {s.data.partition!r}: {exc}")
    if isinstance(exc, TraceFileError):
        return ScenarioError(f"{source}: mobility.trace_file: {exc}")
    if isinstance(exc, ProfileError):
        return ScenarioError(f"{source}: fl.profile: {exc}")
    if isinstance(exc, ComponentError | BackendUnavailable):
        return ScenarioError(f"{source}: {exc}")
    return None


def check_inputs(s: Scenario, source: str) -> None:
    """Load every file-backed field ``s`` uses; ScenarioError naming field and file."""
    try:
        if s.mobility.model == "trace":
            read_trace(s.mobility.trace_file, s.clients.count, s.clients.height_m)
        if s.fl.mode == "surrogate" and s.fl.profile:
            SurrogateProfile.load(s.fl.profile)
    except (TraceFileError, ProfileError) as exc:
        raise as_scenario_error(exc, s, source) from None
