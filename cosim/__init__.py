"""The co-simulation: scenario schema, SimPy engine, mobility, compute model, outputs, CLI.

The Python API: ``Scenario`` (load, update, write), ``run`` (with event observers),
``resume`` (continue a killed run), ``run_study`` (a paired multi-seed study), ``read_run``
(a run folder's tables), ``read_channel`` (its channel.npz, with dense views), and
``register_mobility`` / ``register_allocator`` / ``register_strategy`` (custom components a
scenario file names). See docs/API.md.
"""

from cosim.outputs.channel_npz import ChannelFile, read_channel
from cosim.outputs.results import RunResult, RunTables, read_run
from cosim.running.runner import resume, run
from cosim.running.study import StudyResult, run_study
from cosim.scenario import ScenarioError, load_scenario, scenario_from_dict, scenario_to_toml
from cosim.scenario.registry import (
    ComponentError,
    RegistryError,
    register_allocator,
    register_mobility,
    register_strategy,
)
from cosim.scenario.schema import Scenario

__all__ = [
    "ChannelFile",
    "ComponentError",
    "RegistryError",
    "RunResult",
    "RunTables",
    "Scenario",
    "ScenarioError",
    "StudyResult",
    "load_scenario",
    "read_channel",
    "read_run",
    "register_allocator",
    "register_mobility",
    "register_strategy",
    "resume",
    "run",
    "run_study",
    "scenario_from_dict",
    "scenario_to_toml",
]
