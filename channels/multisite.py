"""Large-scale gains from clients to every cell of a multi-site 38.901 layout: path loss, LoS
state and shadowing toward each site as position-keyed fields of that site, the client's O2I
penetration, and the sector antenna's gain — what association, handover, interference and the
§7.8.1 calibration are computed from.

Per site, as in the single cell (channels/cell.py): the LoS state is Φ(g_LoS(p)) < P_LoS(d2D)
and the shadowing σ·g(p), one field per purpose (LoS state; shadowing in LoS, NLoS, O2I) with
the Table 7.6.3.1-2 / 7.5-6 correlation distances, drawn per site from the seed. A field of
site s is evaluated at the client's position relative to s's nearest image (with wrap-around),
so a client that leaves the layout and re-enters on the far side keeps continuous values.
Shadowing toward different sites is independent (38.901 does not specify an inter-site
correlation; ITU-R M.2412 and 36.873 use 0.5 — a documented simplification). The three
sectors of a site share its links' path loss, LoS and shadowing and differ by antenna gain
only. O2I state (indoor, indoor distance, penetration loss) belongs to the client, the same
toward every site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from channels.fields import ExponentialField
from channels.largescale import large_scale
from channels.layout import (
    SECTOR_BORESIGHTS_DEG,
    element_gain_db,
    hex_sites,
    image_vectors,
    nearest_images,
    vertical_array_gain_db,
    wrap_shifts,
    wrapped_offsets,
)
from channels.tr38901 import CELLS

RngFactory = Callable[..., np.random.Generator]


@dataclass(frozen=True)
class Layout:
    """A hexagonal layout of ``rings`` rings (1 + 3·rings·(rings+1) sites) ``isd_m`` apart,
    ``sectors`` (1 or 3) cells per site, BS antennas ``bs_height_m`` high; with 3 sectors
    each cell's antenna is the Table 7.3-1 element times a vertical array of
    ``vertical_elements`` (``spacing_wl`` apart) tilted ``tilt_deg`` down; with 1 sector an
    omnidirectional antenna of ``omni_gain_dbi``. Cell c is sector c % sectors of site
    c // sectors."""

    rings: int
    isd_m: float
    sectors: int = 3
    wraparound: bool = True
    bs_height_m: float = 25.0
    tilt_deg: float = 12.0
    vertical_elements: int = 10
    spacing_wl: float = 0.5
    omni_gain_dbi: float = 0.0

    def __post_init__(self) -> None:
        if self.sectors not in (1, 3):
            raise ValueError(f"sectors must be 1 or 3, got {self.sectors}")

    @cached_property
    def sites(self) -> np.ndarray:
        """Site positions [S, 2] m."""
        return hex_sites(self.rings, self.isd_m)

    @cached_property
    def shifts(self) -> np.ndarray | None:
        """The wrap-around translations [7, 2] m (None without wrap-around)."""
        return wrap_shifts(self.rings, self.isd_m) if self.wraparound else None

    @property
    def cells(self) -> int:
        """Number of cells (sites × sectors)."""
        return len(self.sites) * self.sectors

    def offsets(self, xy: np.ndarray) -> np.ndarray:
        """Vectors [..., S, 2] m from positions ``xy`` [..., 2] to each site's nearest image
        (with wrap-around, of the position wrapped into the layout first)."""
        if not self.wraparound:
            return wrapped_offsets(xy, self.sites, None)
        d, d2 = image_vectors(xy, self.sites, self.shifts)  # [..., 7, S, (2)]
        copy = np.argmin(d2.reshape(*d2.shape[:-2], -1), axis=-1) // len(self.sites)
        if np.any(copy > 0):  # some position lies outside: fold it in first (rare in runs)
            return wrapped_offsets(self.wrap(xy), self.sites, self.shifts)
        return nearest_images(d, d2)

    def _copy(self, xy: np.ndarray) -> np.ndarray:
        """For positions [P, 2], the index [P] of the layout copy (0: the layout, 1-6 its
        wrap-around neighbours) holding each: the copy of its nearest site image."""
        d2 = image_vectors(xy, self.sites, wrap_shifts(self.rings, self.isd_m))[1]  # [P, 7, S]
        return np.argmin(d2.reshape(len(d2), -1), axis=1) // len(self.sites)

    def inside(self, xy: np.ndarray) -> np.ndarray:
        """Whether each position [..., 2] lies in the layout (its nearest site image is a
        site itself, not one of a wrap-around copy)."""
        xy = np.asarray(xy, dtype=float)
        return (self._copy(xy.reshape(-1, 2)) == 0).reshape(xy.shape[:-1])

    def wrap(self, xy: np.ndarray) -> np.ndarray:
        """Positions [..., 2] moved into the layout by whole wrap-around translations: a
        walker leaving it re-enters on the far side."""
        xy = np.asarray(xy, dtype=float)
        flat = xy.reshape(-1, 2).copy()
        shifts = wrap_shifts(self.rings, self.isd_m)
        todo = np.arange(len(flat))
        while len(todo):  # each step moves a position one copy nearer to the layout
            copy = self._copy(flat[todo])
            out = copy > 0
            flat[todo[out]] -= shifts[copy[out]]
            todo = todo[out]
        return flat.reshape(xy.shape)

    def uniform(self, rng: np.random.Generator, n: int, min_d2d_m: float = 0.0) -> np.ndarray:
        """``n`` positions [n, 2] m uniform over the layout, at least ``min_d2d_m`` from every
        site (rejection sampling in the layout's bounding box)."""
        reach = np.abs(self.sites).max() + self.isd_m
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            xy = rng.uniform(-reach, reach, (2 * (n - have) + 16, 2))
            keep = self.inside(xy)
            if min_d2d_m > 0:
                d = np.linalg.norm(self.offsets(xy), axis=-1).min(axis=-1)
                keep &= d >= min_d2d_m
            out.append(xy[keep])
            have += int(keep.sum())
        return np.concatenate(out)[:n]

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """The geometric cell [...] of positions [..., 2]: the nearest site (image, with
        wrap-around) and, with 3 sectors, the sector whose boresight is nearest the position's
        azimuth from it."""
        d = self.offsets(np.asarray(xy, dtype=float))  # [..., S, 2] position -> site image
        site = np.argmin(np.linalg.norm(d, axis=-1), axis=-1)
        if self.sectors == 1:
            return site
        v = np.take_along_axis(d, site[..., None, None], axis=-2)[..., 0, :]
        azimuth = np.degrees(np.arctan2(-v[..., 1], -v[..., 0]))  # as seen from the site
        off = (azimuth[..., None] - np.asarray(SECTOR_BORESIGHTS_DEG) + 180.0) % 360.0 - 180.0
        return site * self.sectors + np.argmin(np.abs(off), axis=-1)

    def per_cell(self, rng: np.random.Generator, n: int, min_d2d_m: float = 0.0) -> np.ndarray:
        """``n`` positions [n, 2] m with as many in every cell (the first n mod cells get one
        more), each uniform over its cell's area (``cell_of``), at least ``min_d2d_m`` from
        every site; ordered cell by cell."""
        want = np.full(self.cells, n // self.cells)
        want[: n % self.cells] += 1
        got: list[list[np.ndarray]] = [[] for _ in range(self.cells)]
        left = want.copy()
        while left.any():
            xy = self.uniform(rng, max(64, 2 * int(left.sum())), min_d2d_m)
            cell = self.cell_of(xy)
            for c in np.flatnonzero(left):
                mine = xy[cell == c][: left[c]]
                got[c].append(mine)
                left[c] -= len(mine)
        return np.concatenate([p for parts in got for p in parts])

    def bs_gain_db(self, zenith_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
        """Antenna gain [..., C] dB of every cell toward directions given per site: zenith and
        azimuth [..., S] degrees (as seen from each site, azimuth from +x)."""
        if self.sectors == 1:
            return np.full(np.shape(zenith_deg), self.omni_gain_dbi)
        array = vertical_array_gain_db(
            zenith_deg, self.tilt_deg, self.vertical_elements, self.spacing_wl
        )
        per = [
            element_gain_db(zenith_deg, azimuth_deg - boresight) + array
            for boresight in SECTOR_BORESIGHTS_DEG
        ]
        return np.stack(per, axis=-1).reshape(*np.shape(zenith_deg)[:-1], -1)  # site-major


@dataclass(frozen=True)
class O2IState:
    """Per client: indoor or not, its indoor distance d2D_in [m] and its penetration loss
    [dB] (building or car; 0 outdoors) — the same toward every site."""

    indoor: np.ndarray
    d2d_in: np.ndarray
    penetration_db: np.ndarray


@dataclass(frozen=True)
class SiteLinks:
    """Clients' large-scale links to N sites each [..., N] (``sites`` [..., N]: which; all of
    them, or the nearest N) and to their cells [..., N·sectors] (``cells``: which, site-major):
    2-D and 3-D distance [m], LoS, path loss, shadowing [dB]; ``gain_db`` the coupling gain
    (−path loss − shadowing − penetration + antenna gain, no fast fading)."""

    sites: np.ndarray
    d2d_m: np.ndarray
    d3d_m: np.ndarray
    los: np.ndarray
    pathloss_db: np.ndarray
    shadowing_db: np.ndarray
    cells: np.ndarray
    gain_db: np.ndarray


class MultiSite:
    """The large-scale channel of a multi-site layout, as a function of the seed and positions."""

    def __init__(
        self, cell: str, layout: Layout, carrier_hz: float, o2i: O2IState, rng: RngFactory
    ) -> None:
        self.params, self.layout, self.carrier_hz, self.o2i = CELLS[cell], layout, carrier_hz, o2i
        p = self.params
        corr = [p.los_corr_m, p.sf_corr_los_m, p.sf_corr_nlos_m, p.sf_corr_o2i_m]
        # drawn at once (a few kB a site): a cache filled later would not survive a checkpoint
        self._fields = [
            [ExponentialField(d, rng("site_field", site, j)) for j, d in enumerate(corr)]
            for site in range(len(layout.sites))
        ]

    def fields(self, site: int) -> list[ExponentialField]:
        """Site ``site``'s fields: LoS state, shadowing in LoS, NLoS, O2I (from the seed and
        the site only)."""
        return self._fields[site]

    def strongest_sites(self, clients: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` sites [K, n] of each client whose best cell is strongest at ``positions``
        [K, 3] m (one instant), strongest first: what a trace over the next seconds computes
        (the distance alone misses the strongest site for ~5 % of UMi clients: shadowing and
        LoS state decide)."""
        links = self.links(clients, np.asarray(positions, dtype=float)[:, None, :])
        best = links.gain_db[:, 0].reshape(len(clients), -1, self.layout.sectors).max(axis=-1)
        return np.argsort(-best, axis=-1, kind="stable")[:, :n]

    def links(
        self, clients: np.ndarray, positions: np.ndarray, sites: np.ndarray | None = None
    ) -> SiteLinks:
        """The links of ``clients`` [K] at ``positions`` [K, n, 3] m to every site and cell,
        or only to ``sites`` [K, N] of each client (``strongest_sites``): cost grows with
        clients × N, not with the layout."""
        clients = np.asarray(clients, dtype=int)
        pos = np.asarray(positions, dtype=float)
        p, lay = self.params, self.layout
        every = lay.offsets(pos[..., :2])  # [K, n, S, 2] client -> site image
        if sites is None:
            idx = np.broadcast_to(np.arange(len(lay.sites)), every.shape[:-1])
        else:
            chosen = np.asarray(sites, dtype=int)
            idx = np.broadcast_to(chosen[:, None, :], (*every.shape[:2], chosen.shape[1]))
        d = np.take_along_axis(every, idx[..., None], axis=-2)  # [K, n, N, 2]
        h_ut = np.broadcast_to(pos[..., 2:3], d.shape[:-1])
        d2d_true = np.linalg.norm(d, axis=-1)
        d2d = np.maximum(d2d_true, p.min_d2d_m)
        d3d = np.sqrt(d2d**2 + (lay.bs_height_m - h_ut) ** 2)
        indoor = np.broadcast_to(self.o2i.indoor[clients][:, None, None], d2d.shape)
        d2d_out = np.maximum(d2d - self.o2i.d2d_in[clients][:, None, None], 0.0)
        frame = lay.sites[idx] - d  # the client's position as seen from each site
        los = np.zeros(d2d.shape, dtype=bool)
        pl, sf = np.empty(d2d.shape), np.empty(d2d.shape)
        for s in np.unique(idx):
            at = idx == s
            _, los[at], pl[at], sf[at] = large_scale(
                p,
                self.carrier_hz,
                lay.bs_height_m,
                d2d[at],
                d3d[at],
                h_ut[at],
                d2d_out[at],
                indoor[at],
                self.fields(int(s)),
                frame[at],
            )
        zenith = 90.0 + np.degrees(np.arctan2(lay.bs_height_m - h_ut, d2d_true))
        azimuth = np.degrees(np.arctan2(-d[..., 1], -d[..., 0]))
        loss = pl + sf + self.o2i.penetration_db[clients][:, None, None]
        per_cell = np.repeat(-loss, lay.sectors, axis=-1)
        cells = (idx[..., None] * lay.sectors + np.arange(lay.sectors)).reshape(per_cell.shape)
        gain = per_cell + lay.bs_gain_db(zenith, azimuth)
        return SiteLinks(idx, d2d, d3d, los, pl, sf, cells, gain)
