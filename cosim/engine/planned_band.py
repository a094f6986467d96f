"""Sync and first-k rounds over several cells: the cells' bands on CellBand's one clock, with
the shares the allocator planned at the round's start held as planned and re-split within
each cell by the round's reallocation policy, as cosim/engine/uplink.py does in one cell.

A round's client holds its planned share from the round's start: reserved while it downloads
and trains, its band once it uploads. A client that drops out (cannot finish training, its
update is rejected) or whose upload ends frees its share; with reallocation on, the band its
cell's uploads hold plus what is free there is re-split among them by the min-max rule for
their remaining bits at the server's SINR estimate (`reallocation` event with the `cell`; a
split that would change no share is not made), and an upload whose bits fall behind its plan
by more than allocation.realloc_threshold (checked at the band's wakes, at least
allocation.realloc_min_s after its plan was set; once per plan) calls for the same. A
handover (of a client training or uploading) takes its share into the target cell; where the
target's shares (reserved and on air) then exceed its band, all of them are scaled down by
one factor to fill it exactly (`reallocation`, reason "handover in", with the factor: the
plan gave the band away, so every holder gives up the same part), and the source's freed
share is re-split by the policy ("handover out"). Under first-k the band closes at the k-th
delivery."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from channels.handover import Handover
from cosim.engine.cell_band import CellBand, CellsOptions, Connection
from cosim.engine.jobs import Seats
from cosim.engine.plan import RoundWindow
from cosim.engine.shared_band import BandOptions, Member
from cosim.engine.uplink import SplitPolicy, UplinkRadio
from cosim.outputs.events import EventLog, Kind
from fl import Allocator, minmax_split


@dataclass
class _Aim:
    """An upload's plan: its rate [bit/s] since ``t`` [s], when it had sent ``sent`` [bit];
    ``called``: it fell behind and called for a re-split once (as the one cell's uplink,
    once per plan)."""

    rate: float
    t: float
    sent: float
    called: bool = False


class PlannedCellBand(CellBand):
    """One sync/first-k round's bands over several cells, holding the planned shares."""

    def __init__(
        self,
        env: simpy.Environment,
        options: BandOptions,
        cells: CellsOptions,
        radio: UplinkRadio,
        allocator: Allocator,
        log: EventLog,
        policy: SplitPolicy,
        quorum: int = 0,
    ) -> None:
        super().__init__(env, options, cells, radio, allocator, log)
        self.policy, self.quorum, self.arrivals = policy, quorum, 0
        self.quorum_reached = env.event()
        self.reserved: dict[int, float] = {}  # job -> its planned share [Hz], before it uploads
        self.aims: dict[int, _Aim] = {}  # job -> its plan, while it uploads

    # ------------------------------------------------------------------ jobs' side
    def reserve(self, job: int, share_hz: float) -> None:
        """Job ``job`` holds ``share_hz`` of its cell's band from now until it uploads."""
        self.reserved[job] = float(share_hz)

    def aim(self, job: int, rate_bps: float) -> None:
        """Job ``job``'s upload, joining now, plans to send at ``rate_bps`` (0: no plan)."""
        self.aims[job] = _Aim(rate_bps, self.env.now, 0.0)

    def release(self, job: int, reason: str) -> None:
        """Job ``job`` will not upload: its reserved share is freed (and re-split)."""
        self._settle()
        self.reserved.pop(job, None)
        st = self.state[job]
        if self._replan(f"dropout ({reason})", st.round, st.client, st.cell):
            self._retime()

    def close(self) -> None:
        """The round is over: nothing more on air (the cells hear no one from now), no more
        wakes or re-splits."""
        self._measure(np.zeros(self.cells))
        self.closed = True

    def held_hz(self, job: int) -> float:
        """The band job ``job`` holds now: its share reserved or on air."""
        return self.reserved.get(job, super().held_hz(job))

    def leave(self, job: int) -> tuple[float, float]:
        """Job ``job`` is stopped (first-k's quorum, run.max_time_s): (bits delivered, band
        [Hz] it held, reserved or on air)."""
        if job in self.reserved:
            return 0.0, self.reserved.pop(job)
        return super().leave(job)

    # ------------------------------------------------------------------ shares
    def _resplit(self, reason: str, trigger: Member) -> None:
        """An upload joins with its planned share (free band in its cell is re-split); an
        upload delivered frees its share (or, first-k, closes the band at the k-th); a missed
        deadline (the round's end) or a stop re-splits nothing."""
        st = self.state[trigger.job]
        if reason == "upload started":
            self.air.bw[trigger.slot] = self.reserved.pop(trigger.job)
            if self._free_hz(st.cell) > 1e-9 * self.total_hz:
                self._replan("freed band", st.round, st.client, st.cell)
        elif reason == "upload finished":
            self.aims.pop(trigger.job, None)
            self.arrivals += 1
            if self.quorum and self.arrivals >= self.quorum:
                self.closed = True  # the round has its updates: nothing more to split
                self.quorum_reached.succeed(self.env.now)
                return
            self._replan("upload finished", st.round, st.client, st.cell)

    def _waiting_in(self, cell: int) -> list[int]:
        """The jobs served by ``cell`` holding a reserved share."""
        return [job for job in self.reserved if self.state[job].cell == cell]

    def _held_hz(self, cell: int, slots: np.ndarray | None = None) -> float:
        """``cell``'s band held, reserved or on air (more than the band after a handover in,
        until it is fitted); ``slots``: its uploads' (``_in_cell``), when known."""
        held = float(self.air.bw[self._in_cell(cell) if slots is None else slots].sum())
        return held + sum(self.reserved[j] for j in self._waiting_in(cell))

    def _free_hz(self, cell: int, slots: np.ndarray | None = None) -> float:
        """``cell``'s band held by nobody (neither reserved nor on air)."""
        return max(self.total_hz - self._held_hz(cell, slots), 0.0)

    def _replan(self, reason: str, round_: int, client: int, cell: int) -> bool:
        """With reallocation on, ``cell``'s uploads' band plus its free band among them,
        min-max on their remaining bits at the server's SINR estimate; False when nothing
        was re-split (off, closed, nobody uploading, the deadline passed, or no share would
        change: that is neither counted nor logged)."""
        now, air = self.env.now, self.air
        mine = self._in_cell(cell)
        if not self.policy.reallocate or self.closed or not len(mine):
            return False
        o = mine[(air.bits[mine] - air.sent[mine] >= 1.0) & (air.deadline[mine] > now)]
        if not len(o):  # under one bit left: those finish at this instant anyway
            return False
        free = self._free_hz(cell, mine)
        if len(o) == 1 and free <= 1e-9 * self.total_hz:
            return False  # a sole uploader and nothing free: its share is all it can have
        pool = float(air.bw[o].sum()) + free
        left = air.bits[o] - air.sent[o]
        x = self.link.snr_per_hz(self._estimate_db(o, now))
        after, remaining_s = minmax_split(left, np.zeros(len(o)), x, pool, self.efficiency)
        before = air.bw[o].copy()
        changed = np.abs(after - before) > 1e-9 * self.total_hz
        if free <= 1e-9 * self.total_hz and not changed.any():
            return False  # no share would change
        air.bw[o] = after
        span = remaining_s if np.isfinite(remaining_s) and remaining_s > 0 else 0.0
        for slot, bits in zip(o.tolist(), left, strict=True):
            job = self.by_slot[slot].job
            self.aims[job] = _Aim(bits / span if span else 0.0, now, float(air.sent[slot]))
        shares = (before, after, left)
        self._logged(
            reason, round_, client, cell, o, shares, pool, predicted_remaining_s=remaining_s
        )
        return True

    def _logged(
        self,
        reason: str,
        round_: int,
        client: int,
        cell: int,
        o: np.ndarray,
        shares: tuple[np.ndarray, np.ndarray, np.ndarray],
        pool: float,
        **more: float,
    ) -> None:
        """A `reallocation` event of ``cell`` (shares = before [Hz], after [Hz], remaining
        bits, of the uploads in slots ``o``), counted."""
        before, after, left = shares
        self.reallocations += 1
        if self.o.share_lists:
            lists: dict = dict(
                clients=self.air.ids[o, 0],
                before_share=before / self.total_hz,
                after_share=after / self.total_hz,
                remaining_bits=left,
            )
        else:
            changed = np.abs(after - before) > 1e-9 * self.total_hz
            lists = dict(uploads=len(o), changed=int(changed.sum()))
        self.log.emit(
            self.env.now,
            Kind.REALLOCATION,
            round_,
            client,
            reason=reason,
            **lists,
            pool_hz=pool,
            assigned_hz=float(after.sum()),
            **more,
            cell=cell,
        )

    # ------------------------------------------------------------------ handovers
    def _switch(self, job: int, st: Connection, ho: Handover, uploading: bool) -> None:
        """As CellBand's, and the job's share (reserved or on air) goes with it: the target
        cell's shares are scaled to fit its band when they no longer do."""
        super()._switch(job, st, ho, uploading)
        if self.cell_options.handover_share == "free":
            self._take_free(job, ho.target, st.round, st.client)
        else:
            self._fit(ho.target, st.round, st.client)

    def _hand_over(self, m: Member, st: Connection, ho: Handover) -> None:
        """``m``'s upload moves to ``ho.target`` with its share, and sends nothing until the
        interruption ends (its plan resumes then); its source re-splits the share it freed."""
        source = st.cell
        self._switch(m.job, st, ho, uploading=True)
        aim = self.aims.get(m.job)
        if aim is not None:
            aim.t, aim.sent = st.paused_until, float(self.air.sent[m.slot])
        self._replan("handover out", st.round, st.client, source)

    def _take_free(self, job: int, cell: int, round_: int, client: int) -> None:
        """cells.handover_share = "free": job ``job``, new in ``cell``, keeps at most what is
        free there besides its own share (a `reallocation` event "handover in" when it had to
        give some up; the rest can come by later re-splits)."""
        m = self.members.get(job)
        own = float(self.air.bw[m.slot]) if m is not None else self.reserved[job]
        keep = min(own, max(self.total_hz - (self._held_hz(cell) - own), 0.0))
        if keep >= own * (1 - 1e-12):
            return
        if m is None:
            self.reserved[job] = keep
            o = np.zeros(0, dtype=np.int64)  # no upload's band changed
        else:
            self.air.bw[m.slot] = keep
            o = np.array([m.slot])
        shares = (np.full(len(o), own), np.full(len(o), keep), self.air.bits[o] - self.air.sent[o])
        more = dict(factor=keep / own if own > 0 else 1.0, reserved=int(m is None))
        self._logged("handover in", round_, client, cell, o, shares, own, **more)

    def _fit(self, cell: int, round_: int, client: int) -> None:
        """When ``cell``'s reserved and on-air shares exceed its band, all scaled by one
        factor to fill it (a `reallocation` event "handover in" with the ``factor`` and the
        number of ``reserved`` shares scaled besides the uploads listed; the uploads'
        planned rates scaled alike, from now)."""
        o, waiting = self._in_cell(cell), self._waiting_in(cell)
        held = self._held_hz(cell, o)
        if held <= self.total_hz * (1 + 1e-9):
            return
        factor = self.total_hz / held
        before = self.air.bw[o].copy()
        self.air.bw[o] = before * factor
        for job in waiting:
            self.reserved[job] *= factor
        now = self.env.now
        for slot in o.tolist():  # their plans scaled alike, from now
            job = self.by_slot[slot].job
            if job in self.aims:
                rate = self.aims[job].rate * factor
                self.aims[job] = _Aim(rate, now, float(self.air.sent[slot]))
        left = self.air.bits[o] - self.air.sent[o]
        shares = (before, self.air.bw[o], left)
        more = dict(factor=factor, reserved=len(waiting))
        self._logged("handover in", round_, client, cell, o, shares, held, **more)

    # ------------------------------------------------------------------ behind plan
    def _wake(self, gen: int) -> None:
        """As CellBand's, after the uploads behind their plan called for a re-split of their
        cells (allocation.reallocate on; each once per plan, as the one cell's uplink)."""
        if gen == self._gen and not self.closed and self.policy.reallocate:
            self._settle()
            for cell, (round_, client) in self._behind().items():
                self._replan("behind plan", round_, client, cell)
        super()._wake(gen)

    def _behind(self) -> dict[int, tuple[int, int]]:
        """The cells with an upload behind its plan now, each with the first such upload's
        (round, client): it has had its plan for allocation.realloc_min_s at least, and has
        sent under (1 − allocation.realloc_threshold) of its planned rate since."""
        now, p, out = self.env.now, self.policy, {}
        for slot in self.air.order.tolist():
            m = self.by_slot[slot]
            aim = self.aims.get(m.job)
            if aim is None or aim.called or aim.rate <= 0 or now < aim.t + p.min_interval_s:
                continue
            if self.air.bits[slot] - self.air.sent[slot] < 1.0 or now >= m.deadline:
                continue
            sent = float(self.air.sent[slot]) - aim.sent
            if sent < (1.0 - p.threshold) * aim.rate * (now - aim.t):
                aim.called = True
                st = self.state[m.job]
                out.setdefault(st.cell, (st.round, st.client))
        return out


