"""The start of a round: who is scheduled, the round's channel window from the CSI instant to
the deadline (one batched trace call), what the server estimates of it (``CsiEstimator``, at
round start and at every re-split), and the RoundPlan the clients play."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from channels import ChannelTrace
from channels.multicell import CellTrace
from cosim.engine.csi import CsiEstimator
from cosim.engine.grid import RoundGrid
from cosim.engine.uplink import Uplink
from cosim.outputs.channel_npz import sample_terms
from cosim.outputs.events import EventLog, Kind
from cosim.world.world import World


@dataclass(frozen=True)
class RoundWindow:
    """A round before allocation: its scheduled clients [K], grid, channel trace [K, n] and
    the server's CSI."""

    round: int
    t0: float
    deadline: float
    clients: np.ndarray
    grid: RoundGrid
    positions: np.ndarray  # [K, n, 3] m
    velocities: np.ndarray  # [K, n, 3] m/s
    trace: ChannelTrace
    csi: CsiEstimator
    key: int  # seeds the round's draws: the round (sync), the batch of starts (fedasync/fedbuff)


@dataclass
class RoundPlan:
    """A round as the server set it up: window, allocation, payloads, and the shared band."""

    round: int
    t0: float
    deadline: float
    clients: np.ndarray
    grid: RoundGrid
    snr_db: np.ndarray  # [K, n] over the allocated band; NaN without band
    bandwidth_hz: np.ndarray  # [K]
    budget: np.ndarray  # [K]
    payload_bits: np.ndarray  # [K] int64
    predicted_upload_s: np.ndarray  # [K]
    positions: np.ndarray  # [K, 3] at the round start
    distance_m: np.ndarray  # [K] 3-D, at the round start
    uplink: Uplink | Any  # the round's band, or (fedasync/fedbuff) seats on the shared one
    download_end: np.ndarray | None = None  # [K] s, downlink.model = "channel"; NaN: missed
    key: int = -1  # seeds the clients' draws; -1: the round
    stamp: Callable[[int], dict[str, Any]] | None = None  # more upload_end fields of row i

    def __post_init__(self) -> None:
        if self.key < 0:
            self.key = self.round

    @classmethod
    def of(
        cls,
        window: RoundWindow,
        allocated: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        snr_db: np.ndarray,
        uplink: Uplink | Any,
        download_end: np.ndarray | None,
        **more: Any,
    ) -> RoundPlan:
        """The plan of ``window`` with ``allocated`` = (bands [K] Hz, budgets [K], payload
        bits [K], predicted upload times [K] s), SNR over those bands [K, n] dB, the band
        the uploads run on and the download ends [K] s (``more``: key, stamp)."""
        bandwidth_hz, budget, payload_bits, predicted_upload_s = allocated
        return cls(
            round=window.round,
            t0=window.t0,
            deadline=window.deadline,
            clients=window.clients,
            grid=window.grid,
            snr_db=snr_db,
            bandwidth_hz=bandwidth_hz,
            budget=budget,
            payload_bits=payload_bits,
            predicted_upload_s=predicted_upload_s,
            positions=window.positions[:, window.grid.j0],
            distance_m=window.trace.distance_3d_m[:, window.grid.j0],
            uplink=uplink,
            download_end=download_end,
            **more,
        )


