"""The cell's band under fedasync/fedbuff: uploads join and leave at their own instants, each on
its own job's channel window, and every arrival or departure re-splits the band among those on
air with the allocator's ``split_in_flight`` (a `reallocation` event; a split that changes no
share is none).

The band keeps one clock: between two wakes every upload's rate is constant (its band, and its
gain over the current step of channel.dt), so a wake comes at the earliest of the next step's
start, a delivery and a deadline, and each wake is one pass over the arrays of ``OnAir``. An
upload's delivery instant is exact: its remaining bits over its rate in the step where they run
out. The cost of a join, a departure or a step is linear in the uploads on air."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from cosim.engine.csi import CsiEstimator
from cosim.engine.instants import at
from cosim.engine.on_air import OnAir
from cosim.engine.plan import RoundWindow
from cosim.engine.uplink import UplinkRadio, UploadResult
from cosim.outputs.events import EventLog, Kind
from fl import Allocator, InFlightRequest


@dataclass
class Member:
    """One upload on air: its job, client and batch round, true gain over its job's window
    [n] dB (from global step ``step0``), the server's CSI of its batch (row ``row``), its
    deadline [s] and payload [bit]; ``slot`` in the band's arrays while on air."""

    job: int
    client: int
    round: int
    gain_db: np.ndarray
    step0: int
    csi: CsiEstimator
    row: int
    deadline: float
    bits: float
    slot: int = -1


@dataclass(frozen=True)
class BandOptions:
    """The band's settings: total [Hz], the grid step channel.dt [s], the CSI's staleness
    channel.csi_delay_s [s], and whether `reallocation` events list every upload's share
    (output.share_lists)."""

    total_hz: float
    dt: float
    csi_delay_s: float
    share_lists: bool = True


