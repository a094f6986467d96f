"""What a run is asked to do: the scenario schema, its presets, TOML in and out, the names of
components (built in and registered), and the errors that name a file, field and value."""

from cosim.scenario.errors import ScenarioError
from cosim.scenario.schema import Scenario, load_scenario, scenario_from_dict, scenario_to_toml

__all__ = ["Scenario", "ScenarioError", "load_scenario", "scenario_from_dict", "scenario_to_toml"]