class Planner:
    """Opens rounds: round_start, the schedule, the channel window and the `csi` events."""

    def __init__(self, world: World, log: EventLog) -> None:
        self.w, self.log = world, log

    def window(self, r: int, now: float) -> RoundWindow:
        """round_start and csi events; the round's channel, one batched call for the
        scheduled clients from the CSI instant t0 − csi_delay_s to the deadline."""
        s, w = self.w.scenario, self.w
        deadline = now + s.deadline.seconds
        self.log.emit(now, Kind.ROUND_START, r, deadline=deadline)
        rng, n = w.seeds.rng("schedule", r), s.clients.count
        if s.cells.multi and s.clients.per_cell:  # that many of each cell's campers
            need = np.full(s.cells.count, s.clients.per_cell)
            clients = draw_per_cell(w, rng, np.arange(n), need, now)[0]
        else:
            clients = np.sort(rng.choice(n, s.clients.per_round, replace=False))
        return self.window_for(r, r, now, clients)

    def window_for(
        self, r: int, key: int, now: float, clients: np.ndarray, quiet: bool = False
    ) -> RoundWindow:
        """`csi` events (round ``r``; none when ``quiet``: a checkpoint's batch rebuilt) and
        the channel window of ``clients`` starting ``now``, to now + deadline.seconds; ``key``
        seeds the CSI error."""
        s, w = self.w.scenario, self.w
        deadline = now + s.deadline.seconds
        t_csi = max(now - s.channel.csi_delay_s, 0.0)
        grid = RoundGrid.for_round(t_csi, now, deadline, s.channel.dt)
        t = grid.times
        pos, vel = w.mobility.motion(t, clients)
        trace = w.channel.trace(clients, grid.steps, pos, vel)
        csi = CsiEstimator(w, key, trace.gain_db, grid)
        window = RoundWindow(r, now, deadline, clients, grid, pos, vel, trace, csi, key)
        if not quiet:
            self._csi_events(window, now - t_csi)
        return window

    def _csi_events(self, window: RoundWindow, age_s: float) -> None:
        """`csi` events: the gain at the window's first step (``age_s`` before now), plus the
        estimation error in dB; what the allocator will see."""
        csi, j0, trace = window.csi, window.grid.j0, window.trace
        cells = isinstance(trace, CellTrace)  # several cells: the serving one too
        for i, k in enumerate(window.clients):
            more = {"cell": int(trace.cell[i, j0])} if cells else {}  # type: ignore[attr-defined]
            self.log.emit(
                window.t0,
                Kind.CSI,
                window.round,
                k,
                gain_db=csi.csi_gain_db[i],
                true_gain_db=csi.true_gain_db[i],
                age_s=age_s,
                error_db=csi.offset_db[i],
                distance_m=trace.distance_3d_m[i, j0],
                los=bool(trace.los[i, j0]),
                speed_mps=float(np.linalg.norm(window.velocities[i, j0])),
                **more,
            )

    def chunk(self, window: RoundWindow, snr_db: np.ndarray) -> dict[str, np.ndarray]:
        """The round's part of channel.npz from its start on: the scheduled clients' positions,
        speeds and channel terms, and every client's position at the round start."""
        w, trace, grid = self.w, window.trace, window.grid
        own = slice(grid.j0, None)
        return dict(
            steps=grid.steps[own],
            clients=window.clients,
            start_positions=w.mobility.positions(grid.times[own][:1])[:, 0],
            **sample_terms(
                window.positions, window.velocities, trace, w.channel.bs_position, snr_db, own
            ),
        )


def draw_per_cell(
    w: World, rng: np.random.Generator, idle: np.ndarray, need: np.ndarray, now: float
) -> tuple[np.ndarray, np.ndarray]:
    """``need`` [C] clients for every cell, drawn from the ``idle`` ones (sorted) camping on it
    (strongest RSRP) at the first step of a window starting ``now``: the clients drawn
    (sorted) and the cell each was drawn for; a cell with too few there gives what it has."""
    ch = w.scenario.channel
    grid = RoundGrid.for_round(max(now - ch.csi_delay_s, 0.0), now, now + ch.dt, ch.dt)
    at = w.mobility.positions(grid.times[:1], idle)[:, 0]
    camping = w.channel.camping(idle, at)  # type: ignore[attr-defined]
    clients, homes = [], []
    for cell in np.flatnonzero(need > 0):
        there = idle[camping == cell]
        picked = rng.choice(there, min(int(need[cell]), len(there)), replace=False)
        clients.append(picked)
        homes.append(np.full(len(picked), cell))
    order = np.argsort(np.concatenate(clients))
    return np.concatenate(clients)[order].astype(np.int64), np.concatenate(homes)[order]


def snr_over_band(world: World, gain_db: np.ndarray, bandwidth_hz: np.ndarray) -> np.ndarray:
    """SNR [dB] over the allocated band; NaN where a client has no band."""
    bw = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(divide="ignore"):
        snr = world.link.snr_db(gain_db, np.where(bw > 0, bw, 1.0))
    return np.where(bw > 0, snr, np.nan)