class CellSeats(Seats):
    """A sync/first-k round's rows on the planned band, as a ClientProcess sees its round's
    uplink: each row a job (its index), holding its planned share from the round's start."""

    def __init__(self, band: PlannedCellBand, window: RoundWindow, bandwidth_hz: np.ndarray):
        super().__init__(band, window, list(range(len(window.clients))))
        self.planned: PlannedCellBand = band
        for job, share in enumerate(np.asarray(bandwidth_hz, dtype=float).tolist()):
            band.reserve(job, share)

    @property
    def quorum(self) -> int:
        """first-k's k (0: every update is waited for)."""
        return self.planned.quorum

    @property
    def quorum_reached(self) -> simpy.Event:
        """Fires at the k-th delivery."""
        return self.planned.quorum_reached

    @property
    def reallocations(self) -> int:
        """Re-splits that changed a share, this round."""
        return self.planned.reallocations

    def drop(self, i: int, reason: str) -> None:
        """Row i will not upload: its reserved share is freed."""
        self.planned.release(self.jobs[i], reason)

    def start(self, i: int, bits: float, predicted_s: float) -> simpy.Event:
        """Row i's upload joins its cell's band now with its planned share."""
        ok = predicted_s > 0 and np.isfinite(predicted_s)
        self.planned.aim(self.jobs[i], bits / predicted_s if ok else 0.0)
        return super().start(i, bits, predicted_s)
