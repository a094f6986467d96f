"""Bandwidth/budget allocators: turn estimated channels into each client's share and budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from scipy.optimize import brentq
from scipy.special import lambertw


def shannon_efficiency(snr: np.ndarray) -> np.ndarray:
    """log2(1 + SNR) for a linear SNR."""
    return np.log2(1.0 + np.asarray(snr, dtype=float))


@dataclass(frozen=True)
class AllocationRequest:
    """What the allocator knows at the `csi` event, one entry per scheduled client.

    ``snr_per_hz`` is the estimated linear SNR times 1 Hz: over a bandwidth b the client's SNR
    is snr_per_hz / b. ``dense_bits`` is the payload at budget 1.0; ``compute_s`` the predicted
    local training time; ``time_left_s`` the time from now to the deadline; ``efficiency`` maps
    a linear SNR to bit/s/Hz as the link does (log2(1 + SNR) unless a PHY model is in use).
    ``true_delivered_bits(bandwidth_hz, t)`` is given to the oracle only: the bits each client
    would deliver on the channel that will really happen, from the end of its training until
    ``t`` seconds after the round start.
    """

    clients: np.ndarray
    snr_per_hz: np.ndarray
    dense_bits: np.ndarray
    compute_s: np.ndarray
    total_bandwidth_hz: float
    time_left_s: float
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency
    budget_grid: np.ndarray = field(default_factory=lambda: np.ones(1))
    bits_grid: np.ndarray | None = None
    error_grid: np.ndarray | None = None
    true_delivered_bits: Callable[[np.ndarray, float], np.ndarray] | None = None

    def bits_at(self, level: np.ndarray) -> np.ndarray:
        """Payload bits [K] with client k at budget level ``level[k]`` of the grid."""
        if self.bits_grid is None:
            return np.asarray(self.dense_bits, dtype=float)
        return self.bits_grid[np.arange(len(self.clients)), level]

    def subset(self, idx: np.ndarray) -> AllocationRequest:
        """The same request for the clients at positions ``idx`` only (not for the oracle's
        channel callable, which covers a fixed set of clients)."""
        if self.true_delivered_bits is not None:
            raise ValueError("a request carrying the true channel cannot be subset")
        return replace(
            self,
            clients=self.clients[idx],
            snr_per_hz=np.asarray(self.snr_per_hz)[idx],
            dense_bits=np.asarray(self.dense_bits)[idx],
            compute_s=np.asarray(self.compute_s)[idx],
            bits_grid=None if self.bits_grid is None else self.bits_grid[idx],
            error_grid=None if self.error_grid is None else self.error_grid[idx],
        )


@dataclass(frozen=True)
class Allocation:
    """Bandwidth [Hz] and budget (fraction of the update kept, 1.0 = dense) per client."""

    bandwidth_hz: np.ndarray
    budget: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if np.any(self.bandwidth_hz < 0) or np.any((self.budget <= 0) | (self.budget > 1)):
            raise ValueError("allocation out of range: bandwidth >= 0 and 0 < budget <= 1")


def for_subset(
    part: Allocation | None, idx: np.ndarray, n: int, fill_budget: float, info: dict | None = None
) -> Allocation:
    """An allocation of ``n`` clients from ``part``, made for the clients at positions ``idx``
    only: every other client gets no band and budget ``fill_budget``."""
    bw, budget = np.zeros(n), np.full(n, float(fill_budget))
    if part is not None:
        bw[idx], budget[idx] = part.bandwidth_hz, part.budget
    if info is None:
        info = part.info if part is not None else {}
    return Allocation(bw, budget, info)


def predicted_upload_s(
    bits: np.ndarray,
    bandwidth_hz: np.ndarray,
    snr_per_hz: np.ndarray,
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency,
) -> np.ndarray:
    """Upload time at a constant estimated SNR (inf with no bandwidth or a zero rate)."""
    bw = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = bw * efficiency(np.asarray(snr_per_hz) / np.where(bw > 0, bw, 1.0))
        return np.where((bw > 0) & (rate > 0), np.asarray(bits, dtype=float) / rate, np.inf)


class Allocator(Protocol):
    """Chooses every scheduled client's bandwidth and budget for one round. With
    ``chooses_budgets`` the request's budget_grid is the scenario's allocation.budget_grid and
    each budget must be one of it; without, it holds strategy.budget only."""

    name: str
    chooses_budgets: bool

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Allocation for the clients of ``request``, in the same order."""
        ...

    def observe(self, round_latency_s: float) -> None:
        """The realised latency of the round just finished (stateful allocators learn)."""
        ...


class FixedBudget:
    """Base of the allocators that give every client the scenario's budget; stateless."""

    name: str
    chooses_budgets = False

    def __init__(self, budget: float = 1.0) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {budget}")
        self.budget = budget

    def observe(self, round_latency_s: float) -> None:
        """Stateless: nothing to learn from the round's latency."""