class SharedBand:
    """Who is on air, with which band, and when the next of them ends."""

    def __init__(
        self,
        env: simpy.Environment,
        options: BandOptions,
        radio: UplinkRadio,
        allocator: Allocator,
        log: EventLog,
    ) -> None:
        self.env, self.o = env, options
        self.total_hz, self.dt = options.total_hz, options.dt
        self.link, self.rate_model, self.efficiency = radio.link, radio.rate, radio.efficiency
        self.allocator, self.log = allocator, log
        self.air = OnAir(options.dt)
        self.members: dict[int, Member] = {}  # job -> member, in the order they joined
        self.by_slot: dict[int, Member] = {}
        self.done: dict[int, simpy.Event] = {}
        self.t_last = 0.0  # the instant the arrays' bits sent hold for
        self.timer: simpy.Event | None = None  # the next wake
        self._gen = 0  # the current wake's number (older wakes are superseded)
        self.reallocations = 0  # re-splits that changed a share (all run long)
        self.closed = False  # the run is over: uploads are stopped, the band not re-split

    # ------------------------------------------------------------------ jobs' side
    def join(self, member: Member) -> simpy.Event:
        """``member`` starts its upload now; the event's value is an UploadResult."""
        self._settle()
        self._seat(member)
        self.done[member.job] = self.env.event()
        self._resplit("upload started", member)
        self._retime()
        return self.done[member.job]

    def leave(self, job: int) -> tuple[float, float]:
        """Job ``job`` is stopped (the run ended): (bits it delivered, band [Hz] it held)."""
        m = self.members.get(job)
        if m is None:
            return 0.0, 0.0
        self._settle()
        held, sent = float(self.air.bw[m.slot]), self._sent(m)
        self._unseat(m)
        self.done.pop(job)
        if not self.closed:
            self._resplit("upload stopped", m)
            self._retime()
        return sent, held

    # ------------------------------------------------------------------ several cells' hooks
    cells = 1  # bands the uploads share (CellBand: one per cell)

    def connect(self, window: RoundWindow, jobs: list[int]) -> None:
        """A batch's ``jobs`` (window rows in order) are connected from now: nothing to do
        for one cell (CellBand: their links and handovers)."""

    def connected(self) -> None:
        """Jobs were connected: nothing to do for one cell (CellBand: wake for handovers)."""

    def plan_penalty_db(self, window: RoundWindow) -> np.ndarray | None:
        """What a plan subtracts from the CSI gains for interference: nothing in one cell
        (CellBand: 10·log10(1 + I/N) of each client's cell)."""
        return None

    def finish(self, job: int) -> dict[str, int]:
        """Job ``job`` ended: more clients.csv columns of its row (CellBand: its cell and
        handovers); none for one cell."""
        return {}

    def held_hz(self, job: int) -> float:
        """The band job ``job`` holds now (0 when not on air)."""
        m = self.members.get(job)
        return float(self.air.bw[m.slot]) if m is not None else 0.0

    def _seat(self, m: Member) -> None:
        csi = m.csi
        m.slot = self.air.add(
            m.bits,
            m.deadline,
            m.gain_db,
            m.step0,
            csi.gain_db[m.row] + csi.offset_db[m.row],
            csi.grid.t0,
            (m.client, m.job, m.round),
        )
        self.members[m.job] = self.by_slot[m.slot] = m

    def _unseat(self, m: Member) -> None:
        self.air.remove(m.slot)
        del self.members[m.job], self.by_slot[m.slot]

    def _sent(self, m: Member) -> float:
        return float(self.air.sent[m.slot])

    # ------------------------------------------------------------------ the clock
    def _settle(self) -> None:
        """Every upload's bits since the last wake, at the rates it held; the arrays hold for
        now from here."""
        now = self.env.now
        self.air.settle(now - self.t_last)
        self.t_last = now

    def _step_of(self, t: float) -> int:
        """The global step k of channel.dt with k·dt <= t < (k+1)·dt."""
        k = math.floor(t / self.dt)
        while (k + 1) * self.dt <= t:
            k += 1
        while k * self.dt > t:
            k -= 1
        return k

    def _retime(self) -> None:
        """Rates over the current step at the bands held, and the next wake: the earliest of
        the next step's start, a delivery and a deadline."""
        self._gen += 1
        self.timer = None
        o = self.air.order
        if self.closed:
            return
        now = self.env.now
        if not len(o):  # nothing on air: a wake only for what else is due (handovers)
            t = self._other_wake()
            if t < math.inf:
                self.arm(at(self.env, max(t, now)))
            return
        step = self._step_of(now)
        self._rates(step)
        fin = self.air.finish_times(now)
        wake = min((step + 1) * self.dt, float(fin.min()), float(self.air.deadline[o].min()))
        self.arm(at(self.env, max(min(wake, self._other_wake()), now)))

    def _estimate_db(self, o: np.ndarray, now: float) -> np.ndarray:
        """The server's gain estimate [len(o)] dB of the uploads in slots ``o`` at ``now``."""
        return self.air.estimate_db(o, now, self.o.csi_delay_s)

    def _rates(self, step: int) -> None:
        """Every upload's rate over global step ``step`` (a cell: b·η(SNR(b)))."""
        self.air.rates(step, self.link, self.rate_model)

    def _other_wake(self) -> float:
        """Another instant the band must wake at (none here; several cells: handovers)."""
        return math.inf

    def arm(self, wake: simpy.Event) -> None:
        """The band wakes at ``wake`` (a callback, not a process: one event per wake); also
        how a restored band's pending wake is re-armed."""
        gen = self._gen
        wake.callbacks.append(lambda _: self._wake(gen))
        self.timer = wake

    def _wake(self, gen: int) -> None:
        """Uploads due now are delivered (their bits run out) or miss their deadline; the
        first of them (in joining order) ends and re-splits the band, the others end at
        further wakes at this same instant (after the first one's job has gone on); then the
        rates of the step now, and the next wake."""
        if gen != self._gen or self.closed:
            return  # superseded by a join or a departure, or the run is over
        self._settle()
        now, air = self.env.now, self.air
        o = air.order
        delivered = air.t_fin[o] <= now
        # delivered now, whenever each one's turn to end comes
        air.sent[o[delivered]] = air.bits[o[delivered]]
        due = o[delivered | (air.deadline[o] <= now)]
        if len(due):
            m = self.by_slot[int(due[0])]
            done = bool(air.t_fin[m.slot] <= now)
            sent = self._sent(m)
            self._unseat(m)
            self.done.pop(m.job).succeed(UploadResult(done, now, sent))
            self._resplit("upload finished" if done else "deadline", m)
        self._retime()

    # ------------------------------------------------------------------ re-split
    def _resplit(self, reason: str, trigger: Member) -> None:
        """The band among the uploads on air, by the allocator's ``split_in_flight``; a
        `reallocation` event when a share changed (the arrays are settled to now)."""
        self._split(reason, trigger, self.air.order, self.total_hz)

    def _split(
        self,
        reason: str,
        trigger: Member,
        o: np.ndarray,
        total_hz: float,
        extra: dict | None = None,
    ) -> None:
        """``total_hz`` among the uploads in slots ``o`` (``extra``: more event fields)."""
        now, air = self.env.now, self.air
        if not len(o) or self.closed:
            return
        before = air.bw[o].copy()
        left = air.bits[o] - air.sent[o]
        request = InFlightRequest(
            clients=air.ids[o, 0].copy(),
            remaining_bits=left,
            snr_per_hz=self.link.snr_per_hz(self._estimate_db(o, now)),
            time_left_s=air.deadline[o] - now,
            total_bandwidth_hz=total_hz,
            efficiency=self.efficiency,
        )
        after = np.asarray(self.allocator.split_in_flight(request), dtype=float)
        self._check(after, len(o), total_hz)
        changed = np.abs(after - before) > 1e-9 * total_hz
        if not changed.any():
            return  # no share changes: the uploads go on as they were
        air.bw[o] = after
        self.reallocations += 1
        lists: dict = dict(uploads=len(o), changed=int(changed.sum()))
        if self.o.share_lists:
            ids = air.ids[o]
            lists = dict(
                clients=ids[:, 0],
                jobs=ids[:, 1],
                rounds=ids[:, 2],
                before_share=before / total_hz,
                after_share=after / total_hz,
                remaining_bits=left,
            )
        self.log.emit(
            now,
            Kind.REALLOCATION,
            trigger.round,
            trigger.client,
            reason=reason,
            call="in_flight",
            allocator=self.allocator.name,
            **lists,
            pool_hz=total_hz,
            assigned_hz=float(after.sum()),
            **(extra or {}),
        )

    def _check(self, bw: np.ndarray, n: int, total_hz: float) -> None:
        """The allocator's split: n finite, non-negative bands summing to at most the total."""
        name = self.allocator.name
        if bw.shape != (n,) or not np.all(np.isfinite(bw)) or np.any(bw < 0):
            raise RuntimeError(
                f"allocator {name!r}: split_in_flight gave {bw.tolist()[:8]}; it must give "
                f"{n} finite bands >= 0"
            )
        if bw.sum() > total_hz * (1 + 1e-9):
            raise RuntimeError(f"allocator {name!r} assigned {bw.sum()} Hz of {total_hz} Hz")

    # ------------------------------------------------------------------ checkpoints
    def snapshot(self) -> dict:
        """The band as plain data: per upload on air (in joining order) its job and progress,
        the instant the progress holds for; its pending wake is read by the caller."""
        air = self.air
        ups = [
            dict(
                job=m.job,
                bits=m.bits,
                sent=float(air.sent[m.slot]),
                bw=float(air.bw[m.slot]),
                rate=float(air.rate[m.slot]),
                t_fin=float(air.t_fin[m.slot]),
            )
            for m in self.members.values()
        ]
        return dict(uploads=ups, t_last=self.t_last, reallocations=self.reallocations)

    def restore(self, data: dict, members: list[Member]) -> None:
        """``snapshot``'s data poured back, ``members`` rebuilt in the same order (the wake
        is re-armed by the caller with ``arm``)."""
        self.t_last, self.reallocations = float(data["t_last"]), int(data["reallocations"])
        for m, d in zip(members, data["uploads"], strict=True):
            self._seat(m)
            self.done[m.job] = self.env.event()
            s = m.slot
            self.air.sent[s], self.air.bw[s] = d["sent"], d["bw"]
            self.air.rate[s], self.air.t_fin[s] = d["rate"], d["t_fin"]
