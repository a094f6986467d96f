"""Where clients are and how they move: piecewise-linear paths, the models that draw their
legs, and trace files. ``cosim.mobility.Paths`` is what a custom mobility factory returns."""

from cosim.mobility.paths import Paths

__all__ = ["Paths"]
