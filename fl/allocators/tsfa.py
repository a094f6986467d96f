"""TSFA's online stage: Lyapunov drift-plus-penalty over bandwidth shares and sparsity budgets.

Ours, as read from the abstract (docs/STRATEGIES.md, docs/METHOD notes): a virtual queue Q(t+1)
= max(Q(t) + T(t) − T̄, 0) tracks how far the realised round latencies T(t) run over the long-
term target T̄. Each round the allocator minimises

    V · Σ_k Φ_k(ρ_k)  +  Q(t) · T(α, ρ)        subject to Σ_k α_k ≤ 1, ρ_k in the budget grid,

with Φ_k the predicted sparsification error of client k at budget ρ_k and T the predicted round
latency from the estimated CSI, the predicted compute time and the payload bits. For fixed ρ
the min-max bandwidth split is a root search on T (fl.allocators.bandwidth.minmax_split). The
budgets are searched per candidate latency T on a grid between the all-sparsest and the all-
densest min-max latencies (and the deadline): every client needs a least bandwidth b_k(ρ, T) to
finish by T, and the choice of ρ_k minimising V·ΣΦ_k subject to Σ b_k ≤ B is a multiple-choice
knapsack, solved by its Lagrangian relaxation (bisection on the price of bandwidth). The best T
is kept and its budgets get the exact min-max split. A predicted latency beyond the round's
hard deadline is penalised heavily, so budgets drop until every client is predicted to make it
(when any budget can). Before all this, admission: when even the sparsest budgets cannot bring
every client in by the deadline, the clients with the largest least-bandwidth needs are left
out (no band) until the rest fit — otherwise the min-max split, which equalises finish times,
would make every client miss together. The deadline TSFA plans against is the round's deadline
shortened by allocation.deadline_margin (a share of the time left), a reserve for the channel
moving between plan and upload.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fl.allocators.bandwidth import deadline_needs, minmax_split
from fl.allocators.base import (
    Allocation,
    AllocationRequest,
    Allocator,
    InFlightRequest,
    for_subset,
    minmax_in_flight,
)


class TSFA(Allocator):
    """Online stage of TSFA with virtual latency queue ``q`` (seconds)."""

    name = "tsfa"
    chooses_budgets = True  # the engine offers allocation.budget_grid
    splits_in_flight = True  # fedasync/fedbuff: min-max among the uploads on air
    DEADLINE_PENALTY = 1e6
    LATENCY_GRID = 24

    def __init__(self, v: float, latency_target_s: float, deadline_margin: float = 0.0) -> None:
        if v < 0 or latency_target_s <= 0 or not 0 <= deadline_margin < 1:
            raise ValueError("V must be >= 0, the latency target > 0, the margin in [0, 1)")
        self.v = float(v)
        self.target = float(latency_target_s)
        self.margin = float(deadline_margin)
        self.q = 0.0

    def _choose(self, need: np.ndarray, phi: np.ndarray, total_hz: float) -> np.ndarray:
        """Per candidate latency (first axis of ``need``, [m, n, g]), the budget levels [m, n]
        minimising V·ΣΦ with Σ need ≤ total, by Lagrangian relaxation (bisection on the price
        of bandwidth, all candidates at once); -1 rows where no choice fits."""
        m = need.shape[0]
        finite = np.isfinite(need)

        def pick(price: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                cost = np.where(finite, self.v * phi[None] + price[:, None, None] * need, np.inf)
            return np.argmin(cost, axis=2)

        def fits(level: np.ndarray) -> np.ndarray:
            chosen = np.take_along_axis(need, level[..., None], axis=2)[..., 0]
            return np.isfinite(chosen).all(axis=1) & (chosen.sum(axis=1) <= total_hz)

        least = np.argmin(np.where(finite, need, np.inf), axis=2)
        possible = fits(least)
        free = pick(np.zeros(m))
        lo, hi = np.full(m, -30.0), np.full(m, 10.0)  # log10 of the price per Hz
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            ok = fits(pick(10.0**mid))
            hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
        level = np.where(fits(free)[:, None], free, pick(10.0**hi))
        return np.where(possible[:, None], level, -1)

    def _objective(self, phi_sum: np.ndarray, t: np.ndarray, deadline: float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        with np.errstate(invalid="ignore"):
            over = np.where(np.isfinite(t), np.maximum(t - deadline, 0.0), 1e9)
        return (
            self.v * phi_sum
            + self.q * np.where(np.isfinite(t), t, 1e9)
            + (self.DEADLINE_PENALTY * over)
        )

    def admit(self, request: AllocationRequest) -> np.ndarray:
        """Positions of the clients planned for: the most clients whose least bandwidths to
        finish by the deadline at the sparsest budget fit the band together (smallest needs
        first, which maximises their number). The others get no band: with them in, the
        min-max split would push every client past the deadline."""
        need = deadline_needs(
            request.bits_grid[:, 0],
            request.compute_s,
            request.snr_per_hz,
            np.array([request.time_left_s]),
            request.total_bandwidth_hz,
            request.efficiency,
        )[0]
        order = np.argsort(need, kind="stable")
        fits = np.isfinite(need[order]) & (np.cumsum(need[order]) <= request.total_bandwidth_hz)
        return np.sort(order[: int(np.argmin(fits)) if not fits.all() else len(order)])

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Budgets and bandwidths minimising the drift-plus-penalty over the admitted clients;
        logs Q, the objective terms and the clients left out."""
        if request.bits_grid is None or request.error_grid is None:
            raise ValueError("tsfa needs the payload bits and predicted errors per budget")
        # plan to finish a margin before the hard deadline: the channel will move meanwhile
        request = replace(request, time_left_s=request.time_left_s * (1.0 - self.margin))
        n = len(request.clients)
        idx = self.admit(request)
        if len(idx) == n:
            return self._allocate(request)
        part = self._allocate(request.subset(idx)) if len(idx) else None
        info = (
            part.info
            if part is not None
            else dict(queue_s=self.q, v=self.v, latency_target_s=self.target)
        )
        info["left_out"] = [int(c) for c in np.delete(request.clients, idx)]
        return for_subset(part, idx, n, request.budget_grid[0], info)

    def _latency_grid(self, request: AllocationRequest, compute: np.ndarray) -> np.ndarray:
        """Candidate round latencies [m] s: a grid between the all-sparsest and all-densest
        min-max latencies, plus the deadline when it lies between them."""
        n, g = request.bits_grid.shape
        ends = [
            minmax_split(
                request.bits_at(np.full(n, lv)),
                compute,
                request.snr_per_hz,
                request.total_bandwidth_hz,
                request.efficiency,
                iters=30,
            )[1]
            for lv in (0, g - 1)
        ]
        lo, hi = min(ends), max(ends)
        candidates = np.unique(
            np.concatenate(
                [
                    np.linspace(lo, hi, self.LATENCY_GRID) if np.isfinite(hi) else [lo],
                    [request.time_left_s] if lo <= request.time_left_s <= hi else [],
                ]
            )
        )
        return candidates[np.isfinite(candidates)]

    def _levels(self, request: AllocationRequest, compute: np.ndarray) -> np.ndarray:
        """The budget level [n] of each client at the best candidate latency (all sparsest
        when no candidate fits)."""
        n, g = request.bits_grid.shape
        phi, total = request.error_grid, request.total_bandwidth_hz
        candidates = self._latency_grid(request, compute)
        if not len(candidates):
            return np.zeros(n, dtype=int)
        # need[m, k, j]: least bandwidth for client k at budget level j to finish by T_m
        need = np.stack(
            [
                deadline_needs(
                    request.bits_grid[:, j],
                    compute,
                    request.snr_per_hz,
                    candidates,
                    total,
                    request.efficiency,
                    iters=30,
                )
                for j in range(g)
            ],
            axis=2,
        )
        levels = self._choose(need, phi, total)
        ok = levels[:, 0] >= 0
        if not ok.any():
            return np.zeros(n, dtype=int)
        phi_sums = np.take_along_axis(phi[None], np.maximum(levels, 0)[..., None], 2)
        values = self._objective(phi_sums[..., 0].sum(axis=1), candidates, request.time_left_s)
        return levels[int(np.argmin(np.where(ok, values, np.inf)))]

    def _allocate(self, request: AllocationRequest) -> Allocation:
        """Budgets at the best candidate latency, then their exact min-max split."""
        n = len(request.clients)
        compute = np.asarray(request.compute_s, dtype=float)
        level = self._levels(request, compute)
        bw, t = minmax_split(
            request.bits_at(level),
            compute,
            request.snr_per_hz,
            request.total_bandwidth_hz,
            request.efficiency,
        )
        phi_sum = float(request.error_grid[np.arange(n), level].sum())
        info = dict(
            left_out=[],
            queue_s=self.q,
            v=self.v,
            latency_target_s=self.target,
            predicted_round_s=t,
            penalty=self.v * phi_sum,
            drift=self.q * t,
            objective=float(self._objective(np.array(phi_sum), t, request.time_left_s)),
        )
        return Allocation(bw, request.budget_grid[level].astype(float), info)

    def observe(self, round_latency_s: float) -> None:
        """Q(t+1) = max(Q(t) + T(t) − T̄, 0); under fedasync/fedbuff T is each update's
        latency (start to arrival), so the queue runs on the per-upload latency."""
        self.q = max(self.q + float(round_latency_s) - self.target, 0.0)

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """The uploads on air share the band as TSFA's own split does once budgets are
        chosen: min-max on their remaining bits (budgets were chosen at each start)."""
        return minmax_in_flight(request)
