"""The co-simulation: scenario schema, SimPy engine, mobility, compute model, outputs, CLI."""

from cosim.runner import RunResult, run
from cosim.scenario import Scenario
from cosim.scenario_io import ScenarioError, load_scenario, scenario_from_dict, scenario_to_toml

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "run",
    "scenario_from_dict",
    "scenario_to_toml",
]
