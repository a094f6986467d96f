"""Several cells' bands on the shared band's one clock: each upload is served by one cell at a
time, holds a piece of that cell's band, and is heard by the other cells as interference.

The same clock as SharedBand (a wake at the next step, a delivery, a deadline — and now a
handover or the end of an interruption); what changes is three things. (1) A re-split is per
cell: an upload's start, end or handover re-splits its cell's band (each cell has the full
band, frequency reuse 1) with the allocator's ``split_in_flight``; `reallocation` events carry
the `cell`. (2) Rates are SINR-based (channels.interference): at every wake the pieces are laid
out per cell in joining order from the band's lower edge, each upload sends at open-loop power
over its piece, and its rate is exact over the interference segments of its piece; the serving
link's gain includes its fading, a link to another cell its large-scale gain only (fading
averages out over a piece), and cells beyond the upload's kept ones (its strongest sites) are
not heard. (3) A handover of an upload on air (known in advance from A3 over its window)
moves it to the target cell's band at its instant — both cells re-split — and it sends
nothing until the interruption ends (`handover` event: from, to, RSRPs, interruption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from channels.handover import Handover
from channels.interference import Uplinks, open_loop_power_dbm, uplink_sinr
from cosim.engine.shared_band import BandOptions, Member, SharedBand
from cosim.engine.uplink import UplinkRadio
from cosim.outputs.events import EventLog, Kind
from fl import Allocator


@dataclass(frozen=True)
class CellLinks:
    """An upload's links over its job's window: the ``cells`` [M] kept (its strongest sites'
    cells), ``gain_db`` [n, M] the coupling gain to each per step of the window (the
    serving link's fading included where ``fading_db`` [n, M] is added), its ``serving`` cell
    at the window start and the A3 ``handovers`` in the window, in time order."""

    cells: np.ndarray
    gain_db: np.ndarray
    fading_db: np.ndarray
    serving: int
    handovers: tuple[Handover, ...] = ()


@dataclass(frozen=True)
class CellsOptions:
    """The cells: how many, the noise spectral density [dBm/Hz] at a cell, the uplink power
    control (P_max, P0 [dBm], α)."""

    count: int
    noise_dbm_hz: float
    p_max_dbm: float
    p0_dbm: float
    alpha: float


@dataclass
class _State:
    links: CellLinks
    cell: int
    paused_until: float = -math.inf
    next_ho: int = 0

    @property
    def coming(self) -> Handover | None:
        """The next handover of its window not yet made."""
        hos = self.links.handovers
        return hos[self.next_ho] if self.next_ho < len(hos) else None

    def serving_db(self, step: int, step0: int) -> tuple[int, float]:
        """(the window's column of global ``step``, the gain [dB] to the serving cell there,
        its fading included)."""
        lk = self.links
        col = min(max(step - step0, 0), len(lk.gain_db) - 1)
        k = int(np.flatnonzero(lk.cells == self.cell)[0])
        return col, float(lk.gain_db[col, k] + lk.fading_db[col, k])


class CellBand(SharedBand):
    """Every cell's band: who is on air where, with which piece, and when the next ends."""

    def __init__(
        self,
        env: simpy.Environment,
        options: BandOptions,
        cells: CellsOptions,
        radio: UplinkRadio,
        allocator: Allocator,
        log: EventLog,
    ) -> None:
        super().__init__(env, options, radio, allocator, log)
        self.cells = cells
        self.state: dict[int, _State] = {}  # job -> its cell and handovers
        self._gone: _State | None = None  # the state of the upload that just left
        self.links: dict[int, CellLinks] = {}  # job -> links (set before its upload joins)

    # ------------------------------------------------------------------ jobs' side
    def expect(self, job: int, links: CellLinks) -> None:
        """Job ``job``'s links over its window (before its upload joins)."""
        self.links[job] = links

    def join(self, member: Member) -> simpy.Event:
        """``member``'s upload starts now, at the cell serving it now (the handovers of its
        window up to now applied; still interrupted if the last one's interruption lasts)."""
        links = self.links.pop(member.job)
        now = self.env.now
        st = _State(links, links.serving)
        for ho in links.handovers:
            if ho.t > now:
                break
            st.cell, st.paused_until = ho.target, ho.t + ho.interrupt_s
            st.next_ho += 1
        self.state[member.job] = st
        return super().join(member)

    def _unseat(self, m: Member) -> None:
        super()._unseat(m)
        self._gone = self.state.pop(m.job)  # its cell, for the re-split that follows

    # ------------------------------------------------------------------ re-split
    def _resplit(self, reason: str, trigger: Member) -> None:
        """The band of the trigger's cell among that cell's uploads."""
        st = self.state.get(trigger.job) or self._gone
        if st is not None:
            self._split_cell(reason, trigger, st.cell)

    def _split_cell(self, reason: str, trigger: Member, cell: int) -> None:
        o = self.air.order
        mine = np.array([self.state[self.by_slot[int(s)].job].cell == cell for s in o], dtype=bool)
        self._split(reason, trigger, o[mine], self.total_hz, {"cell": cell})

    def _estimate_db(self, o: np.ndarray, now: float) -> np.ndarray:
        """The server's estimate of each upload's gain to the cell serving it now: the gain
        ``channel.csi_delay_s`` ago plus the upload's CSI error (after a handover, the new
        cell's gain: the server measures the link it serves)."""
        step = self._step_of(max(now - self.o.csi_delay_s, 0.0))
        out = np.empty(len(o))
        for i, slot in enumerate(o.tolist()):
            m = self.by_slot[slot]
            out[i] = self.state[m.job].serving_db(step, m.step0)[1] + m.csi.offset_db[m.row]
        return out

    # ------------------------------------------------------------------ the clock
    def _other_wake(self) -> float:
        """The next handover of an upload on air, or the end of an interruption."""
        now, t = self.env.now, math.inf
        for st in self.state.values():
            if st.coming is not None:
                t = min(t, st.coming.t)
            if st.paused_until > now:
                t = min(t, st.paused_until)
        return t

    def _wake(self, gen: int) -> None:
        """A handover due now moves its upload (one per wake, in joining order); otherwise
        the shared band's deliveries and deadlines."""
        if gen != self._gen or self.closed:
            return
        self._settle()
        now = self.env.now
        for slot in self.air.order.tolist():
            m = self.by_slot[slot]
            st = self.state[m.job]
            if st.coming is not None and st.coming.t <= now:
                self._hand_over(m, st, st.coming)
                self._retime()
                return
        super()._wake(gen)

    def _hand_over(self, m: Member, st: _State, ho: Handover) -> None:
        """``m``'s upload moves from its cell to ``ho.target``: both cells re-split, and it
        sends nothing until the interruption ends."""
        st.next_ho += 1
        source = st.cell
        st.cell, st.paused_until = ho.target, ho.t + ho.interrupt_s
        self.air.bw[m.slot] = 0.0
        self.log.emit(
            self.env.now,
            Kind.HANDOVER,
            m.round,
            m.client,
            source=source,
            target=ho.target,
            rsrp_source_dbm=ho.rsrp_source_dbm,
            rsrp_target_dbm=ho.rsrp_target_dbm,
            interrupt_s=ho.interrupt_s,
            job=m.job,
        )
        self._split_cell("handover out", m, source)
        self._split_cell("handover in", m, ho.target)

    def _rates(self, step: int) -> None:
        """Every upload's SINR rate over step ``step``: pieces per cell in joining order,
        open-loop power, the other cells' uploads as interference; nothing while
        interrupted."""
        air, now = self.air, self.env.now
        o = air.order
        if not len(o):
            return
        n, c = len(o), self.cells.count
        gain = np.full((n, c), -np.inf)
        serving = np.empty(n, dtype=np.int64)
        own_gain = np.empty(n)
        paused = np.zeros(n, dtype=bool)
        for i, slot in enumerate(o.tolist()):
            m = self.by_slot[slot]
            st = self.state[m.job]
            col, own_gain[i] = st.serving_db(step, m.step0)
            gain[i, st.links.cells] = st.links.gain_db[col]
            gain[i, st.cell] = own_gain[i]
            serving[i] = st.cell
            paused[i] = st.paused_until > now
        bw = air.bw[o]
        lo = np.zeros(n)
        for cell in np.unique(serving):  # pieces laid out per cell, in joining order
            at = serving == cell
            lo[at] = np.cumsum(bw[at]) - bw[at]
        power = open_loop_power_dbm(
            -own_gain, bw, self.cells.p_max_dbm, self.cells.p0_dbm, self.cells.alpha
        )
        power[paused] = -np.inf  # an interrupted upload sends nothing, and disturbs no one
        sinr = uplink_sinr(Uplinks(serving, lo, lo + bw, power, gain), self.cells.noise_dbm_hz)
        air.rate[o] = np.where(paused | (bw <= 0), 0.0, sinr.rate_bps)
