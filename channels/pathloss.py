"""3GPP TR 38.901 UMi-Street Canyon path loss with LoS/NLoS by distance, no fading.

Formulas: TR 38.901 v17 Table 7.4.1-1 (path loss) and Table 7.4.2-1 (LoS probability). This is
the no-fading baseline: it gives each client its distance-dependent mean loss and nothing else.
"""

from __future__ import annotations

import numpy as np

from channels.base import ChannelTrace

SPEED_OF_LIGHT = 299_792_458.0
UMI_MIN_D2D_M = 10.0  # 38.901 specifies the UMi formulas for 10 m <= d2D <= 5 km
UMI_MAX_D2D_M = 5_000.0
UMI_EFFECTIVE_ENV_HEIGHT_M = 1.0


def distances(positions: np.ndarray, bs_position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D and 3D distances [...] from positions [..., 3] to the base station [3]."""
    delta = positions - bs_position
    d2d = np.hypot(delta[..., 0], delta[..., 1])
    d3d = np.sqrt(d2d**2 + delta[..., 2] ** 2)
    return d2d, d3d


def umi_los_probability(d2d: np.ndarray) -> np.ndarray:
    """38.901 UMi-Street Canyon LoS probability (outdoor users) at 2D distance d2d [m]."""
    d = np.maximum(np.asarray(d2d, dtype=float), 1e-9)
    p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    return np.where(d <= 18.0, 1.0, p)


def umi_pathloss_db(
    d2d: np.ndarray,
    d3d: np.ndarray,
    carrier_hz: float,
    h_bs: float,
    h_ut: np.ndarray,
    los: np.ndarray,
) -> np.ndarray:
    """38.901 UMi-Street Canyon basic path loss [dB] (no shadowing) for LoS or NLoS links."""
    fc_ghz = carrier_hz / 1e9
    h_ut = np.asarray(h_ut, dtype=float)
    d_bp = (
        4.0
        * (h_bs - UMI_EFFECTIVE_ENV_HEIGHT_M)
        * (h_ut - UMI_EFFECTIVE_ENV_HEIGHT_M)
        * carrier_hz
        / SPEED_OF_LIGHT
    )
    pl1 = 32.4 + 21.0 * np.log10(d3d) + 20.0 * np.log10(fc_ghz)
    pl2 = (
        32.4
        + 40.0 * np.log10(d3d)
        + 20.0 * np.log10(fc_ghz)
        - 9.5 * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    )
    pl_los = np.where(d2d <= d_bp, pl1, pl2)
    pl_nlos_prime = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc_ghz) - 0.3 * (h_ut - 1.5)
    pl_nlos = np.maximum(pl_los, pl_nlos_prime)
    return np.where(los, pl_los, pl_nlos)


class UMiPathloss:
    """UMi-Street Canyon mean path loss; LoS state from each client's own uniform draw.

    Each client k holds one draw u_k ~ U(0, 1) and is in LoS while u_k < P_LoS(d2D). A static
    client therefore has a fixed Bernoulli(P_LoS) state; a moving one changes state where the
    probability crosses its u_k. (No spatially correlated LoS process yet; see docs.) Distances
    below 10 m are evaluated at 10 m, the formula's lower validity limit.
    """

    name = "pathloss"

    def __init__(
        self,
        bs_position: np.ndarray,
        carrier_hz: float,
        num_clients: int,
        rng: np.random.Generator,
    ) -> None:
        if not 0.5e9 <= carrier_hz <= 100e9:
            raise ValueError(f"carrier_hz {carrier_hz} outside 38.901's 0.5-100 GHz")
        self.bs_position = np.asarray(bs_position, dtype=float)
        self.carrier_hz = float(carrier_hz)
        self._los_draw = rng.random(num_clients)

    def trace(
        self,
        clients: np.ndarray,
        t: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray,
    ) -> ChannelTrace:
        """Path loss and LoS state of ``clients`` at their positions [K, n, 3]."""
        del velocities  # no Doppler without fading
        clients = np.asarray(clients, dtype=int)
        d2d, d3d = distances(positions, self.bs_position)
        d2d_eval = np.maximum(d2d, UMI_MIN_D2D_M)
        d3d_eval = np.sqrt(d2d_eval**2 + (positions[..., 2] - self.bs_position[2]) ** 2)
        los = self._los_draw[clients][:, None] < umi_los_probability(d2d_eval)
        pl = umi_pathloss_db(
            d2d_eval, d3d_eval, self.carrier_hz, self.bs_position[2], positions[..., 2], los
        )
        zeros = np.zeros_like(pl)
        return ChannelTrace(
            t=np.asarray(t, dtype=float),
            distance_3d_m=d3d,
            los=los,
            pathloss_db=pl,
            shadowing_db=zeros,
            fading_gain=np.ones_like(pl),
        )