class EqualShare(FixedBudget):
    """Every scheduled client gets the same bandwidth share and the same fixed budget."""

    name = "equal"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """B/n each, the scenario's budget for all."""
        n = len(request.clients)
        return Allocation(
            bandwidth_hz=np.full(n, request.total_bandwidth_hz / max(n, 1)),
            budget=np.full(n, self.budget),
        )


def least_bandwidth(
    enough: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    max_hz: float,
    iters: int = 40,
) -> np.ndarray:
    """Least bandwidth per entry for which the monotone test ``enough(bandwidths)`` holds;
    inf where even ``max_hz`` fails. Bisection, vectorised."""
    ok = enough(np.full(shape, max_hz))
    lo, hi = np.zeros(shape), np.full(shape, max_hz)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        good = enough(mid)
        hi = np.where(good, mid, hi)
        lo = np.where(good, lo, mid)
    return np.where(ok, hi, np.inf)


def bandwidth_for_rate(
    rate_bps: np.ndarray,
    snr_per_hz: np.ndarray,
    max_hz: float,
    efficiency: Callable[[np.ndarray], np.ndarray],
    iters: int = 40,
) -> np.ndarray:
    """Least bandwidth giving each client ``rate_bps`` (b·η(x/b) grows with b); inf when even
    ``max_hz`` is not enough."""
    rate = np.asarray(rate_bps, dtype=float)
    x = np.asarray(snr_per_hz, dtype=float)
    closed_form = getattr(efficiency, "least_bandwidth", None)
    if closed_form is not None:
        b = closed_form(rate, x)
        return np.where(rate <= 0, 0.0, np.where(b <= max_hz, b, np.inf))

    def enough(b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return b * efficiency(x / np.maximum(b, 1e-300)) >= rate

    return np.where(rate <= 0, 0.0, least_bandwidth(enough, rate.shape, max_hz, iters))


def shannon_least_bandwidth(rate_bps: np.ndarray, snr_per_hz: np.ndarray) -> np.ndarray:
    """Least b with b·log2(1 + x/b) ≥ R, in closed form: with c = R·ln2/x and u = 1 + x/b,
    ln u = c(u − 1), so u = −W₋₁(−c·e^(−c))/c (Lambert W, lower branch); inf when c ≥ 1
    (R beyond the wideband limit x/ln 2)."""
    rate = np.asarray(rate_bps, dtype=float)
    x = np.broadcast_to(np.asarray(snr_per_hz, dtype=float), rate.shape)
    out = np.full(rate.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = rate * np.log(2.0) / x
    ok = (c > 0) & (c < 1.0 - 1e-12)
    cc = c[ok]
    u = -lambertw(-cc * np.exp(-cc), k=-1).real / cc
    with np.errstate(divide="ignore"):
        out[ok] = x[ok] / (u - 1.0)
    out[(rate <= 0)] = 0.0
    return out


def split_at_least_latency(
    need: Callable[[float], np.ndarray], lo: float, hi: float, total_hz: float, iters: int = 40
) -> tuple[np.ndarray, float]:
    """Bisection on the latency T in [lo, hi] (hi feasible) for the least T whose bandwidth
    needs ``need(T)`` fit the band; the band left over is spread in proportion to the needs."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if need(mid).sum() <= total_hz:
            hi = mid
        else:
            lo = mid
    return _fill_band(need(hi), total_hz), hi


def _fill_band(bw: np.ndarray, total_hz: float) -> np.ndarray:
    """Spread the band left over in proportion to the needs (equally when all are zero)."""
    n = len(bw)
    return bw + (total_hz - bw.sum()) * bw / bw.sum() if bw.sum() > 0 else np.full(n, total_hz / n)


def deadline_needs(
    bits: np.ndarray,
    compute_s: np.ndarray,
    snr_per_hz: np.ndarray,
    deadlines: np.ndarray,
    total_hz: float,
    efficiency: Callable[[np.ndarray], np.ndarray],
    iters: int = 40,
) -> np.ndarray:
    """Least bandwidth for each client to send ``bits`` between the end of its compute and each
    deadline T (shape: deadlines' shape + bits' shape); inf where the band cannot do it."""
    t = np.asarray(deadlines, dtype=float)[..., None]
    slack = t - np.asarray(compute_s, dtype=float)
    bits = np.broadcast_to(np.asarray(bits, dtype=float), slack.shape)
    x = np.broadcast_to(np.asarray(snr_per_hz, dtype=float), slack.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(slack > 0, bits / slack, np.inf)
    finite = np.isfinite(rate)
    out = np.full(rate.shape, np.inf)
    out[finite] = bandwidth_for_rate(rate[finite], x[finite], total_hz, efficiency, iters)
    return out


def minmax_split(
    bits: np.ndarray,
    compute_s: np.ndarray,
    snr_per_hz: np.ndarray,
    total_hz: float,
    efficiency: Callable[[np.ndarray], np.ndarray],
    iters: int = 40,
) -> tuple[np.ndarray, float]:
    """Bandwidths minimising the predicted round latency max_k(compute_k + upload_k): each
    client gets the least bandwidth that finishes by T, and T is feasible when those sum to at
    most the total. The least feasible T is the root of Σ need(T) = total, found by Brent's
    method (``scipy.optimize.brentq``) to about 2^-``iters`` of the first bracket, then stepped
    onto the feasible side. At the optimum every client finishes at T (equal predicted
    finish). Returns (bandwidths [K], T); T is inf when nothing is feasible."""
    bits = np.asarray(bits, dtype=float)
    compute = np.asarray(compute_s, dtype=float)
    n = len(bits)
    if n == 0:
        return np.zeros(0), 0.0

    def need(t: float) -> np.ndarray:
        return deadline_needs(
            bits, compute, snr_per_hz, np.array([t]), total_hz, efficiency, iters
        )[0]

    def used(t: float) -> float:
        return float(need(t).sum())

    lo = float(compute.max())
    hi = lo + 1.0
    for _ in range(200):  # grow until feasible (the rate is bounded, so this may never be)
        if used(hi) <= total_hz:
            break
        hi = lo + 2.0 * (hi - lo)
    else:
        return np.full(n, total_hz / n), float("inf")
    # excess band is +inf below the slowest compute: clip it so the root finder sees numbers
    tol = (hi - lo) * 2.0**-iters
    t = brentq(lambda t: min(used(t), 4.0 * total_hz) - total_hz, lo, hi, xtol=tol, rtol=1e-15)
    while t < hi and used(t) > total_hz:  # brentq may stop a hair short of the feasible side
        t = min(t + 2.0 * tol, hi)
    return _fill_band(need(t), total_hz), t


def predicted_latency(
    bits: np.ndarray,
    compute_s: np.ndarray,
    bandwidth_hz: np.ndarray,
    snr_per_hz: np.ndarray,
    efficiency: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Predicted finish time [K] of each client: compute + upload at the estimated SNR."""
    return np.asarray(compute_s, dtype=float) + predicted_upload_s(
        bits, bandwidth_hz, snr_per_hz, efficiency
    )


class InverseSpectralEfficiency(FixedBudget):
    """Dense; bandwidth ∝ bits / η at the equal share: equal predicted upload times."""

    name = "inverse-se"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """α_k ∝ bits_k / η_k(B/n)."""
        n = len(request.clients)
        equal = request.total_bandwidth_hz / max(n, 1)
        eta = request.efficiency(request.snr_per_hz / equal)
        level = np.full(n, _level(request, self.budget))
        need = request.bits_at(level) / np.maximum(eta, 1e-12)
        share = need / need.sum() if need.sum() > 0 else np.full(n, 1.0 / n)
        return Allocation(share * request.total_bandwidth_hz, np.full(n, self.budget))


class MinMax(FixedBudget):
    """Min-max latency bandwidth split at a fixed budget (no sparsity choice)."""

    name = "minmax"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Equal predicted finish (compute + upload) by bisection on the latency."""
        n = len(request.clients)
        level = np.full(n, _level(request, self.budget))
        bw, t = minmax_split(
            request.bits_at(level),
            request.compute_s,
            request.snr_per_hz,
            request.total_bandwidth_hz,
            request.efficiency,
        )
        return Allocation(bw, np.full(n, self.budget), {"predicted_round_s": t})


class Oracle(FixedBudget):
    """Upper bound, not a realisable scheme: the min-max split planned on the channel that will
    really happen (``true_delivered_bits``), so with a feasible deadline nobody misses."""

    name = "oracle"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Bisection on the finish time T; each client gets the least bandwidth that delivers
        its payload by T on the true channel."""
        if request.true_delivered_bits is None:
            raise ValueError("the oracle needs the true future channel")
        n, total = len(request.clients), request.total_bandwidth_hz
        bits = request.bits_at(np.full(n, _level(request, self.budget)))
        delivered = request.true_delivered_bits

        def need(t: float) -> np.ndarray:
            return least_bandwidth(lambda b: delivered(b, t) >= bits, (n,), total)

        t_hi = request.time_left_s
        if need(t_hi).sum() > total:  # not even the whole round suffices: plan as min-max
            bw, t = minmax_split(
                bits, request.compute_s, request.snr_per_hz, total, request.efficiency
            )
            info = {"upper_bound": True, "feasible": False, "predicted_round_s": t}
        else:
            bw, t = split_at_least_latency(need, float(np.min(request.compute_s)), t_hi, total)
            info = {"upper_bound": True, "feasible": True, "predicted_round_s": t}
        return Allocation(bw, np.full(n, self.budget), info)


def _level(request: AllocationRequest, budget: float) -> int:
    """Index of ``budget`` in the request's grid."""
    idx = np.flatnonzero(np.isclose(request.budget_grid, budget))
    if idx.size == 0:
        raise ValueError(f"budget {budget} is not in the grid {request.budget_grid.tolist()}")
    return int(idx[0])
