"""The `wfl-cosim` command line: validate, run, trace, plot, compare, sweep and study scenarios
(click); bad input exits 2."""

from cosim.cli.app import main

__all__ = ["main"]
