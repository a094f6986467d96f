"""One round's shared uplink band in simulated time: uploads, and reallocation of held band.

Every scheduled client holds the bandwidth its allocation gave it. A client that drops out
(cannot finish training, or its update is rejected) or finishes its upload frees its band; an
uploading client whose realised rate falls behind its plan by more than a threshold calls for
help. Then, if reallocation is on, the band held by the clients still uploading plus the band
freed so far is re-split among the uploading clients by the min-max rule for their *remaining*
bits, at the server's current (stale, noisy) estimate of their channels (`reallocation` event
with shares before and after; a split that would change no share is not made). Clients still
training keep their planned share. Each upload is played out segment by segment on the round's
rate trace: a reallocation ends a segment. Under first-k the band closes at the k-th delivery:
nothing more is delivered or re-split, and the round stops the others (``stop``).

With channel.frequency_selective, a client's band is a contiguous piece of the cell's band:
the pieces of the clients holding band are laid out in row order (scheduled clients by index)
from the band's lower edge at the allocation and again at every re-split (in between they
stay, and a released piece leaves a gap); the rate is the mean of b·η(SNR(f)) over
channel.subbands points of the piece (the midpoints of equal parts of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from channels import LinkBudget, RateModel, delivery_time
from cosim.engine.csi import CsiEstimator
from cosim.engine.grid import RoundGrid
from cosim.outputs.events import EventLog, Kind
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


@dataclass(frozen=True)
class SplitPolicy:
    """When band is re-split inside a round (the scenario's allocation section): on/off, the
    share of its bits an upload may fall behind plan, the least time between its checks; and
    whether `reallocation` events list every upload's share (output.share_lists)."""

    reallocate: bool
    threshold: float
    min_interval_s: float
    share_lists: bool = True


@dataclass(frozen=True)
class BandResponse:
    """A round's channel over frequency (channel.frequency_selective): ``subbands`` points per
    piece, the flat large-scale gain ``large_db`` [K, n] dB (−path loss − shadowing −
    penetration) and ``gains(rows, freqs_hz [k, F]) -> [k, n, F]``, the small-scale power gain
    of those rows at offsets from the carrier (Hz)."""

    subbands: int
    large_db: np.ndarray
    gains: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class UplinkRadio:
    """The link the uploads run on: budget (SNR from gain and band), rate model (bit/s/Hz at
    an SNR in dB) and the allocators' efficiency (at a linear SNR) for re-splits."""

    link: LinkBudget
    rate: RateModel
    efficiency: Callable[[np.ndarray], np.ndarray]


class Uplink:
    """The band of one round: tracks who holds what and plays uploads out on the trace."""

    def __init__(
        self,
        env: simpy.Environment,
        round_: int,
        clients: np.ndarray,
        grid: RoundGrid,
        gain_db: np.ndarray,
        csi: CsiEstimator,
        deadline: float,
        bandwidth_hz: np.ndarray,
        total_hz: float,
        radio: UplinkRadio,
        policy: SplitPolicy,
        log: EventLog,
        band: BandResponse | None = None,
        quorum: int = 0,
    ) -> None:
        """Round ``round_``'s band for ``clients`` [K] over ``grid`` with true gains
        ``gain_db`` [K, n] (dB) and the server's estimate ``csi``; ``bandwidth_hz`` [K] as
        allocated, of ``total_hz``; uploads end by ``deadline`` [s]. With ``quorum`` k > 0
        (first-k), the band closes at the k-th delivery: ``quorum_reached`` fires then, and
        nothing more is delivered or re-split."""
        self.env, self.round = env, round_
        self.grid, self.gain_db, self.deadline = grid, gain_db, deadline
        self.grid_t0, self.dt = grid.t0, grid.dt
        self.bw = np.asarray(bandwidth_hz, dtype=float).copy()
        self.total_hz = total_hz
        self.link, self.rate, self.efficiency = radio.link, radio.rate, radio.efficiency
        self.estimate = csi.snr_per_hz
        self.emit = log.emit
        self.clients = clients
        self.reallocate_on = policy.reallocate
        self.threshold, self.min_interval_s = policy.threshold, policy.min_interval_s
        self.share_lists = policy.share_lists
        n = len(self.bw)
        self.state = [WAITING] * n
        self.version = [0] * n  # bumped by every new segment: older timers are stale
        self.uploads: dict[int, _Upload] = {}
        self.reallocations = 0
        self.peak_assigned_hz = float(self.bw.sum())
        self.band = band
        self.lo = np.cumsum(self.bw) - self.bw  # lower edge of each piece [Hz from band edge]
        self._eta: dict[int, tuple[float, float, np.ndarray]] = {}  # row -> (lo, bw, η [n])
        self.quorum, self.arrivals, self.closed = quorum, 0, False
        self.quorum_reached = env.event()

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
        self._schedule([i])
        return self.uploads[i].done

    def stop(self, i: int) -> tuple[float, float]:
        """The round is over for client ``i`` (first-k took its updates, or run.max_time_s
        came): (bits it delivered so far, band [Hz] it held, now freed)."""
        sent = 0.0
        if self.state[i] == UPLOADING:
            self._settle([i])
            sent = self.uploads[i].sent
        held = float(self.bw[i])
        self.state[i], self.bw[i] = DONE, 0.0
        self.version[i] += 1
        return sent, held

    @property
    def free_hz(self) -> float:
        """Band held by nobody (freed by dropouts and finished uploads)."""
        return max(self.total_hz - float(self.bw.sum()), 0.0)

    # ------------------------------------------------------------------ segments
    def _first(self, seg_t: np.ndarray) -> int:
        """A window column at or before the step holding the earliest of ``seg_t``: the
        columns before it carry no bits of these segments, so traces may start there."""
        return max(self.grid.column(float(np.min(seg_t))) - 1, 0)

    def _efficiency_rows(
        self, rows: np.ndarray, first: int = 0, last: int | None = None
    ) -> np.ndarray:
        """Spectral efficiency traces [K, last − first] (bit/s/Hz; ``last`` None: to the
        window's end) of ``rows`` from window column ``first`` over the band each holds now:
        η(SNR) at the carrier, or the mean of η(SNR(f)) over its piece's subbands."""
        bw = np.maximum(self.bw[rows], 1e-9)
        if self.band is None:
            g = self.gain_db[rows, first:last]
            return self.rate.efficiency(self.link.snr_db(g, bw[:, None]))
        fresh = [
            j
            for j, i in enumerate(rows)
            if self._eta.get(int(i), (None, None))[:2] != (self.lo[i], self.bw[i])
        ]
        if fresh:
            r = rows[fresh]
            m = self.band.subbands
            centre = (np.arange(m) + 0.5) / m
            freqs = self.lo[r][:, None] + centre[None, :] * bw[fresh][:, None] - self.total_hz / 2
            with np.errstate(divide="ignore"):
                g_db = self.band.large_db[r][..., None] + 10.0 * np.log10(self.band.gains(r, freqs))
            eta = self.rate.efficiency(self.link.snr_db(g_db, bw[fresh][:, None, None]))
            for i, e in zip(r, eta.mean(axis=-1), strict=True):
                self._eta[int(i)] = (float(self.lo[i]), float(self.bw[i]), e)
        return np.stack([self._eta[int(i)][2][first:last] for i in rows])

    def _settle(self, rows: list[int], sent: np.ndarray | None = None) -> None:
        """Book the bits of the current segments up to now (``sent``: ``_sent_by_now(rows)``
        when already known); new segments start now."""
        sent = self._sent_by_now(rows) if sent is None else sent
        now = self.env.now
        for i, bits in zip(rows, sent.tolist(), strict=True):
            self.uploads[i].sent, self.uploads[i].seg_t = bits, now

    def _sent_by_now(self, rows: list[int]) -> np.ndarray:
        """Bits [len(rows)] each upload will have sent by now (one batched call), without
        booking them: the current segments go on. The traces stop a step past now (the steps
        after it send nothing: the same sums)."""
        now = self.env.now
        sent = np.array([self.uploads[i].sent for i in rows], dtype=float)
        moving = [j for j, i in enumerate(rows) if now > self.uploads[i].seg_t]
        if moving:
            r = np.array([rows[j] for j in moving])
            ups = [self.uploads[i] for i in r]
            seg_t = np.array([up.seg_t for up in ups])
            first = self._first(seg_t)
            last = min(self.grid.column(now) + 2, self.grid.n)
            got = delivery_time(
                np.array([up.bits - up.sent for up in ups]),
                self.bw[r][:, None] * self._efficiency_rows(r, first, last),
                self.grid_t0,
                self.dt,
                seg_t,
                now,
                first,
            ).delivered_bits
            for j, up, g in zip(moving, ups, got, strict=True):
                sent[j] = min(up.bits, up.sent + float(g))
        return sent

    def _schedule(self, rows: list[int]) -> None:
        """Timers for the current segments (one batched call): delivery (or the deadline) and,
        with reallocation on, the first step end where an upload falls behind its planned
        rate by the threshold."""
        r = np.array(rows)
        ups = [self.uploads[i] for i in rows]
        seg_t = np.array([up.seg_t for up in ups])
        first = self._first(seg_t)
        eta = self._efficiency_rows(r, first)
        out = delivery_time(
            np.array([up.bits - up.sent for up in ups]),
            self.bw[r][:, None] * eta,
            self.grid_t0,
            self.dt,
            seg_t,
            self.deadline,
            first,
        )
        behind = (
            self._behind_times(ups, seg_t, out.sent_by_step, out.t_end, first)
            if self.reallocate_on
            else [None] * len(rows)
        )
        timers: dict[float, list[tuple[float, int, int, str]]] = {}
        for j, (i, t_end) in enumerate(zip(rows, out.t_end.tolist(), strict=True)):
            self.version[i] += 1
            v = self.version[i]
            if t_end == t_end:  # delivered (not NaN)
                self._timer(timers, i, v, t_end, "end")
            else:
                self._timer(timers, i, v, self.deadline, "deadline")
            if behind[j] is not None:
                self._timer(timers, i, v, behind[j], "behind")
        for due in timers.values():
            wake = self.env.timeout(due[0][0])
            wake.callbacks.append(lambda _, due=due: self._fire_all(due))

    def _behind_times(
        self,
        ups: list[_Upload],
        seg_t: np.ndarray,
        sent: np.ndarray,
        t_end: np.ndarray,
        first: int,
    ) -> list[float | None]:
        """Per upload, the first step end t ≥ segment start + min interval (before delivery)
        where the bits sent in the segment fall below (1 − threshold) x planned rate x
        elapsed time; None when it never does (or has no plan). ``sent`` [K, n − first]:
        the segment's bits by each step's end from column ``first`` (to the deadline: the
        same as to delivery at every step end checked, all before it)."""
        ends = self.grid.step_ends[first:]
        limit = np.minimum(np.where(np.isnan(t_end), self.deadline, t_end), self.deadline)
        ref = np.array([up.ref_rate for up in ups])
        check = (
            (ends[None, :] >= seg_t[:, None] + self.min_interval_s)
            & (ends[None, :] < limit[:, None])
            & (ref[:, None] > 0)
        )
        if not check.any():
            return [None] * len(ups)
        elapsed = ends[None, :] - seg_t[:, None]
        behind = check & (sent < (1.0 - self.threshold) * ref[:, None] * elapsed)
        hit = ends[np.argmax(behind, axis=1)].tolist()
        return [t if b else None for t, b in zip(hit, behind.any(axis=1).tolist(), strict=True)]

    def _timer(self, timers: dict[float, list], i: int, version: int, t: float, kind: str) -> None:
        """Client ``i``'s segment ``version`` ends at ``t`` (its ``kind``: end, deadline or
        behind), added to ``timers``: one timeout per instant of a schedule call fires its
        ends in the order they were added — as one timeout each would, since nothing else
        is scheduled between them (a re-split re-times hundreds of uploads to the deadline:
        one event, not hundreds)."""
        delay = max(t - self.env.now, 0.0)
        timers.setdefault(self.env.now + delay, []).append((delay, i, version, kind))

    def _fire_all(self, due: list[tuple[float, int, int, str]]) -> None:
        for _, i, version, kind in due:
            self._fire(i, version, kind)

    def _fire(self, i: int, version: int, kind: str) -> None:
        if self.version[i] != version or self.state[i] != UPLOADING or self.closed:
            return  # superseded by a reallocation, or the quorum closed the band
        up = self.uploads[i]
        if kind == "behind":
            self._reallocate("behind plan", i)
            return
        self._settle([i])
        delivered = kind == "end"
        self.state[i] = DONE
        self.bw[i] = 0.0
        self.version[i] += 1
        up.done.succeed(UploadResult(delivered, self.env.now, up.bits if delivered else up.sent))
        if delivered:
            self.arrivals += 1
            if self.quorum and self.arrivals >= self.quorum:
                self.closed = True  # the round has its updates: nothing more to split
                self.quorum_reached.succeed(self.env.now)
                return
            self._reallocate("upload finished", i)

    # ------------------------------------------------------------------ reallocation
    def _reallocate(self, reason: str, trigger: int) -> bool:
        """Re-split the uploading clients' band plus the free band among them, min-max on
        their remaining bits at the estimated channel; False when nothing was re-split (off,
        nobody uploading, past the deadline, or a split that would change no share: that is
        neither counted nor logged, and the uploads keep their plans)."""
        now = self.env.now
        active = [i for i, st in enumerate(self.state) if st == UPLOADING]
        if not self.reallocate_on or not active or now >= self.deadline or self.closed:
            return False
        sent = self._sent_by_now(active)
        # uploads with under one bit left finish at this instant anyway: they keep their band
        keep = [j for j, i in enumerate(active) if self.uploads[i].bits - sent[j] >= 1.0]
        if not keep:
            self._settle(active, sent)
            return False
        idx = np.array([active[j] for j in keep])
        pool = float(self.bw[idx].sum()) + self.free_hz
        left = np.array([self.uploads[active[j]].bits - sent[j] for j in keep])
        x = self.estimate(idx, now)
        new_bw, remaining_s = minmax_split(left, np.zeros(len(idx)), x, pool, self.efficiency)
        before = self.bw[idx].copy()
        changed = np.abs(new_bw - before) > 1e-9 * self.total_hz
        if self.free_hz <= 1e-9 * self.total_hz and not changed.any():
            return False  # no share would change (a sole uploader behind plan): no re-split
        self._settle(active, sent)
        active = idx.tolist()
        self.bw[idx] = new_bw
        self.lo = np.cumsum(self.bw) - self.bw  # the pieces laid out again, in row order
        assigned = float(self.bw.sum())
        self.peak_assigned_hz = max(self.peak_assigned_hz, assigned)
        if assigned > self.total_hz * (1 + 1e-9):
            raise RuntimeError(f"reallocation assigned {assigned} Hz of {self.total_hz} Hz")
        self.reallocations += 1
        span = remaining_s if np.isfinite(remaining_s) and remaining_s > 0 else None
        rates = (left / span).tolist() if span else [0.0] * len(active)
        for i, rate in zip(active, rates, strict=True):
            self.uploads[i].ref_rate = rate
        self._schedule(active)
        if self.share_lists:
            lists: dict = dict(
                clients=self.clients[idx],
                before_share=before / self.total_hz,
                after_share=new_bw / self.total_hz,
                remaining_bits=left,
            )
        else:
            lists = dict(uploads=len(active), changed=int(changed.sum()))
        self.emit(
            now,
            Kind.REALLOCATION,
            self.round,
            int(self.clients[trigger]),
            reason=reason,
            **lists,
            pool_hz=pool,
            assigned_hz=assigned,
            predicted_remaining_s=remaining_s,
        )
        return True
