"""The channel-model interface: per-client, per-step channel parts on a time grid."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ChannelTrace:
    """Channel parts for K clients on a time grid of n steps; every array is [K, n].

    Column j is global step ``steps[j]``, covering [steps[j]·dt, (steps[j] + 1)·dt) of the
    run's grid. Losses are dB (shadowing is a zero-mean loss term;
    penetration is O2I building or in-car loss); ``fading_gain`` is the linear small-scale power
    gain (mean 1; exactly 1 for models without fading).
    """

    steps: np.ndarray
    distance_3d_m: np.ndarray
    los: np.ndarray
    pathloss_db: np.ndarray
    shadowing_db: np.ndarray
    penetration_db: np.ndarray
    fading_gain: np.ndarray

    @cached_property
    def gain_db(self) -> np.ndarray:
        """Total channel power gain in dB: -(path loss + shadowing + penetration) + fading."""
        loss = self.pathloss_db + self.shadowing_db + self.penetration_db
        return -loss + 10.0 * np.log10(self.fading_gain)


@runtime_checkable
class ChannelModel(Protocol):
    """A radio channel between a base station and K mobile clients.

    ``trace`` must be time-consistent: asking twice for the same client and instant gives the
    same values, so a client's channel stays continuous across rounds.
    """

    name: str
    carrier_hz: float
    bs_position: np.ndarray

    def trace(
        self,
        clients: np.ndarray,
        steps: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray,
    ) -> ChannelTrace:
        """The channel of ``clients`` at the global steps ``steps`` of the run's grid.

        In: ``clients`` [K] int client indices; ``steps`` [n] int64, increasing (step s
        covers [s·dt, (s + 1)·dt) of the run's channel.dt; integers at this seam, so no
        time -> step -> time round trip); ``positions`` [K, n, 3] m and
        ``velocities`` [K, n, 3] m/s, float64, base station at ``bs_position``.
        Out: a ChannelTrace of [K, n] float64 arrays — ``distance_3d_m`` m, ``los`` bool,
        ``pathloss_db`` / ``shadowing_db`` / ``penetration_db`` dB (losses), ``fading_gain``
        linear power gain (mean 1); ``gain_db`` = −(losses) + 10·log10(fading_gain).
        Asked again for an instant it returned before, it returns the same values."""
        ...

    def band_gains(
        self, clients: np.ndarray, positions: np.ndarray, los: np.ndarray, freqs_hz: np.ndarray
    ) -> np.ndarray:
        """Small-scale power gains [K, n, F] (mean 1) at frequency offsets ``freqs_hz`` [K, F]
        Hz from the carrier, for ``clients`` [K] at ``positions`` [K, n, 3] m in the LoS
        states ``los`` [K, n] of their trace. At offset 0 it is the trace's ``fading_gain``;
        path loss, shadowing and penetration are flat over the band."""
        ...
