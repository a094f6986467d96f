"""A client's channel in a multi-site layout over a window: its links to its strongest sites'
cells, the cell serving it at each step (strongest at the window's start, then A3 handovers),
and the trace toward that serving cell — what the engine plays several cells with.

Large scale per site from channels.multisite (position-keyed fields per site); small-scale
fading per (client, site) from that site's own fading model (38.901 rays of the site's own
lattice, evaluated at the client's position as the site sees it: relative to the site's
nearest image with wrap-around). Only the serving link's fading matters (another cell hears a
client's upload at its large-scale gain), so fading is computed toward the sites that serve
the client at some step of the window. The window starts connected at its strongest cell: an
idle client camps on the strongest cell, and A3 applies from the job's start on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from channels.base import ChannelTrace
from channels.cell import CellFading
from channels.handover import A3, Handover, handovers
from channels.multisite import MultiSite


@dataclass(frozen=True)
class CellLinks:
    """An upload's links over its job's window: the ``cells`` [M] kept (its strongest sites'
    cells), ``gain_db`` [n, M] the coupling gain to each per step of the window (the
    serving link's fading included where ``fading_db`` [n, M] is added), its ``serving`` cell
    at the window start and the A3 ``handovers`` in the window, in time order."""

    cells: np.ndarray
    gain_db: np.ndarray
    fading_db: np.ndarray
    serving: int
    handovers: tuple[Handover, ...] = ()


@dataclass(frozen=True)
class CellTrace(ChannelTrace):
    """A ChannelTrace toward the cell serving each client at each step ([K, n] arrays as
    ChannelTrace's), with that cell's ``antenna_gain_db`` [K, n] (in ``gain_db``), the
    serving ``cell`` [K, n], and each client's ``links`` over the window."""

    antenna_gain_db: np.ndarray
    cell: np.ndarray
    links: tuple[CellLinks, ...]

    @cached_property
    def gain_db(self) -> np.ndarray:
        """−(path loss + shadowing + penetration) + antenna gain + fading, dB."""
        loss = self.pathloss_db + self.shadowing_db + self.penetration_db
        return -loss + self.antenna_gain_db + 10.0 * np.log10(self.fading_gain)


class MultiCellChannel:
    """The channel of a multi-site layout, as the engine's ChannelModel: ``trace`` gives each
    client's link to its serving cell, and its CellLinks."""

    def __init__(
        self,
        sites: MultiSite,
        fading: Callable[[int], CellFading],
        rule: A3,
        rsrp_power_dbm: float,
        kept: int,
        dt: float,
    ) -> None:
        """``fading(site)``: that site's fading model; RSRP = ``rsrp_power_dbm`` + coupling
        gain; links to the ``kept`` strongest sites; the grid step ``dt`` [s]."""
        self.sites, self.rule, self.kept, self.dt = sites, rule, int(kept), float(dt)
        self._fading, self.rsrp_power_dbm = fading, float(rsrp_power_dbm)
        self.name = sites.params.name
        self.carrier_hz = sites.carrier_hz
        lay = sites.layout
        self.bs_position = np.array([0.0, 0.0, lay.bs_height_m])  # the centre site
        self.cells = lay.cells

    def _every_cell_db(self, clients: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Coupling gains [K, C] dB of ``clients`` at ``positions`` [K, 3] m (one instant) to
        every cell of the layout, column c being cell c."""
        links = self.sites.links(clients, np.asarray(positions, dtype=float)[:, None, :])
        return links.gain_db[:, 0]

    def camping(self, clients: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The cell [K] each of ``clients`` camps on at ``positions`` [K, 3] m (one instant):
        the strongest RSRP of every cell of the layout."""
        return np.argmax(self._every_cell_db(clients, positions), axis=-1)

    def strongest_gain_db(self, clients: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The coupling gain [K] dB (large scale, antenna included) of each of ``clients`` to
        its strongest cell at ``positions`` [K, 3] m (one instant)."""
        return self._every_cell_db(clients, positions).max(axis=-1)

    def trace(
        self, clients: np.ndarray, steps: np.ndarray, positions: np.ndarray, velocities: np.ndarray
    ) -> CellTrace:
        """``clients`` [K] at global ``steps`` [n] and ``positions`` [K, n, 3] m: serving cell
        per step (strongest at the first, then A3) and the trace toward it."""
        clients = np.asarray(clients, dtype=int)
        steps = np.asarray(steps, dtype=np.int64)
        pos = np.asarray(positions, dtype=float)
        sec = self.sites.layout.sectors
        kept = self.sites.strongest_sites(clients, pos[:, 0], self.kept)  # [K, N]
        lk = self.sites.links(clients, pos, sites=kept)
        cells = lk.cells[:, 0]  # [K, M] global cell of each kept one
        local, hos = handovers(self.rsrp_power_dbm + lk.gain_db, steps * self.dt, self.rule)
        site = local // sec  # [K, n] index among the kept sites
        fading = self._fadings(clients, pos, velocities, steps, lk, site)  # [K, n, N]

        def at(a: np.ndarray, idx: np.ndarray = site) -> np.ndarray:
            return np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]

        pl, sf = at(lk.pathloss_db), at(lk.shadowing_db)
        pen = np.broadcast_to(self.sites.o2i.penetration_db[clients][:, None], pl.shape).copy()
        antenna = at(lk.gain_db, local) + pl + sf + pen
        by_client: list[list[Handover]] = [[] for _ in clients]
        for h in hos:
            i = h.client
            by_client[i].append(
                Handover(
                    int(clients[i]),
                    h.t,
                    int(cells[i, h.source]),
                    int(cells[i, h.target]),
                    h.rsrp_source_dbm,
                    h.rsrp_target_dbm,
                    h.interrupt_s,
                )
            )
        fading_db = 10.0 * np.log10(np.repeat(fading, sec, axis=-1))
        links = tuple(
            CellLinks(cells[i], lk.gain_db[i], fading_db[i], int(cells[i, local[i, 0]]), tuple(h))
            for i, h in enumerate(by_client)
        )
        return CellTrace(
            steps=steps,
            distance_3d_m=at(lk.d3d_m),
            los=at(lk.los),
            pathloss_db=pl,
            shadowing_db=sf,
            penetration_db=pen,
            fading_gain=at(fading),
            antenna_gain_db=antenna,
            cell=np.take_along_axis(cells, local, axis=1),
            links=links,
        )

    def _fadings(self, clients, pos, velocities, steps, lk, serving_site) -> np.ndarray:
        """Fading power gains [K, n, N] toward each kept site that serves the client at some
        step of the window (1 toward the others: their links are heard at large scale only)."""
        k, n, nk = lk.los.shape
        out = np.ones((k, n, nk))
        used = np.zeros((k, nk), dtype=bool)
        used[np.repeat(np.arange(k), n), serving_site.ravel()] = True
        lay = self.sites.layout
        indoor = self.sites.o2i.indoor[clients]
        for s in np.unique(lk.sites[:, 0][used]):
            rows, col = np.nonzero(used & (lk.sites[:, 0] == s))
            off = lay.offsets(pos[rows, :, :2])[..., s, :]  # client -> the site's nearest image
            frame = pos[rows].copy()
            frame[..., :2] = lay.sites[s] - off  # the client as site s sees it
            los = lk.los[rows, :, col]
            ind = np.broadcast_to(indoor[rows][:, None], los.shape)
            g = self._fading(int(s)).gains(clients[rows], steps, frame, velocities[rows], los, ind)
            out[rows, :, col] = g
        return out
