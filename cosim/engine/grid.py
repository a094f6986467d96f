"""One round's trace grid: which global steps of channel.dt a round's channel covers, and all
the index arithmetic between simulated time and those steps (one place for it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def grid_steps(t0: float, t1: float, dt: float) -> np.ndarray:
    """Global step indices i whose steps [i·dt, (i+1)·dt) cover [t0, t1]."""
    i0 = math.floor(t0 / dt)
    while i0 * dt > t0:
        i0 -= 1
    i1 = math.ceil(t1 / dt)
    while i1 * dt < t1:
        i1 += 1
    return np.arange(i0, max(i1, i0 + 1))


@dataclass(frozen=True)
class RoundGrid:
    """Steps [n] (global indices, int64) of a round's channel window from the CSI instant to
    the deadline; ``j0`` is the column of the round start (earlier columns are the CSI's)."""

    steps: np.ndarray
    dt: float
    j0: int

    @classmethod
    def for_round(cls, t_csi: float, now: float, deadline: float, dt: float) -> RoundGrid:
        """The window [t_csi, deadline] on the global grid of step ``dt`` [s]."""
        steps = grid_steps(t_csi, deadline, dt)
        return cls(steps, dt, int(grid_steps(now, deadline, dt)[0] - steps[0]))

    @property
    def n(self) -> int:
        """Number of steps."""
        return len(self.steps)

    @property
    def t0(self) -> float:
        """Start of the first step [s]."""
        return self.steps[0] * self.dt

    @property
    def end(self) -> float:
        """End of the last step [s]."""
        return self.t0 + self.n * self.dt

    @property
    def step_ends(self) -> np.ndarray:
        """End of every step [n], s."""
        return self.t0 + self.dt * np.arange(1, self.n + 1)

    @property
    def times(self) -> np.ndarray:
        """Start of every step [n], s (where the channel is evaluated)."""
        return self.steps * self.dt

    def column(self, t: float) -> int:
        """The step holding instant ``t`` (clamped into the window)."""
        return min(max(int((t - self.t0) // self.dt), 0), self.n - 1)

    def column_from(self, t: float) -> int:
        """The step holding instant ``t`` ≥ the window start (clamped at the last step)."""
        return min(int((t - self.t0) // self.dt), self.n - 1)
