"""Multi-site geometry of 38.901 system-level layouts: hexagonal sites in rings, wrap-around
images of the layout, and the sector antenna of TR 38.901 §7.3 (the element pattern of Table
7.3-1 and a vertical array's gain at an electrical downtilt).

Sites lie on a hexagonal lattice with inter-site distance ISD: 1 + 3n(n+1) sites for n rings
(7 for one ring, 19 for two). Wrap-around (as in 38.901's calibration, §7.8.1, and the ITU-R
M.2412 evaluations) surrounds the layout by six copies of itself: the copy k is shifted by the
lattice vector (n+1)·e1 + n·e2 rotated by 60°·k (e1 = ISD·(1, 0), e2 = ISD·(1/2, √3/2)), of
length √N·ISD for N sites, so that every site, the edge ones included, has its full ring of
six neighbours at ISD. A client's distance to a site is to the site's nearest image.
"""

from __future__ import annotations

import numpy as np

ISD_DEFAULTS_M = {"umi": 200.0, "uma": 500.0, "rma": 1732.0}  # 38.901 Table 7.2-1
SECTOR_BORESIGHTS_DEG = (30.0, 150.0, 270.0)  # three sectors per site
ELEMENT_MAX_GAIN_DBI = 8.0  # Table 7.3-1
BEAMWIDTH_DEG = 65.0  # 3 dB beamwidth, vertical and horizontal
MAX_ATTENUATION_DB = 30.0  # A_max and SLA_V


def site_count(rings: int) -> int:
    """Sites of a hexagonal layout with ``rings`` rings around the centre one."""
    if rings < 0:
        raise ValueError(f"rings must be >= 0, got {rings}")
    return 1 + 3 * rings * (rings + 1)


def hex_sites(rings: int, isd_m: float) -> np.ndarray:
    """Site positions [S, 2] m (x, y), the centre first, then ring by ring counter-clockwise
    from the +x axis."""
    if isd_m <= 0:
        raise ValueError(f"the inter-site distance must be > 0, got {isd_m}")
    site_count(rings)
    axial = [
        (q, r)
        for q in range(-rings, rings + 1)
        for r in range(-rings, rings + 1)
        if max(abs(q), abs(r), abs(q + r)) <= rings
    ]
    xy = np.array([(q + r / 2.0, r * np.sqrt(3.0) / 2.0) for q, r in axial]) * isd_m
    ring = np.array([max(abs(q), abs(r), abs(q + r)) for q, r in axial])
    angle = np.mod(np.arctan2(xy[:, 1], xy[:, 0]), 2 * np.pi)
    return xy[np.lexsort((np.round(angle, 12), ring))]


def wrap_shifts(rings: int, isd_m: float) -> np.ndarray:
    """The translations [7, 2] m of the layout and its six wrap-around copies (zero first)."""
    n = rings
    base = np.array([n + 1 + n / 2.0, n * np.sqrt(3.0) / 2.0]) * isd_m
    shifts = [np.zeros(2)]
    for k in range(6):
        a = np.pi / 3.0 * k
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        shifts.append(rot @ base)
    return np.array(shifts)


def wrapped_offsets(
    positions: np.ndarray, sites: np.ndarray, shifts: np.ndarray | None = None
) -> np.ndarray:
    """Vectors [..., S, 2] m from each position [..., 2] to the nearest image of each site
    [S, 2] among the layout's ``shifts`` [J, 2] (None: no wrap-around, the sites themselves)."""
    return nearest_images(*image_vectors(positions, sites, shifts))


def image_vectors(
    positions: np.ndarray, sites: np.ndarray, shifts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors [..., J, S, 2] m from each position [..., 2] to every image of every site
    (``shifts`` [J, 2]; None: the sites themselves, J = 1) and their squared lengths
    [..., J, S] m²."""
    p = np.asarray(positions, dtype=float)[..., None, None, :]  # [..., 1, 1, 2]
    images = np.asarray(sites, dtype=float)[None, :, :]  # [1, S, 2]
    if shifts is not None:
        images = images + np.asarray(shifts, dtype=float)[:, None, :]  # [J, S, 2]
    d = images - p  # [..., J, S, 2]
    return d, np.sum(d**2, axis=-1)


def nearest_images(d: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Of ``image_vectors``' vectors and squared lengths, each site's nearest [..., S, 2]."""
    nearest = np.argmin(d2, axis=-2)  # [..., S]
    return np.take_along_axis(d, nearest[..., None, :, None], axis=-3)[..., 0, :, :]


def element_gain_db(zenith_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """The 38.901 sector antenna element's gain [dB] (Table 7.3-1) at zenith angle θ and
    azimuth φ relative to its boresight (degrees; θ = 90° is the horizon):
    G_max − min(−(A_V(θ) + A_H(φ)), 30 dB), A_V = −min(12((θ−90)/65)², 30),
    A_H = −min(12(φ/65)², 30), φ wrapped into [−180°, 180°)."""
    theta = np.asarray(zenith_deg, dtype=float)
    phi = np.mod(np.asarray(azimuth_deg, dtype=float) + 180.0, 360.0) - 180.0
    a_v = -np.minimum(12.0 * ((theta - 90.0) / BEAMWIDTH_DEG) ** 2, MAX_ATTENUATION_DB)
    a_h = -np.minimum(12.0 * (phi / BEAMWIDTH_DEG) ** 2, MAX_ATTENUATION_DB)
    return ELEMENT_MAX_GAIN_DBI - np.minimum(-(a_v + a_h), MAX_ATTENUATION_DB)


def vertical_array_gain_db(
    zenith_deg: np.ndarray, tilt_deg: float, elements: int, spacing_wl: float
) -> np.ndarray:
    """Gain [dB] of ``elements`` vertically stacked elements ``spacing_wl`` wavelengths apart,
    fed as one port steered ``tilt_deg`` below the horizon (zenith 90° + tilt): the array factor
    |Σ_m exp(j2π m d (cos θ − cos θ_tilt))|² / M, M (10·log10 M dB) in the steered direction."""
    theta = np.radians(np.asarray(zenith_deg, dtype=float))
    steer = np.cos(np.radians(90.0 + tilt_deg))
    m = np.arange(elements)
    phase = 2.0 * np.pi * spacing_wl * np.multiply.outer(np.cos(theta) - steer, m)
    af = np.abs(np.exp(1j * phase).sum(axis=-1)) ** 2 / elements
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(af)
