"""A 38.901 UMi / UMa / RMa cell: path loss, spatially consistent LoS and shadowing, O2I, fading.

Large scale, as random fields over the plane shared by every client of the site (see
channels.fields): the LoS state is Φ(g_LoS(p)) < P_LoS (a spatially consistent uniform variable,
38.901 §7.6.3.3, with the LoS-state correlation distance of Table 7.6.3.1-2), shadowing is
σ·g(p) with one field per propagation condition (LoS / NLoS / O2I, Table 7.5-6 decorrelation
distances). Two clients at one place see one LoS state and shadowing; a client's values depend
on its position only, never on when it was evaluated. Indoor clients (O2I) and in-car clients
are drawn once per client from the scenario's ratios and carry a fixed penetration loss (§7.4.3).
As in 38.901 and Sionna, an indoor link uses the outdoor LoS state for its basic path loss but
has no LoS ray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from channels.base import ChannelTrace
from channels.fields import ExponentialField
from channels.largescale import large_scale
from channels.pathloss import clamped_distances
from channels.tr38901 import (
    CELLS,
    IN_CAR_MEAN_DB,
    IN_CAR_STD_DB,
    O2I_STD_DB,
    o2i_wall_loss_db,
)

RngFactory = Callable[..., np.random.Generator]


class CellFading(Protocol):
    """Small-scale fading of a cell: power gains [K, n] given the links' state."""

    def gains(
        self,
        clients: np.ndarray,
        steps: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray,
        los: np.ndarray,
        indoor: np.ndarray,
    ) -> np.ndarray:
        """Power gains (mean 1) at global ``steps`` [n] for ``clients`` [K]."""
        ...

    def band_gains(
        self,
        clients: np.ndarray,
        positions: np.ndarray,
        los: np.ndarray,
        indoor: np.ndarray,
        freqs_hz: np.ndarray,
    ) -> np.ndarray:
        """Power gains [K, n, F] at frequency offsets ``freqs_hz`` [K, F] from the carrier."""
        ...


def draw_o2i(
    cell: str,
    carrier_hz: float,
    k: int,
    g: np.random.Generator,
    indoor_ratio: float,
    in_car_ratio: float,
    o2i_model: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each of ``k`` clients' O2I state, drawn once (§7.4.3): indoor [k] bool, in a car [k]
    bool, indoor distance d2D_in [k] m (0 outdoors), penetration loss [k] dB (building or
    car; 0 outdoors)."""
    p = CELLS[cell]
    u = g.random(k)
    indoor = u < indoor_ratio
    in_car = (u >= indoor_ratio) & (u < indoor_ratio + in_car_ratio)
    d_in = np.minimum(
        g.uniform(0, p.max_indoor_distance_m, k), g.uniform(0, p.max_indoor_distance_m, k)
    )
    o2i = (
        o2i_wall_loss_db(carrier_hz, o2i_model)
        + 0.5 * d_in
        + g.normal(0.0, O2I_STD_DB[o2i_model], k)
    )
    car = g.normal(IN_CAR_MEAN_DB, IN_CAR_STD_DB, k)
    penetration = np.where(indoor, o2i, np.where(in_car, car, 0.0))
    return indoor, in_car, np.where(indoor, d_in, 0.0), penetration


class Cell38901:
    """Large-scale state of a 38.901 cell, times a small-scale fading component."""

    def __init__(
        self,
        cell: str,
        bs_position: np.ndarray,
        carrier_hz: float,
        dt: float,
        num_clients: int,
        rng: RngFactory,
        indoor_ratio: float,
        in_car_ratio: float,
        o2i_model: str,
        fading: CellFading | None,
    ) -> None:
        if indoor_ratio + in_car_ratio > 1.0 + 1e-12:
            raise ValueError("indoor_ratio + in_car_ratio must be <= 1")
        self.params = CELLS[cell]
        self.name = cell
        self.bs_position = np.asarray(bs_position, dtype=float)
        self.carrier_hz = float(carrier_hz)
        self.dt = float(dt)
        self.fading = fading
        p = self.params
        self.indoor, self.in_car, self.d2d_in, self.penetration_db = draw_o2i(
            cell, carrier_hz, num_clients, rng("o2i"), indoor_ratio, in_car_ratio, o2i_model
        )
        corr = [p.los_corr_m, p.sf_corr_los_m, p.sf_corr_nlos_m, p.sf_corr_o2i_m]
        # one field per purpose for the whole site: LoS state, shadowing in LoS / NLoS / O2I
        self.fields = [ExponentialField(d, rng("largescale_field", j)) for j, d in enumerate(corr)]

    def trace(
        self, clients: np.ndarray, steps: np.ndarray, positions: np.ndarray, velocities: np.ndarray
    ) -> ChannelTrace:
        """Every channel part of ``clients`` at the global grid steps ``steps`` (of dt)."""
        clients = np.asarray(clients, dtype=int)
        steps = np.asarray(steps, dtype=np.int64)
        p = self.params
        h_ut = positions[..., 2]
        d3d, d2d_e, d3d_e = clamped_distances(positions, self.bs_position, p.min_d2d_m)
        indoor = np.broadcast_to(self.indoor[clients][:, None], d3d.shape)
        d2d_out = np.maximum(d2d_e - self.d2d_in[clients][:, None], 0.0)
        _, los, pl, sf = large_scale(
            p,
            self.carrier_hz,
            self.bs_position[2],
            d2d_e,
            d3d_e,
            h_ut,
            d2d_out,
            indoor,
            self.fields,
            positions,
        )
        pen = np.broadcast_to(self.penetration_db[clients][:, None], d3d.shape).copy()
        fading = (
            np.ones_like(pl)
            if self.fading is None
            else self.fading.gains(clients, steps, positions, velocities, los, indoor)
        )
        return ChannelTrace(
            steps=steps,
            distance_3d_m=d3d,
            los=los,
            pathloss_db=pl,
            shadowing_db=sf,
            penetration_db=pen,
            fading_gain=fading,
        )

    def band_gains(
        self, clients: np.ndarray, positions: np.ndarray, los: np.ndarray, freqs_hz: np.ndarray
    ) -> np.ndarray:
        """Fading power gains [K, n, F] at offsets ``freqs_hz`` [K, F] (1 without fading)."""
        clients = np.asarray(clients, dtype=int)
        shape = (*positions.shape[:2], np.shape(freqs_hz)[-1])
        if self.fading is None:
            return np.ones(shape)
        indoor = np.broadcast_to(self.indoor[clients][:, None], shape[:2])
        return self.fading.band_gains(clients, positions, los, indoor, freqs_hz)
