"""Where clients are and how they move: piecewise-linear paths (paths), the models that draw
their legs (models), and trace files (trace). ``cosim.mobility.Paths`` is what a custom
mobility factory returns."""

from cosim.mobility.models import GaussMarkov, Highway, Linear, RandomWaypoint, highway_lanes
from cosim.mobility.paths import Paths, Static, place_uniform_disc
from cosim.mobility.trace import TraceFile, TraceFileError, read_trace

__all__ = [
    "GaussMarkov",
    "Highway",
    "Linear",
    "Paths",
    "RandomWaypoint",
    "Static",
    "TraceFile",
    "TraceFileError",
    "highway_lanes",
    "place_uniform_disc",
    "read_trace",
]
