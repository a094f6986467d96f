"""Upload timing: when a payload is delivered over a piecewise-constant rate trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels.rates import RateModel, Shannon


@dataclass(frozen=True)
class UploadOutcome:
    """Per-upload delivery instant (NaN when not delivered by the limit) and bits delivered;
    ``sent_by_step`` [K, n]: the bits sent by the end of each step of the trace (to the
    limit), for checks against a plan without summing again."""

    t_end: np.ndarray
    delivered_bits: np.ndarray
    sent_by_step: np.ndarray | None = None

    @property
    def delivered(self) -> np.ndarray:
        """True where the whole payload arrived by the limit."""
        return ~np.isnan(self.t_end)


def step_bits(
    rate_bps: np.ndarray,
    grid_t0: float,
    dt: float,
    t_start: np.ndarray,
    t_limit: np.ndarray,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Bits [K, n] each upload sends in each step: the rate [K, n] bit/s times the part of
    the step inside [t_start, t_limit] [K] s; with each step's first instant used [K, n].
    Column j of the rate is step ``first + j`` of the grid starting at ``grid_t0`` (a trace
    cut where nothing is sent gives the same values). The one integration of delivered bits
    (upload timing and the re-split checks use it)."""
    n = rate_bps.shape[1]
    step_start = grid_t0 + dt * np.arange(first, first + n)
    lo = np.maximum(step_start[None, :], t_start[:, None])
    hi = np.minimum(step_start[None, :] + dt, t_limit[:, None])
    return lo, rate_bps * np.clip(hi - lo, 0.0, None)


def delivery_time(
    bits: np.ndarray,
    rate_bps: np.ndarray,
    grid_t0: float,
    dt: float,
    t_start: np.ndarray,
    t_limit: np.ndarray,
    first: int = 0,
) -> UploadOutcome:
    """Delivery instants of K payloads over rate traces [K, n] (rate constant within a step).

    Column i covers step first + i, [grid_t0 + (first + i)·dt, grid_t0 + (first + i + 1)·dt).
    The bits sent in a step are the rate times the part of the step inside [t_start, t_limit];
    the delivery instant is exact within the step where the cumulative sum reaches ``bits``.
    Vectorised over uploads; a trace cut at ``first`` before every t_start gives the same
    values as the whole one (the steps cut sent nothing).
    """
    rate = np.atleast_2d(np.asarray(rate_bps, dtype=float))
    k, n = rate.shape
    bits = np.broadcast_to(np.asarray(bits, dtype=float), (k,))
    t_start = np.broadcast_to(np.asarray(t_start, dtype=float), (k,))
    t_limit = np.broadcast_to(np.asarray(t_limit, dtype=float), (k,))
    if np.any(rate < 0) or not np.all(np.isfinite(rate)):
        raise ValueError("rate trace must be finite and non-negative")
    if np.any(bits < 0):
        raise ValueError("bits must be non-negative")
    grid_end = grid_t0 + (first + n) * dt
    if np.any(t_start < grid_t0 + first * dt) or np.any(
        t_limit > grid_end + 1e-9 * max(1.0, grid_end)
    ):
        raise ValueError(
            f"rate trace [{grid_t0 + first * dt}, {grid_end}) does not cover the upload window "
            f"[{t_start.min()}, {t_limit.max()}]"
        )
    lo, sent = step_bits(rate, grid_t0, dt, t_start, t_limit, first)
    cum = np.cumsum(sent, axis=1)
    total = cum[:, -1] if n else np.zeros(k)
    done = (total >= bits) & (bits > 0)
    t_end = np.full(k, np.nan)
    # first step where the cumulative sum reaches the payload
    idx = np.argmax(cum >= bits[:, None], axis=1)
    rows = np.nonzero(done)[0]
    if rows.size:
        i = idx[rows]
        before = cum[rows, i] - sent[rows, i]
        t_end[rows] = np.minimum(lo[rows, i] + (bits[rows] - before) / rate[rows, i], t_limit[rows])
    empty = bits == 0
    t_end[empty] = np.minimum(t_start[empty], t_limit[empty])
    delivered_bits = np.where(np.isnan(t_end), total, bits)
    return UploadOutcome(t_end=t_end, delivered_bits=delivered_bits, sent_by_step=cum)


def upload_end_time(
    bits: np.ndarray,
    bandwidth_hz: np.ndarray,
    snr_db: np.ndarray,
    grid_t0: float,
    dt: float,
    t_start: np.ndarray,
    t_limit: np.ndarray,
    rate_model: RateModel | None = None,
) -> UploadOutcome:
    """When K uploads are delivered at rate b·η(SNR(t)) (η: ``rate_model``, Shannon default).

    In: ``bits`` [K] float64 bits to send; ``bandwidth_hz`` [K] Hz, each upload's band;
    ``snr_db`` [K, n] dB over that band, constant within a step; step i covers
    [grid_t0 + i·dt, grid_t0 + (i+1)·dt) s; ``t_start`` [K] and ``t_limit`` [K] s, the
    window each upload may use (inside the grid).
    Out: UploadOutcome — ``t_end`` [K] s (NaN when not delivered by ``t_limit``; exact within
    the step where the bits are reached) and ``delivered_bits`` [K] (all of ``bits`` when
    delivered, else what arrived by ``t_limit``)."""
    model = rate_model or Shannon()
    snr_db = np.atleast_2d(np.asarray(snr_db, dtype=float))
    bw = np.asarray(bandwidth_hz, dtype=float).reshape(-1, 1)
    return delivery_time(bits, bw * model.efficiency(snr_db), grid_t0, dt, t_start, t_limit)
