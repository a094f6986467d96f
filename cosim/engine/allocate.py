"""The allocation step of a round: the request the allocator sees (known dropouts left out),
the checks on its answer, and the `allocator` / `allocation` events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from channels import upload_end_time
from cosim.engine import contract
from cosim.engine.plan import RoundWindow, snr_over_band
from cosim.outputs.events import EventLog, Kind
from cosim.scenario.registry import ContractError
from cosim.world.radio import efficiency_of
from cosim.world.world import World
from fl import Allocation, AllocationRequest, State, for_subset, predicted_upload_s


@dataclass(frozen=True)
class RoundAllocation:
    """The allocator's split [K] Hz and budgets, with the payload bits [K] (int64) and the
    predicted upload times [K] s they give."""

    allocation: Allocation
    payload_bits: np.ndarray
    predicted_upload_s: np.ndarray


class Allocating:
    """Asks the world's allocator for each round's band and budgets, and checks the answer."""

    def __init__(self, world: World, log: EventLog) -> None:
        self.w, self.log = world, log
        self.efficiency = efficiency_of(world.rate)

    def budget_grid(self) -> np.ndarray:
        """The budgets the request offers: allocation.budget_grid for an allocator that
        chooses budgets (TSFA, or a custom one), else strategy.budget only."""
        s = self.w.scenario
        chooses = self.w.allocator.chooses_budgets
        return np.array(s.allocation.budget_grid if chooses else (s.strategy.budget,))

    def allocate(
        self,
        window: RoundWindow,
        template: State,
        flops: float,
        down: tuple[np.ndarray, np.ndarray] | None = None,
        share: float = 1.0,
        call: str | None = None,
        rows: np.ndarray | None = None,
        cell: int | None = None,
        penalty_db: np.ndarray | None = None,
    ) -> RoundAllocation:
        """`allocator`/`allocation` events: band and budgets, predicted times; a client whose
        training cannot end by the deadline gets no band. ``down``: the predicted download
        times [K] s and the real download ends [K] s (channel downlink; the real ones, for
        the oracle); fedasync/fedbuff plan starts on ``share`` of the band, ``call`` = "start".
        Several cells: only ``rows`` [K] bool ask (``cell``'s; the others get no band and no
        events), planned on the CSI gains less ``penalty_db`` [K] of interference."""
        s, w, clients = self.w.scenario, self.w, window.clients
        n, grid = len(clients), self.budget_grid()
        lead_s, train_s, compute_s, true_busy_s = self._times(window, flops, down)
        csi_db = (
            window.csi.csi_gain_db if penalty_db is None else window.csi.csi_gain_db - penalty_db
        )
        snr_per_hz = w.link.snr_per_hz(csi_db)
        bits_grid, error_grid = self._grids(template, grid, n)
        time_left = s.deadline.seconds - s.server.broadcast_s  # (0 when the downlink is timed)
        asking = np.ones(n, dtype=bool) if rows is None else rows
        idx = np.flatnonzero((compute_s < time_left) & asking)
        part = None
        if idx.size:
            part = self._ask(
                AllocationRequest(
                    clients=clients[idx],
                    snr_per_hz=snr_per_hz[idx],
                    dense_bits=np.full(idx.size, w.strategy.payload_bits(template, 1.0), float),
                    compute_s=compute_s[idx],
                    total_bandwidth_hz=s.channel.bandwidth_hz * share,
                    time_left_s=time_left,
                    efficiency=self.efficiency,
                    budget_grid=grid,
                    bits_grid=bits_grid[idx],
                    error_grid=error_grid[idx],
                    true_delivered_bits=(
                        self._true_delivered(window, true_busy_s, idx)
                        if w.allocator.needs_true_channel
                        else None
                    ),
                )
            )
        alloc = for_subset(part, idx, n, grid[0])
        self._allocator_event(window, alloc, call, cell)
        level = self._check(alloc, grid)
        bits = bits_grid[np.arange(n), level].astype(np.int64)
        pred_up = predicted_upload_s(bits, alloc.bandwidth_hz, snr_per_hz, self.efficiency)
        errors = error_grid[np.arange(n), level]
        times = (lead_s, train_s, pred_up)
        self._allocation_events(window, csi_db, alloc, bits, times, errors, asking)
        return RoundAllocation(alloc, bits, pred_up)

    def _grids(self, template: State, grid: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per client [n, G], the payload bits and predicted error at each budget of ``grid``."""
        st = self.w.strategy
        bits = np.tile([contract.bits(st, st.payload_bits(template, g)) for g in grid], (n, 1))
        return bits, np.tile([st.predicted_error(template, g) for g in grid], (n, 1))

    def _times(
        self, window: RoundWindow, flops: float, down: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per client [K] s: before training (broadcast or predicted download), training,
        before its upload can start as predicted, and as it really is (true download)."""
        s, w = self.w.scenario, self.w
        train_s = w.compute.seconds(window.clients, flops)
        if down is None:
            return np.full(len(window.clients), s.server.broadcast_s), train_s, train_s, train_s
        true_download_s = np.nan_to_num(down[1] - window.t0, nan=np.inf)  # NaN: not in time
        return down[0], train_s, down[0] + train_s, true_download_s + train_s

    def allocate_cells(
        self,
        window: RoundWindow,
        template: State,
        flops: float,
        cells: np.ndarray,
        down: tuple[np.ndarray, np.ndarray] | None = None,
        penalty_db: np.ndarray | None = None,
    ) -> RoundAllocation:
        """A sync/first-k round over several cells: one allocator call per cell (in cell
        order) for the clients it serves at the round start, ``cells`` [K], each on the
        whole of channel.bandwidth_hz (frequency reuse 1), less ``penalty_db`` [K] of
        interference; the answers side by side [K]."""
        keys = np.unique(cells).tolist()
        parts = [
            self.allocate(
                window, template, flops, down, rows=cells == c, cell=c, penalty_db=penalty_db
            )
            for c in keys
        ]

        def columns(p: RoundAllocation) -> tuple[np.ndarray, ...]:
            a = p.allocation
            return a.bandwidth_hz, a.budget, p.payload_bits, p.predicted_upload_s

        joined = [a.copy() for a in columns(parts[0])]
        for c, part in zip(keys[1:], parts[1:], strict=True):
            for whole, one in zip(joined, columns(part), strict=True):
                whole[cells == c] = one[cells == c]
        info = {f"cell_{c}": p.allocation.info for c, p in zip(keys, parts, strict=True)}
        alloc = Allocation(bandwidth_hz=joined[0], budget=joined[1], info=info)
        return RoundAllocation(alloc, joined[2], joined[3])

    def _allocator_event(
        self, window: RoundWindow, alloc: Allocation, call: str | None, cell: int | None
    ) -> None:
        """The `allocator` event, when the allocator said something (``call``: which one,
        under fedasync/fedbuff; ``cell``: the cell whose clients asked)."""
        if alloc.info:
            which = {} if call is None else {"call": call}
            if cell is not None:
                which["cell"] = cell
            info = dict(name=self.w.allocator.name, **which, **alloc.info)
            self.log.emit(window.t0, Kind.ALLOCATOR, window.round, **info)

    def _allocation_events(
        self,
        window: RoundWindow,
        csi_db: np.ndarray,
        alloc: Allocation,
        bits: np.ndarray,
        times: tuple[np.ndarray, np.ndarray, np.ndarray],
        errors: np.ndarray,
        asking: np.ndarray,
    ) -> None:
        """One `allocation` event per client (its SNR from the plan's gains ``csi_db`` [K]
        dB): band, budget, bits [K], predicted times
        ``times`` = (before training: broadcast or download, training, upload) [K] s and
        predicted errors [K]; for the clients ``asking`` [K] bool only."""
        s, w = self.w.scenario, self.w
        lead_s, train_s, pred_up = times
        for i, k in enumerate(window.clients):
            if not asking[i]:
                continue
            self.log.emit(
                window.t0,
                Kind.ALLOCATION,
                window.round,
                k,
                bandwidth_hz=alloc.bandwidth_hz[i],
                share=alloc.bandwidth_hz[i] / s.channel.bandwidth_hz,
                budget=alloc.budget[i],
                bits=bits[i],
                snr_db=snr_over_band(w, csi_db[i], alloc.bandwidth_hz[i]),
                predicted_train_s=train_s[i],
                predicted_upload_s=pred_up[i],
                predicted_s=lead_s[i] + train_s[i] + pred_up[i],
                predicted_error=errors[i],
                excluded=bool(alloc.bandwidth_hz[i] == 0),
            )

    def _ask(self, request: AllocationRequest) -> Allocation:
        """The allocator's answer for ``request``, checked: an Allocation with float arrays
        [K] of finite bandwidths and budgets (a registered allocator's mistakes are named,
        never broadcast or read as dropouts)."""
        name, n = self.w.allocator.name, len(request.clients)
        try:
            part = self.w.allocator.allocate(request)
        except SystemExit as exc:
            raise ContractError(
                f"allocator {name!r}: allocate() called sys.exit({exc.code!r})"
            ) from None
        if not isinstance(part, Allocation):
            raise ContractError(
                f"allocator {name!r}: allocate() returned {type(part).__name__}, not an "
                "fl.Allocation"
            )
        for field in ("bandwidth_hz", "budget"):
            value = getattr(part, field)
            if not isinstance(value, np.ndarray) or value.shape != (n,):
                shape = getattr(value, "shape", type(value).__name__)
                raise ContractError(
                    f"allocator {name!r}: allocate() gave {field} of shape {shape}; the "
                    f"request has {n} clients, so it must be an array of shape ({n},)"
                )
            if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
                raise ContractError(
                    f"allocator {name!r}: allocate() gave {field} with non-finite or "
                    f"non-numeric values: {value.tolist()[:8]}"
                )
        return part

    def _check(self, alloc: Allocation, grid: np.ndarray) -> np.ndarray:
        """The grid level [K] of each budget; RuntimeError naming the allocator when it gave
        more band than there is or a budget outside the request's grid."""
        name, total = self.w.allocator.name, self.w.scenario.channel.bandwidth_hz
        if alloc.bandwidth_hz.sum() > total * (1 + 1e-9):
            raise RuntimeError(
                f"allocator {name!r} assigned {alloc.bandwidth_hz.sum()} Hz of {total} Hz"
            )
        level = np.searchsorted(grid, alloc.budget)
        if np.any(level >= len(grid)) or np.any(
            grid[np.minimum(level, len(grid) - 1)] != alloc.budget
        ):
            raise RuntimeError(
                f"allocator {name!r} chose budgets {alloc.budget.tolist()}, not all "
                f"from the request's budget_grid {grid.tolist()}"
            )
        return level

    def _true_delivered(
        self, window: RoundWindow, compute_s: np.ndarray, rows: np.ndarray
    ) -> Callable[[np.ndarray, float], np.ndarray]:
        """For an allocator that needs the true channel (the oracle): bits each client of
        ``rows`` would deliver on the real channel between the end of its training and ``t``
        seconds after the broadcast, at bandwidths ``bw``."""
        w, n, grid = self.w, len(rows), window.grid
        t0 = window.t0 + w.scenario.server.broadcast_s  # (0 when the downlink is timed)
        start = t0 + np.asarray(compute_s)[rows]
        gain_db = window.trace.gain_db[rows]

        def delivered(bw: np.ndarray, t: float) -> np.ndarray:
            bw = np.maximum(np.asarray(bw, dtype=float), 1e-9)
            snr_db = w.link.snr_db(gain_db, bw[:, None])
            limit = np.full(n, min(t0 + t, grid.end))
            return upload_end_time(
                np.full(n, np.inf),
                bw,
                snr_db,
                grid.t0,
                grid.dt,
                np.minimum(start, limit),
                limit,
                w.rate,
            ).delivered_bits

        return delivered
