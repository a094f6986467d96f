"""Client placement around the base station and how clients move in simulated time."""

from __future__ import annotations

from typing import Protocol

import numpy as np


def place_uniform_disc(
    count: int, radius_m: float, min_distance_m: float, height_m: float, rng: np.random.Generator
) -> np.ndarray:
    """``count`` positions [count, 3] uniform over the annulus min_distance..radius."""
    r = np.sqrt(rng.uniform(min_distance_m**2, radius_m**2, count))
    phi = rng.uniform(0.0, 2.0 * np.pi, count)
    return np.stack([r * np.cos(phi), r * np.sin(phi), np.full(count, height_m)], axis=1)


class Mobility(Protocol):
    """Where every client is, and how fast it moves, at given simulated times."""

    def positions(self, t: np.ndarray) -> np.ndarray:
        """Positions [K, n, 3] at times t [n]."""
        ...

    def velocities(self, t: np.ndarray) -> np.ndarray:
        """Velocities [K, n, 3] at times t [n]."""
        ...


class Static:
    """Clients stay where they were placed."""

    name = "static"

    def __init__(self, positions: np.ndarray) -> None:
        self._pos = np.asarray(positions, dtype=float)

    def positions(self, t: np.ndarray) -> np.ndarray:
        """The placement, repeated over the times."""
        return np.repeat(self._pos[:, None, :], len(np.atleast_1d(t)), axis=1)

    def velocities(self, t: np.ndarray) -> np.ndarray:
        """Zero."""
        return np.zeros((len(self._pos), len(np.atleast_1d(t)), 3))
