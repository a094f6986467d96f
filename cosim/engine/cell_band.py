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
nothing until the interruption ends (`handover` event: from, to, RSRPs, interruption). A job
is connected from its start (``expect``): its handovers while it trains are made and logged at
their instants by the same clock. Re-splits hand the allocator SINR estimates: each cell's
band-average interference is measured at every wake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from channels.handover import Handover
from channels.interference import Uplinks, open_loop_power_dbm, uplink_sinr
from channels.multicell import CellLinks
from cosim.engine.plan import RoundWindow
from cosim.engine.shared_band import BandOptions, Member, SharedBand
from cosim.engine.uplink import UplinkRadio
from cosim.outputs.events import EventLog, Kind
from fl import Allocator


@dataclass(frozen=True)
class CellsOptions:
    """The cells: how many, the noise spectral density [dBm/Hz] at a cell, the uplink power
    control (P_max, P0 [dBm], α)."""

    count: int
    noise_dbm_hz: float
    p_max_dbm: float
    p0_dbm: float
    alpha: float
    array_gain_db: float = 0.0  # MRC over the cell's receive antennas: the wanted signal's
    interference_window_s: float = 0.0  # plans: interference averaged over this long
    handover_share: str = "scale"  # sync/first-k: what a handover's share does in the new cell


