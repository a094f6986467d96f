"""The simple models: 38.901 UMi path loss with LoS by distance, alone or with textbook fading.

`pathloss` is the no-fading baseline: each client holds one uniform draw u_k and is in LoS while
u_k < P_LoS(d2D); no shadowing. `rayleigh` and `rician` multiply it by sum-of-sinusoids fading.
Distances below 10 m are evaluated at 10 m, the formula's lower validity limit.
"""

from __future__ import annotations

import numpy as np

from channels.base import ChannelTrace
from channels.fading import SumOfSinusoids
from channels.tr38901 import UMI, los_probability, pathloss_db


def distances(positions: np.ndarray, bs_position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D and 3D distances [...] from positions [..., 3] to the base station [3]."""
    delta = positions - bs_position
    d2d = np.hypot(delta[..., 0], delta[..., 1])
    d3d = np.sqrt(d2d**2 + delta[..., 2] ** 2)
    return d2d, d3d


def clamped_distances(
    positions: np.ndarray, bs_position: np.ndarray, min_d2d: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True 3D distance, and the 2D/3D distances with d2D raised to the formulas' minimum."""
    d2d, d3d = distances(positions, bs_position)
    d2d_eval = np.maximum(d2d, min_d2d)
    d3d_eval = np.sqrt(d2d_eval**2 + (positions[..., 2] - bs_position[2]) ** 2)
    return d3d, d2d_eval, d3d_eval


class PathlossChannel:
    """UMi-Street Canyon mean path loss; LoS from a fixed per-client draw; optional fading."""

    def __init__(
        self,
        bs_position: np.ndarray,
        carrier_hz: float,
        num_clients: int,
        rng: np.random.Generator,
        fading: SumOfSinusoids | None = None,
        name: str = "pathloss",
    ) -> None:
        if not 0.5e9 <= carrier_hz <= 100e9:
            raise ValueError(f"carrier_hz {carrier_hz} outside 38.901's 0.5-100 GHz")
        self.name = name
        self.bs_position = np.asarray(bs_position, dtype=float)
        self.carrier_hz = float(carrier_hz)
        self._los_draw = rng.random(num_clients)
        self.fading = fading

    def trace(
        self,
        clients: np.ndarray,
        steps: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray,
    ) -> ChannelTrace:
        """Path loss, LoS state and (optional) fading of ``clients`` at positions [K, n, 3]."""
        del velocities  # Doppler follows from the positions themselves
        clients = np.asarray(clients, dtype=int)
        d3d, d2d_e, d3d_e = clamped_distances(positions, self.bs_position, UMI.min_d2d_m)
        los = self._los_draw[clients][:, None] < los_probability("umi", d2d_e)
        pl = pathloss_db(
            "umi", d2d_e, d3d_e, self.carrier_hz, self.bs_position[2], positions[..., 2], los
        )
        fading = np.ones_like(pl) if self.fading is None else self.fading.gains(clients, positions)
        zeros = np.zeros_like(pl)
        return ChannelTrace(
            steps=np.asarray(steps, dtype=np.int64),
            distance_3d_m=d3d,
            los=los,
            pathloss_db=pl,
            shadowing_db=zeros,
            penetration_db=zeros,
            fading_gain=fading,
        )

    def band_gains(
        self, clients: np.ndarray, positions: np.ndarray, los: np.ndarray, freqs_hz: np.ndarray
    ) -> np.ndarray:
        """Fading power gains [K, n, F] at offsets ``freqs_hz`` [K, F] (1 without fading)."""
        del los
        shape = (*positions.shape[:2], np.shape(freqs_hz)[-1])
        if self.fading is None:
            return np.ones(shape)
        return self.fading.band_gains(np.asarray(clients, dtype=int), positions, freqs_hz)
