"""TSFA's online stage: Lyapunov drift-plus-penalty over bandwidth shares and sparsity budgets.

Ours, as read from the abstract (docs/STRATEGIES.md, docs/METHOD notes): a virtual queue
Q(t+1) = max(Q(t) + T(t) − T̄, 0) tracks how far the realised round latencies T(t) run over the
long-term target T̄. Each round the allocator minimises

    V · Σ_k Φ_k(ρ_k)  +  Q(t) · T(α, ρ)        subject to Σ_k α_k ≤ 1, ρ_k in the budget grid,

with Φ_k the predicted sparsification error of client k at budget ρ_k and T the predicted
round latency from the estimated CSI, the predicted compute time and the payload bits. For
fixed ρ the min-max bandwidth split is a bisection on T (fl.allocation.minmax_split). The
budgets are searched per candidate latency T on a grid between the all-sparsest and the
all-densest min-max latencies (and the deadline): every client needs a least bandwidth
b_k(ρ, T) to finish by T, and the choice of ρ_k minimising V·ΣΦ_k subject to Σ b_k ≤ B is a
multiple-choice knapsack, solved by its Lagrangian relaxation (bisection on the price of
bandwidth). The best T is kept and its budgets get the exact min-max split. A predicted
latency beyond the round's hard deadline is penalised heavily, so budgets drop until every
client is predicted to make it (when any budget can).
"""

from __future__ import annotations

import numpy as np

from fl.allocation import Allocation, AllocationRequest, bandwidth_for_rate, minmax_split


class TSFA:
    """Online stage of TSFA with virtual latency queue ``q`` (seconds)."""

    name = "tsfa"
    DEADLINE_PENALTY = 1e6
    LATENCY_GRID = 24

    def __init__(self, v: float, latency_target_s: float) -> None:
        if v < 0 or latency_target_s <= 0:
            raise ValueError("V must be >= 0 and the latency target > 0")
        self.v = float(v)
        self.target = float(latency_target_s)
        self.q = 0.0

    def _choose(self, need: np.ndarray, phi: np.ndarray, total_hz: float) -> np.ndarray | None:
        """Budget levels minimising V·ΣΦ with Σ need ≤ total (Lagrangian), None if none fit."""
        rows = np.arange(need.shape[0])

        def pick(price: float) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                cost = np.where(np.isfinite(need), self.v * phi + price * need, np.inf)
            return np.argmin(cost, axis=1)

        level = pick(0.0)
        if np.isfinite(need[rows, level]).all() and need[rows, level].sum() <= total_hz:
            return level
        least = np.argmin(np.where(np.isfinite(need), need, np.inf), axis=1)
        if not np.isfinite(need[rows, least]).all() or need[rows, least].sum() > total_hz:
            return None
        lo, hi = -30.0, 10.0  # log10 of the price per Hz
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            level = pick(10.0**mid)
            ok = np.isfinite(need[rows, level]).all() and need[rows, level].sum() <= total_hz
            hi, lo = (mid, lo) if ok else (hi, mid)
        return pick(10.0**hi)

    def _objective(self, phi_sum: float, t: float, deadline: float) -> float:
        over = max(t - deadline, 0.0) if np.isfinite(t) else 1e9
        return self.v * phi_sum + self.q * t + self.DEADLINE_PENALTY * over

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Budgets and bandwidths minimising the drift-plus-penalty; logs Q and its terms."""
        if request.bits_grid is None or request.error_grid is None:
            raise ValueError("tsfa needs the payload bits and predicted errors per budget")
        n, g = request.bits_grid.shape
        total, eff = request.total_bandwidth_hz, request.efficiency
        rows = np.arange(n)
        phi = request.error_grid
        compute = np.asarray(request.compute_s, dtype=float)
        ends = [
            minmax_split(
                request.bits_at(np.full(n, lv)), compute, request.snr_per_hz, total, eff, iters=40
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
        best = None
        for t in candidates:
            slack = t - compute
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = np.where(slack[:, None] > 0, request.bits_grid / slack[:, None], np.inf)
            need = np.full((n, g), np.inf)
            finite = np.isfinite(rate)
            x = np.broadcast_to(request.snr_per_hz[:, None], (n, g))
            need[finite] = bandwidth_for_rate(rate[finite], x[finite], total, eff, iters=40)
            level = self._choose(need, phi, total)
            if level is None:
                continue
            value = self._objective(float(phi[rows, level].sum()), t, request.time_left_s)
            if best is None or value < best[0]:
                best = (value, level)
        level = best[1] if best is not None else np.zeros(n, dtype=int)
        bw, t = minmax_split(request.bits_at(level), compute, request.snr_per_hz, total, eff)
        phi_sum = float(phi[rows, level].sum())
        info = dict(
            queue_s=self.q,
            v=self.v,
            latency_target_s=self.target,
            predicted_round_s=t,
            penalty=self.v * phi_sum,
            drift=self.q * t,
            objective=self._objective(phi_sum, t, request.time_left_s),
        )
        return Allocation(bw, request.budget_grid[level].astype(float), info)

    def observe(self, round_latency_s: float) -> None:
        """Q(t+1) = max(Q(t) + T(t) − T̄, 0)."""
        self.q = max(self.q + float(round_latency_s) - self.target, 0.0)