@dataclass
class Connection:
    """A job connected to the cells: its links, serving cell, client and batch round, the
    end of its interruption, its next handover and the handovers made."""

    links: CellLinks
    cell: int
    client: int = -1
    round: int = -1
    paused_until: float = -math.inf
    next_ho: int = 0
    made: int = 0  # handovers while connected (logged)

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
        self.cell_options = cells
        self.cells = cells.count
        self.state: dict[int, Connection] = {}  # job -> its cell and handovers, while in flight
        # (instant, every cell's band-average interference [C] mW/Hz from then on)
        self._measured: list[tuple[float, np.ndarray]] = []

    # ------------------------------------------------------------------ jobs' side
    def expect(self, job: int, links: CellLinks, client: int = -1, round_: int = -1) -> None:
        """Job ``job`` of ``client`` (batch round ``round_``) is connected from now over its
        window's ``links``: at its serving cell, the handovers before now made (the client
        was idle then: no interruption); the later ones happen at their instants, whether
        it is uploading or not."""
        st = Connection(links, links.serving, client, round_)
        while st.coming is not None and st.coming.t < self.env.now:
            st.cell = st.coming.target
            st.next_ho += 1
        self.state[job] = st

    def connect(self, window: RoundWindow, jobs: list[int]) -> None:
        """A batch's ``jobs`` (the rows of ``window``, in order) are connected from now over
        their links (``expect``)."""
        links = window.trace.links  # type: ignore[attr-defined]
        for i, job in enumerate(jobs):
            self.expect(job, links[i], int(window.clients[i]), window.round)

    def connected(self) -> None:
        """Jobs were expected: the band wakes for their handovers too."""
        self._settle()
        self._retime()

    def finish(self, job: int) -> dict[str, int]:
        """Job ``job`` ended: its row's ``cell`` (serving it at its end) and ``handovers``;
        forgotten."""
        st = self.state.pop(job)
        return dict(cell=st.cell, handovers=st.made)

    # ------------------------------------------------------------------ re-split
    def _resplit(self, reason: str, trigger: Member) -> None:
        """The band of the trigger's cell among that cell's uploads."""
        self._split_cell(reason, trigger, self.state[trigger.job].cell)

    def _split_cell(self, reason: str, trigger: Member, cell: int) -> None:
        self._split(reason, trigger, self._in_cell(cell), self.total_hz, {"cell": cell})

    def _in_cell(self, cell: int) -> np.ndarray:
        """The slots of the uploads on air served by ``cell``, in joining order."""
        o = self.air.order
        mine = [self.state[self.by_slot[s].job].cell == cell for s in o.tolist()]
        return o[np.array(mine, dtype=bool)] if len(o) else o

    def _estimate_db(self, o: np.ndarray, now: float) -> np.ndarray:
        """The server's estimate of each upload's SINR-equivalent gain at the cell serving it
        now: the gain ``channel.csi_delay_s`` ago plus the upload's CSI error (after a
        handover, the new cell's gain: the server measures the link it serves), less
        10·log10(1 + I/N) with the interference that cell measured then."""
        t_csi = max(now - self.o.csi_delay_s, 0.0)
        step = self._step_of(t_csi)
        penalty_db = self._penalty_db(t_csi, t_csi)
        out = np.empty(len(o))
        for i, slot in enumerate(o.tolist()):
            m = self.by_slot[slot]
            st = self.state[m.job]
            gain = st.serving_db(step, m.step0)[1] + m.csi.offset_db[m.row]
            out[i] = gain - penalty_db[st.cell]
        return out

    def _penalty_db(self, t0: float, t1: float) -> np.ndarray:
        """Each cell's 10·log10(1 + I/N) [C] dB, I its interference averaged over [t0, t1]
        (as measured at ``t1`` when the span is empty)."""
        n = 10.0 ** (self.cell_options.noise_dbm_hz / 10.0)
        return 10.0 * np.log10(1.0 + self._interference_over(t0, t1) / n)

    def _interference_at(self, t: float) -> np.ndarray:
        """Each cell's interference [C] mW/Hz averaged over its band, as measured at the last
        wake at or before ``t`` (0 before any)."""
        past = [i for when, i in self._measured if when <= t]
        return past[-1] if past else np.zeros(self.cells)

    def _interference_over(self, t0: float, t1: float) -> np.ndarray:
        """Each cell's measured interference [C] mW/Hz averaged over [t0, t1] (the value at
        ``t1`` when the span is empty); 0 where nothing was measured yet."""
        if t1 <= t0:
            return self._interference_at(t1)
        total = np.zeros(self.cells)
        for k, (when, i) in enumerate(self._measured):
            until = self._measured[k + 1][0] if k + 1 < len(self._measured) else np.inf
            span = min(until, t1) - max(when, t0)
            if span > 0:
                total += span * i
        return total / (t1 - t0)

    def plan_penalty_db(self, window: RoundWindow) -> np.ndarray:
        """What a plan subtracts from each client's CSI gain [K] dB: 10·log10(1 + I/N), I the
        interference its serving cell at the window's start measured at the CSI instant, or
        averaged over the interference window before it."""
        t_csi = max(window.t0 - self.o.csi_delay_s, 0.0)
        penalty_db = self._penalty_db(t_csi - self.cell_options.interference_window_s, t_csi)
        return penalty_db[window.trace.cell[:, window.grid.j0]]  # type: ignore[attr-defined]

    def _measure(self, interference: np.ndarray) -> None:
        """Record the cells' interference [C] mW/Hz from now on; records older than the CSI's
        age plus the interference window are dropped (the latest before kept)."""
        now = self.env.now
        while self._measured and self._measured[-1][0] == now:
            self._measured.pop()
        self._measured.append((now, interference))
        oldest = now - (self.o.csi_delay_s + self.cell_options.interference_window_s)
        while len(self._measured) > 1 and self._measured[1][0] <= oldest:
            self._measured.pop(0)

    @property
    def measured(self) -> list[tuple[float, np.ndarray]]:
        """The interference record (instant, [C] mW/Hz), oldest first: a sync round's band
        hands it to the next round's."""
        return self._measured

    @measured.setter
    def measured(self, record: list[tuple[float, np.ndarray]]) -> None:
        self._measured = list(record)

    def _retime(self) -> None:
        """As the shared band's; with nothing on air, the cells hear no one from now on."""
        if not len(self.air.order):
            self._measure(np.zeros(self.cells))  # no upload on air: none heard
        super()._retime()

    # ------------------------------------------------------------------ the clock
    def _other_wake(self) -> float:
        """The next handover of a job in flight, or the end of an upload's interruption."""
        now, t = self.env.now, math.inf
        for job, st in self.state.items():
            if st.coming is not None:
                t = min(t, st.coming.t)
            if st.paused_until > now and job in self.members:
                t = min(t, st.paused_until)
        return t

    def _wake(self, gen: int) -> None:
        """A handover due now of an upload on air moves it (one per wake, in joining order);
        those of jobs not uploading are made all at once; then the shared band's deliveries
        and deadlines."""
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
        for job, st in self.state.items():
            while job not in self.members and st.coming is not None and st.coming.t <= now:
                self._switch(job, st, st.coming, uploading=False)
        super()._wake(gen)

    def _switch(self, job: int, st: Connection, ho: Handover, uploading: bool) -> None:
        """Job ``job`` is handed over to ``ho.target`` now: its state and a `handover` event."""
        source = st.cell
        st.next_ho += 1
        st.made += 1
        st.cell, st.paused_until = ho.target, ho.t + ho.interrupt_s
        self.log.emit(
            self.env.now,
            Kind.HANDOVER,
            st.round,
            st.client,
            source=source,
            target=ho.target,
            rsrp_source_dbm=ho.rsrp_source_dbm,
            rsrp_target_dbm=ho.rsrp_target_dbm,
            interrupt_s=ho.interrupt_s,
            job=job,
            uploading=uploading,
        )

    def _hand_over(self, m: Member, st: Connection, ho: Handover) -> None:
        """``m``'s upload moves from its cell to ``ho.target``: both cells re-split, and it
        sends nothing until the interruption ends."""
        source = st.cell
        self._switch(m.job, st, ho, uploading=True)
        self.air.bw[m.slot] = 0.0
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
        n, c = len(o), self.cells
        gain = np.full((n, c), -np.inf)
        serving = np.empty(n, dtype=np.int64)
        own_gain = np.empty(n)
        paused = np.zeros(n, dtype=bool)
        for i, slot in enumerate(o.tolist()):
            m = self.by_slot[slot]
            st = self.state[m.job]
            col, own_gain[i] = st.serving_db(step, m.step0)
            gain[i, st.links.cells] = st.links.gain_db[col]
            gain[i, st.cell] = own_gain[i] + self.cell_options.array_gain_db
            serving[i] = st.cell
            paused[i] = st.paused_until > now
        bw = air.bw[o]
        lo = np.zeros(n)
        for cell in np.unique(serving):  # pieces laid out per cell, in joining order
            at = serving == cell
            lo[at] = np.cumsum(bw[at]) - bw[at]
        co = self.cell_options
        power = open_loop_power_dbm(-own_gain, bw, co.p_max_dbm, co.p0_dbm, co.alpha)
        power[paused] = -np.inf  # an interrupted upload sends nothing, and disturbs no one
        sinr = uplink_sinr(Uplinks(serving, lo, lo + bw, power, gain), co.noise_dbm_hz)
        air.rate[o] = np.where(paused | (bw <= 0), 0.0, sinr.rate_bps)
        heard = 10.0 ** (power[:, None] / 10.0) * 10.0 ** (gain / 10.0)  # [n, C] mW
        heard[serving[:, None] == np.arange(c)] = 0.0  # a cell's own uploads are orthogonal
        self._measure(heard.sum(axis=0) / self.total_hz)

    # ------------------------------------------------------------------ checkpoints
    def snapshot(self) -> dict:
        """The shared band's data, every job in flight's cell, handovers made and
        interruption, and the interference the cells measured lately."""
        data = super().snapshot()
        data["cells"] = [
            dict(job=job, cell=st.cell, next_ho=st.next_ho, made=st.made, paused=st.paused_until)
            for job, st in self.state.items()
        ]
        data["measured"] = record_data(self._measured)
        return data

    def restore(self, data: dict, members: list[Member]) -> None:
        """``snapshot``'s data poured back: the jobs were expected again (their windows
        recomputed); their cells and handovers as they were; ended jobs forgotten."""
        kept = {}
        for d in data["cells"]:
            st = self.state[int(d["job"])]
            st.cell, st.next_ho, st.made = int(d["cell"]), int(d["next_ho"]), int(d["made"])
            st.paused_until = float(d["paused"])
            kept[int(d["job"])] = st
        self.state = kept
        self._measured = record_of(data["measured"])
        super().restore(data, members)


def record_data(record: list[tuple[float, np.ndarray]]) -> list[dict]:
    """The cells' interference record (instant, [C] mW/Hz) as a checkpoint's plain data."""
    return [dict(t=when, mw_hz=i) for when, i in record]


def record_of(data: list[dict]) -> list[tuple[float, np.ndarray]]:
    """``record_data``'s data back as the record."""
    return [(float(d["t"]), np.asarray(d["mw_hz"])) for d in data]
