"""A 38.901 link's large-scale state at points, from one site's position-keyed fields: the LoS
state Φ(g_LoS(p)) < P_LoS(d2D_out), the path loss on the outdoor state and the shadowing
σ·g(p) with the field of the link's condition (LoS, NLoS, O2I) — shared by the single cell
(channels/cell.py) and every site of a layout (channels/multisite.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from channels.fields import ExponentialField
from channels.tr38901 import CellParams, los_probability, pathloss_db, shadowing_std_db


def large_scale(
    p: CellParams,
    carrier_hz: float,
    bs_height_m: float,
    d2d_m: np.ndarray,
    d3d_m: np.ndarray,
    h_ut_m: np.ndarray,
    d2d_out_m: np.ndarray,
    indoor: np.ndarray,
    fields: Sequence[ExponentialField],
    xy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At points [...] (their 2-D/3-D distances, UT heights, outdoor 2-D distances, indoor
    flags, and positions ``xy`` [..., ≥2] m in the site's frame): (outdoor LoS state, link
    LoS — no LoS ray indoors —, path loss [dB], shadowing [dB]). ``fields``: LoS state,
    shadowing in LoS, NLoS, O2I; each evaluated only where its condition holds."""
    outdoor_los = ndtr(fields[0](xy)) < los_probability(p.name, d2d_out_m, h_ut_m)
    pl = pathloss_db(p.name, d2d_m, d3d_m, carrier_hz, bs_height_m, h_ut_m, outdoor_los)
    los = outdoor_los & ~indoor
    std = shadowing_std_db(p, los, indoor, d2d_m, carrier_hz, h_ut_m)
    unit = np.empty(np.shape(d2d_m))
    for j, where in ((1, los), (2, ~los & ~indoor), (3, indoor)):
        if where.any():
            unit[where] = fields[j](xy[where])
    return outdoor_los, los, pl, std * unit
