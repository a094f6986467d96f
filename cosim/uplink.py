"""One round's shared uplink band in simulated time: uploads, and reallocation of held band.

Every scheduled client holds the bandwidth its allocation gave it. A client that drops out
(cannot finish training, or its update is rejected) or finishes its upload frees its band; an
uploading client whose realised rate falls behind its plan by more than a threshold calls for
help. Then, if reallocation is on, the band held by the clients still uploading plus the band
freed so far is re-split among the uploading clients by the min-max rule for their *remaining*
bits, at the server's current (stale, noisy) estimate of their channels (`reallocation` event
with shares before and after). Clients still training keep their planned share. Each upload is
played out segment by segment on the round's rate trace: a reallocation ends a segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from channels import LinkBudget, RateModel, upload_end_time
from fl import minmax_split

WAITING, UPLOADING, DONE, DROPPED = "waiting", "uploading", "done", "dropped"


@dataclass
class UploadResult:
    """How one upload ended: delivered or not, when, and how many bits arrived."""

    delivered: bool
    t_end: float
    bits: float


@dataclass
class _Upload:
    bits: float
    sent: float  # bits delivered before the current segment
    seg_t: float  # start of the current segment
    ref_rate: float  # planned rate of the current segment [bit/s]
    done: simpy.Event


class Uplink:
    """The band of one round: tracks who holds what and plays uploads out on the trace."""

    def __init__(
        self,
        env: simpy.Environment,
        round_: int,
        gain_db: np.ndarray,
        grid_t0: float,
        dt: float,
        deadline: float,
        bandwidth_hz: np.ndarray,
        total_hz: float,
        link: LinkBudget,
        rate: RateModel,
        efficiency: Callable[[np.ndarray], np.ndarray],
        estimate_snr_per_hz: Callable[[np.ndarray, float], np.ndarray],
        emit: Callable[..., None],
        clients: np.ndarray,
        reallocate: bool,
        threshold: float,
        min_interval_s: float,
    ) -> None:
        self.env, self.round = env, round_
        self.gain_db, self.grid_t0, self.dt, self.deadline = gain_db, grid_t0, dt, deadline
        self.bw = np.asarray(bandwidth_hz, dtype=float).copy()
        self.total_hz = total_hz
        self.link, self.rate, self.efficiency = link, rate, efficiency
        self.estimate = estimate_snr_per_hz
        self.emit = emit
        self.clients = clients
        self.reallocate_on = reallocate
        self.threshold, self.min_interval_s = threshold, min_interval_s
        n = len(self.bw)
        self.state = [WAITING] * n
        self.version = np.zeros(n, dtype=int)
        self.uploads: dict[int, _Upload] = {}
        self.reallocations = 0
        self.peak_assigned_hz = float(self.bw.sum())

    # ------------------------------------------------------------------ client side
    def drop(self, i: int, reason: str) -> None:
        """Client ``i`` will not upload: its band is freed (re-split if anyone is uploading)."""
        self.state[i], self.bw[i] = DROPPED, 0.0
        self._reallocate(f"dropout ({reason})", i)

    def start(self, i: int, bits: float, predicted_s: float) -> simpy.Event:
        """Client ``i`` starts sending ``bits`` now; the event's value is an UploadResult."""
        now = self.env.now
        ref = bits / predicted_s if predicted_s > 0 and np.isfinite(predicted_s) else 0.0
        self.state[i] = UPLOADING
        self.uploads[i] = _Upload(float(bits), 0.0, now, ref, self.env.event())
        if self.free_hz > 1e-9 * self.total_hz and self._reallocate("freed band", i):
            return self.uploads[i].done
        self._schedule(i)
        return self.uploads[i].done

    @property
    def free_hz(self) -> float:
        """Band held by nobody (freed by dropouts and finished uploads)."""
        return max(self.total_hz - float(self.bw.sum()), 0.0)

    # ------------------------------------------------------------------ segments
    def _snr_db(self, i: int, bw: float) -> np.ndarray:
        return self.link.snr_db(self.gain_db[i], max(bw, 1e-9))

    def _outcome(self, i: int, bits: float, t0: float, t1: float):
        return upload_end_time(
            bits,
            self.bw[i],
            self._snr_db(i, self.bw[i]),
            self.grid_t0,
            self.dt,
            t0,
            t1,
            self.rate,
        )

    def _settle(self, i: int) -> None:
        """Book the bits of the current segment up to now; a new segment starts now."""
        up, now = self.uploads[i], self.env.now
        if now > up.seg_t:
            got = self._outcome(i, up.bits - up.sent, up.seg_t, now).delivered_bits[0]
            up.sent = min(up.bits, up.sent + float(got))
        up.seg_t = now

    def _schedule(self, i: int) -> None:
        """Timers for the current segment: delivery (or the deadline) and, with reallocation
        on, the first step end where it falls behind its planned rate by the threshold."""
        self.version[i] += 1
        up, v = self.uploads[i], int(self.version[i])
        left = up.bits - up.sent
        out = self._outcome(i, left, up.seg_t, self.deadline)
        if out.delivered[0]:
            self.env.process(self._timer(i, v, float(out.t_end[0]), "end"))
        else:
            self.env.process(self._timer(i, v, self.deadline, "deadline"))
        if self.reallocate_on and up.ref_rate > 0:
            t_behind = self._behind_time(i, float(out.t_end[0]) if out.delivered[0] else None)
            if t_behind is not None:
                self.env.process(self._timer(i, v, t_behind, "behind"))

    def _behind_time(self, i: int, t_end: float | None) -> float | None:
        """First step end t ≥ segment start + min interval (before delivery) where the bits
        sent in this segment fall below (1 − threshold) x planned rate x elapsed time."""
        up = self.uploads[i]
        n = self.gain_db.shape[1]
        ends = self.grid_t0 + self.dt * np.arange(1, n + 1)
        limit = min(t_end if t_end is not None else self.deadline, self.deadline)
        check = (ends >= up.seg_t + self.min_interval_s) & (ends < limit)
        if not check.any():
            return None
        rate = self.bw[i] * self.rate.efficiency(self._snr_db(i, self.bw[i]))
        used = np.clip(ends - np.maximum(ends - self.dt, up.seg_t), 0.0, None)
        sent = np.cumsum(rate * used)
        behind = check & (sent < (1.0 - self.threshold) * up.ref_rate * (ends - up.seg_t))
        return float(ends[np.argmax(behind)]) if behind.any() else None

    def _timer(self, i: int, version: int, t: float, kind: str):
        yield self.env.timeout(max(t - self.env.now, 0.0))
        if self.version[i] != version or self.state[i] != UPLOADING:
            return  # superseded by a reallocation
        up = self.uploads[i]
        if kind == "behind":
            self._reallocate("behind plan", i)
            return
        self._settle(i)
        delivered = kind == "end"
        self.state[i] = DONE
        self.bw[i] = 0.0
        self.version[i] += 1
        up.done.succeed(UploadResult(delivered, self.env.now, up.bits if delivered else up.sent))
        if delivered:
            self._reallocate("upload finished", i)

    # ------------------------------------------------------------------ reallocation
    def _reallocate(self, reason: str, trigger: int) -> bool:
        """Re-split the uploading clients' band plus the free band among them, min-max on
        their remaining bits at the estimated channel; False when nothing was re-split."""
        now = self.env.now
        active = [i for i, st in enumerate(self.state) if st == UPLOADING]
        if not self.reallocate_on or not active or now >= self.deadline:
            return False
        for i in active:
            self._settle(i)
        # uploads with under one bit left finish at this instant anyway: they keep their band
        active = [i for i in active if self.uploads[i].bits - self.uploads[i].sent >= 1.0]
        if not active:
            return False
        idx = np.array(active)
        pool = float(self.bw[idx].sum()) + self.free_hz
        left = np.array([self.uploads[i].bits - self.uploads[i].sent for i in active])
        x = self.estimate(idx, now)
        new_bw, remaining_s = minmax_split(left, np.zeros(len(idx)), x, pool, self.efficiency)
        before = self.bw[idx].copy()
        self.bw[idx] = new_bw
        assigned = float(self.bw.sum())
        self.peak_assigned_hz = max(self.peak_assigned_hz, assigned)
        if assigned > self.total_hz * (1 + 1e-9):
            raise RuntimeError(f"reallocation assigned {assigned} Hz of {self.total_hz} Hz")
        self.reallocations += 1
        for j, i in enumerate(active):
            span = remaining_s if np.isfinite(remaining_s) and remaining_s > 0 else None
            self.uploads[i].ref_rate = left[j] / span if span else 0.0
            self._schedule(i)
        self.emit(
            now,
            "reallocation",
            self.round,
            int(self.clients[trigger]),
            reason=reason,
            clients=[int(self.clients[i]) for i in active],
            before_share=before / self.total_hz,
            after_share=new_bw / self.total_hz,
            remaining_bits=left,
            pool_hz=pool,
            assigned_hz=assigned,
            predicted_remaining_s=remaining_s,
        )
        return True

    def summary(self) -> dict[str, Any]:
        """Per-round figures for the round table."""
        return dict(reallocations=self.reallocations, peak_assigned_hz=self.peak_assigned_hz)
