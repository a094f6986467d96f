"""The cell's band under fedasync/fedbuff: uploads join and leave at their own instants, each on
its own job's channel window, and every arrival or departure re-splits the band among those on
air with the allocator's ``split_in_flight`` (a `reallocation` event; a split that changes no
share is none). Uploads are played out segment by segment; a re-split ends a segment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from channels import UploadOutcome, delivery_time
from cosim.engine.csi import CsiEstimator
from cosim.engine.uplink import UplinkRadio, UploadResult
from cosim.outputs.events import EventLog, Kind
from fl import Allocator, InFlightRequest


@dataclass
class Member:
    """One upload on air: its job, client, true gain over its job's window [n] dB (from global
    step ``step0``), the server's CSI of it, its deadline [s], payload and progress."""

    job: int
    client: int
    round: int
    gain_db: np.ndarray
    step0: int
    csi: CsiEstimator
    row: int
    deadline: float
    bits: float
    sent: float
    seg_t: float
    bw: float = 0.0
    rate: np.ndarray | None = None  # [n] bit/s at bw over the window
    version: int = 0
    timer: simpy.Event | None = None  # the current segment's end
    timer_delivered: bool = False  # whether that end is a delivery (else the deadline)


class SharedBand:
    """Who is on air, with which band, and when each upload ends."""

    def __init__(
        self,
        env: simpy.Environment,
        total_hz: float,
        dt: float,
        radio: UplinkRadio,
        allocator: Allocator,
        log: EventLog,
    ) -> None:
        self.env, self.total_hz, self.dt = env, total_hz, dt
        self.link, self.rate_model, self.efficiency = radio.link, radio.rate, radio.efficiency
        self.allocator, self.log = allocator, log
        self.members: dict[int, Member] = {}
        self.done: dict[int, simpy.Event] = {}
        self.reallocations = 0  # re-splits that changed a share (all runs long)
        self.closed = False  # the run is over: uploads are stopped, the band not re-split

    # ------------------------------------------------------------------ jobs' side
    def join(self, member: Member) -> simpy.Event:
        """``member`` starts its upload now; the event's value is an UploadResult."""
        self.members[member.job] = member
        self.done[member.job] = self.env.event()
        self._resplit("upload started", member)
        return self.done[member.job]

    def leave(self, job: int) -> tuple[float, float]:
        """Job ``job`` is stopped (the run ended): (bits it delivered, band [Hz] it held)."""
        m = self.members.get(job)
        if m is None:
            return 0.0, 0.0
        self._settle([m])
        held = m.bw
        self._remove(job)
        self._resplit("upload stopped", m)
        return m.sent, held

    def held_hz(self, job: int) -> float:
        """The band job ``job`` holds now (0 when not on air)."""
        m = self.members.get(job)
        return m.bw if m is not None else 0.0

    # ------------------------------------------------------------------ segments
    def _aligned(self, ms: list[Member]) -> tuple[float, np.ndarray]:
        """The members' rate traces [M, W] bit/s on one stretch of the global grid (zero
        outside each member's window) and the stretch's start [s]."""
        lo = min(m.step0 for m in ms)
        hi = max(m.step0 + len(m.gain_db) for m in ms)
        rate = np.zeros((len(ms), hi - lo))
        for j, m in enumerate(ms):
            rate[j, m.step0 - lo : m.step0 - lo + len(m.gain_db)] = m.rate
        return lo * self.dt, rate

    def _deliver(self, ms: list[Member], limits: np.ndarray) -> UploadOutcome:
        """The members' remaining bits over their current segments, from each one's segment
        start to ``limits`` [len(ms)] s (one batched call)."""
        t0, rate = self._aligned(ms)
        return delivery_time(
            np.array([m.bits - m.sent for m in ms]),
            rate,
            t0,
            self.dt,
            np.array([m.seg_t for m in ms]),
            limits,
        )

    def _settle(self, ms: list[Member]) -> None:
        """Book each member's bits of its current segment up to now; a new segment starts."""
        now = self.env.now
        moving = [m for m in ms if now > m.seg_t and m.bw > 0]
        if moving:
            got = self._deliver(moving, np.full(len(moving), now)).delivered_bits
            for m, g in zip(moving, got, strict=True):
                m.sent = min(m.bits, m.sent + float(g))
        for m in ms:
            m.seg_t = now

    def _schedule(self, ms: list[Member]) -> None:
        """Timers for the members' new segments: delivery, or their deadline."""
        held = [m for m in ms if m.bw > 0]
        ends = np.full(len(held), np.nan)
        if held:
            ends = self._deliver(held, np.array([m.deadline for m in held])).t_end
        end_of = {m.job: float(t) for m, t in zip(held, ends, strict=True)}
        for m in ms:
            m.version += 1
            t = end_of.get(m.job, np.nan)
            delivered = not np.isnan(t)
            m.timer_delivered = delivered
            when = t if delivered else m.deadline
            m.timer = self._arm(m, self.env.timeout(max(when - self.env.now, 0.0)))

    def _arm(self, m: Member, wake: simpy.Event) -> simpy.Event:
        """Member ``m``'s current segment ends at ``wake`` (a callback, not a process: one
        event per segment)."""
        version, delivered = m.version, m.timer_delivered
        wake.callbacks.append(lambda _: self._fire(m, version, delivered))
        return wake

    def rejoin(self, m: Member, wake: simpy.Event) -> None:
        """A member restored from a checkpoint, its segment's end at ``wake``."""
        self.members[m.job] = m
        self.done[m.job] = self.env.event()
        m.timer = self._arm(m, wake)

    def _fire(self, m: Member, version: int, delivered: bool) -> None:
        """Member ``m``'s segment ended (delivered, or at its deadline), unless superseded."""
        if self.members.get(m.job) is not m or m.version != version:
            return  # superseded by a re-split, or stopped
        self._settle([m])
        if delivered:
            m.sent = m.bits
        self._remove(m.job).succeed(UploadResult(delivered, self.env.now, m.sent))
        self._resplit("upload finished" if delivered else "deadline", m)

    def _remove(self, job: int) -> simpy.Event:
        """Take job ``job`` off the air; its done event."""
        m = self.members.pop(job)
        m.bw, m.version = 0.0, m.version + 1
        return self.done.pop(job)

    # ------------------------------------------------------------------ re-split
    def _resplit(self, reason: str, trigger: Member) -> None:
        """The band among the members on air, by the allocator's ``split_in_flight``; a
        `reallocation` event when a share changed (the members' segments restart)."""
        now, ms = self.env.now, list(self.members.values())
        if not ms or self.closed:
            return
        self._settle(ms)
        before = np.array([m.bw for m in ms])
        left = np.array([m.bits - m.sent for m in ms])
        snr = self.link.snr_per_hz(np.array([m.csi.estimate_db(m.row, now) for m in ms]))
        request = InFlightRequest(
            clients=np.array([m.client for m in ms]),
            remaining_bits=left,
            snr_per_hz=snr,
            time_left_s=np.array([m.deadline - now for m in ms]),
            total_bandwidth_hz=self.total_hz,
            efficiency=self.efficiency,
        )
        after = np.asarray(self.allocator.split_in_flight(request), dtype=float)
        self._check(after, len(ms))
        if np.all(np.abs(after - before) <= 1e-9 * self.total_hz):
            return  # no share changes: the segments go on
        self._set_rates(ms, after)
        self.reallocations += 1
        self._schedule(ms)
        self.log.emit(
            now,
            Kind.REALLOCATION,
            trigger.round,
            trigger.client,
            reason=reason,
            call="in_flight",
            allocator=self.allocator.name,
            clients=[m.client for m in ms],
            jobs=[m.job for m in ms],
            rounds=[m.round for m in ms],
            before_share=before / self.total_hz,
            after_share=after / self.total_hz,
            remaining_bits=left,
            pool_hz=self.total_hz,
            assigned_hz=float(after.sum()),
        )

    def _set_rates(self, ms: list[Member], bw: np.ndarray) -> None:
        """Each member's band and its rate trace [n] bit/s over its window at that band, in
        one elementwise pass over all members' steps."""
        lengths = [len(m.gain_db) for m in ms]
        per_step = np.repeat(bw, lengths)
        snr_db = self.link.snr_db(
            np.concatenate([m.gain_db for m in ms]), np.maximum(per_step, 1e-9)
        )
        rates = np.split(per_step * self.rate_model.efficiency(snr_db), np.cumsum(lengths)[:-1])
        for m, b, rate in zip(ms, bw, rates, strict=True):
            m.bw, m.rate = float(b), rate

    def _check(self, bw: np.ndarray, n: int) -> None:
        """The allocator's split: n finite, non-negative bands summing to at most the total."""
        name = self.allocator.name
        if bw.shape != (n,) or not np.all(np.isfinite(bw)) or np.any(bw < 0):
            raise RuntimeError(
                f"allocator {name!r}: split_in_flight gave {bw.tolist()[:8]}; it must give "
                f"{n} finite bands >= 0"
            )
        if bw.sum() > self.total_hz * (1 + 1e-9):
            raise RuntimeError(f"allocator {name!r} assigned {bw.sum()} Hz of {self.total_hz} Hz")
