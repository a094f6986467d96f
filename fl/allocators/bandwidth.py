"""Bandwidth mathematics of the allocators: the least band for a rate (closed form for
Shannon, bisection otherwise), per-deadline needs, and the min-max latency split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import lambertw


def shannon_efficiency(snr: np.ndarray) -> np.ndarray:
    """log2(1 + SNR) for a linear SNR."""
    return np.log2(1.0 + np.asarray(snr, dtype=float))


@dataclass(frozen=True)
class Efficiency:
    """The link's spectral efficiency [bit/s/Hz] at a linear SNR, and, when the link has one,
    its closed-form least bandwidth for a rate (``least_bandwidth(rate_bps, snr_per_hz)``, Hz;
    Shannon's), which the allocators then use instead of bisection."""

    at: Callable[[np.ndarray], np.ndarray]
    least_bandwidth: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def __call__(self, snr_linear: np.ndarray) -> np.ndarray:
        return self.at(snr_linear)


def as_efficiency(efficiency: Callable[[np.ndarray], np.ndarray]) -> Efficiency:
    """``efficiency`` as an Efficiency (a plain function has no closed form)."""
    return efficiency if isinstance(efficiency, Efficiency) else Efficiency(efficiency)


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
    closed_form = as_efficiency(efficiency).least_bandwidth
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

    needs: dict[float, np.ndarray] = {}  # brentq and the checks ask for some T twice

    def need(t: float) -> np.ndarray:
        if t not in needs:
            needs[t] = deadline_needs(
                bits, compute, snr_per_hz, np.array([t]), total_hz, efficiency, iters
            )[0]
        return needs[t]

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
