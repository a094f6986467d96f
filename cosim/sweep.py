"""The public path of ``sweep`` (docs/API.md: ``cosim.sweep.sweep``); it lives in
cosim/running/sweep.py."""

from cosim.running.sweep import sweep

__all__ = ["sweep"]
