"""The SimPy engine: the run's clock, and each round as a story — plan, allocate, broadcast,
clients, finish — played as one process (server.protocol sync, or first-k: the round ends at
the k-th arrival and stops the rest); ``rounds()`` yields each round's row as it ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import simpy

from cosim.engine.allocate import Allocating
from cosim.engine.asynchronous import AsyncRun, Parts
from cosim.engine.bands import make_round_band, round_quorum, split_policy
from cosim.engine.broadcast import Broadcasting
from cosim.engine.cell_band import record_data, record_of
from cosim.engine.client import STOP_FIRST_K, STOP_MAX_TIME, ClientProcess
from cosim.engine.finish import Finishing, evaluate
from cosim.engine.plan import Planner, RoundPlan, RoundWindow, snr_over_band
from cosim.engine.planned_band import CellSeats, PlannedCellBand
from cosim.engine.uplink import BandResponse, Uplink, UplinkRadio
from cosim.outputs.channel_npz import ChannelRecorder
from cosim.outputs.events import EventLog, Kind
from cosim.outputs.results import HostTime
from cosim.outputs.tables import CsvTable, RoundRow
from cosim.world.world import World


class Simulation:
    """Plays the rounds of a scenario in simulated time and writes events and tables."""

    def __init__(
        self,
        world: World,
        log: EventLog,
        rounds_table: CsvTable,
        clients_table: CsvTable,
        recorder: ChannelRecorder | None = None,
    ) -> None:
        self.w, self.s, self.log = world, world.scenario, log
        self.env = simpy.Environment()
        self.global_state = world.initial_state
        self.host = HostTime()
        self.first_round = 1
        self.planner = Planner(world, log)
        self.allocating = Allocating(world, log)
        self.finishing = Finishing(world, log, self.host, rounds_table, clients_table, recorder)
        self.broadcasting = Broadcasting(world, log)
        self.async_run: AsyncRun | None = None  # fedasync/fedbuff
        self.flight: dict[str, Any] | None = None  # a checkpoint's jobs in flight
        self.measured: list = []  # several cells' interference record, round to round

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """What the engine itself carries from one round to the next (for checkpoints)."""
        state = dict(
            now=self.env.now,
            next_round=self.first_round,
            global_state=self.global_state,
            host=self.host,
        )
        if self.async_run is not None:  # fedasync/fedbuff: what is in flight
            state["flight"] = self.async_run.state()
        elif self.s.cells.multi:  # sync over cells: what the cells measured lately
            state["measured"] = record_data(self.measured)
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (as ``state()`` gave it after a round): the clock, the
        next round, the global model, the host counters."""
        self.env = simpy.Environment(initial_time=state["now"])
        self.first_round = int(state["next_round"])
        self.global_state = state["global_state"]
        self.host.__dict__.update(vars(state["host"]))
        self.flight = state.get("flight")
        self.measured = record_of(state.get("measured", []))

    # ------------------------------------------------------------------ the run
    def rounds(self) -> Iterator[RoundRow]:
        """Play every round from ``first_round``; yield each one's row when it has ended
        (between rounds the clock stands still: a caller may checkpoint there)."""
        if self.first_round == 1:
            self._start()
        if self.s.server.is_async:
            parts = Parts(self.w, self.log, self.host, self.planner, self.allocating)
            self.async_run = AsyncRun(
                self.env, parts, self.finishing, self.broadcasting, self.global_state
            )
            if self.flight is not None:
                self.async_run.load(self.flight)
            for row in self.async_run.versions():
                self.global_state = self.async_run.server.state
                self.first_round = row.round + 1
                yield row
            self.global_state = self.async_run.server.state
            return
        for r in range(self.first_round, self.s.run.rounds + 1):
            if self.out_of_time:
                return  # run.max_time_s reached
            proc = self.env.process(self._round(r))
            self.env.run(until=proc)
            if proc.value is None:
                return  # run.max_time_s came inside round r: the run is over
            self.first_round = r + 1  # what a checkpoint written now resumes
            yield proc.value

    @property
    def out_of_time(self) -> bool:
        """Whether the clock has reached run.max_time_s (never, when it is 0)."""
        limit = self.s.run.max_time_s
        return bool(limit) and self.env.now >= limit

    def run(self) -> None:
        """Run every round (from ``first_round``) to the end."""
        for _ in self.rounds():
            pass

    def _start(self) -> None:
        """run_start, stage1 and the round-0 evaluation."""
        s, w, now = self.s, self.w, self.env.now
        self.log.emit(
            now,
            Kind.RUN_START,
            0,
            mode=s.fl.mode,
            learning_free=w.learning_free,
            profile=w.surrogate.profile.source if w.surrogate else None,
            clients=s.clients.count,
            per_round=s.clients.per_round,
            rounds=s.run.rounds,
            allocator=s.allocation.name,
            strategy=s.strategy.name,
            **w.record,
        )
        if w.stage1 is not None:
            st = w.stage1
            self.log.emit(
                now,
                Kind.STAGE1,
                0,
                candidates=st.candidates,
                chosen=st.chosen,
                rule=st.rule,
                latency_target_s=s.allocation.latency_target_s,
            )
        if not w.learning_free:
            evaluate(w, self.host, self.log, self.global_state, now, 0)

    def _round(self, r: int):
        """One round: plan -> allocate -> broadcast -> clients -> finish; its row."""
        env, b = self.env, self.broadcasting
        flops = b.step_flops(self.global_state)
        window = self.planner.window(r, env.now)
        bits = b.model_bits(self.global_state)
        down = b.downloads(window, bits)
        band = self._cells(window) if self.s.cells.multi else None
        if band is None:
            decided = self.allocating.allocate(window, self.global_state, flops, down)
        else:  # several cells: one allocator call per cell, on its band
            cells = np.array([band.state[i].cell for i in range(len(window.clients))])
            penalty = band.plan_penalty_db(window)
            decided = self.allocating.allocate_cells(
                window, self.global_state, flops, cells, down, penalty
            )
        alloc = decided.allocation
        b.announce(r, window, bits, down, env.now)
        snr_db = snr_over_band(self.w, window.trace.gain_db, alloc.bandwidth_hz[:, None])
        chunk = self.planner.chunk(window, snr_db) if self.finishing.recorder else {}
        plan = RoundPlan.of(
            window,
            (alloc.bandwidth_hz, alloc.budget, decided.payload_bits, decided.predicted_upload_s),
            snr_db,
            self._uplink(window, alloc.bandwidth_hz)
            if band is None
            else CellSeats(band, window, alloc.bandwidth_hz),
            None if down is None else down[1],
        )
        yield env.timeout(self.s.server.broadcast_s)
        clients = ClientProcess(env, self.w, self.log, self.host)
        procs = [
            env.process(clients.run(plan, i, self.global_state, flops))
            for i in range(len(plan.clients))
        ]
        ends = self._ends(band, procs)
        reason = yield from self._early_end(plan, procs)
        yield env.all_of(procs)  # (a fresh condition: a triggered one drops its callbacks)
        if band is not None:  # the round is over: no more wakes; the next plans read this
            band.close()
            self.measured = band.measured
        if reason == STOP_MAX_TIME:
            return None  # the run ended inside this round: nothing aggregated, no row
        outcomes = {int(k): p.value for k, p in zip(plan.clients, procs, strict=True)}
        row, self.global_state = self.finishing.finish(
            plan, outcomes, self.global_state, env.now, chunk, ends
        )
        return row

    def _cells(self, window: RoundWindow) -> PlannedCellBand:
        """The round's band over several cells, every scheduled client connected to it from
        the round's start (job = its row) at the cell serving it then."""
        band = make_round_band(self.env, self.s, self.w, self.allocating.efficiency, self.log)
        band.measured = self.measured  # what the cells heard before this round
        band.connect(window, list(range(len(window.clients))))
        band.connected()
        return band

    @staticmethod
    def _ends(band: PlannedCellBand | None, procs: list) -> dict[int, dict[str, int]]:
        """Filled as each row's process ends (several cells): the cell serving it then and
        its handovers in the round (clients.csv's cell and handovers)."""
        ends: dict[int, dict[str, int]] = {}
        if band is None:
            return ends

        def ended(i: int) -> None:
            ends[i] = band.finish(i)

        for i, p in enumerate(procs):
            p.callbacks.append(lambda _, i=i: ended(i))
        return ends

    def _early_end(self, plan: RoundPlan, procs: list):
        """Wait for the clients, or for what ends the round before them: first-k's quorum
        (the k-th arrival) or run.max_time_s; then stop whoever is still busy. The reason
        ("" when everyone finished)."""
        env, limit = self.env, self.s.run.max_time_s
        everyone = env.all_of(procs)
        cut = env.timeout(max(limit - env.now, 0.0)) if limit and plan.deadline > limit else None
        ends = [e for e in (plan.uplink.quorum_reached if plan.uplink.quorum else None, cut) if e]
        if not ends:
            return ""
        yield env.any_of([everyone, *ends])
        if everyone.triggered:
            return ""
        reason = STOP_FIRST_K if plan.uplink.quorum_reached.triggered else STOP_MAX_TIME
        for p in procs:
            if p.is_alive:
                p.interrupt(reason)
        return reason

    def _uplink(self, window: RoundWindow, bandwidth_hz: np.ndarray) -> Uplink:
        """The round's band; mid-round re-splits see the channel as the round-start CSI does:
        ``channel.csi_delay_s`` old, with the same estimation error."""
        return Uplink(
            self.env,
            window.round,
            window.clients,
            window.grid,
            window.trace.gain_db,
            window.csi,
            window.deadline,
            bandwidth_hz,
            self.s.channel.bandwidth_hz,
            UplinkRadio(self.w.link, self.w.rate, self.allocating.efficiency),
            split_policy(self.s),
            self.log,
            self._band(window) if self.s.channel.frequency_selective else None,
            quorum=round_quorum(self.s),
        )

    def _band(self, window: RoundWindow) -> BandResponse:
        """The round's channel over frequency, for channel.frequency_selective."""
        tr = window.trace

        def gains(rows: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
            return self.w.channel.band_gains(
                window.clients[rows], window.positions[rows], tr.los[rows], freqs_hz
            )

        large_db = -(tr.pathloss_db + tr.shadowing_db + tr.penetration_db)
        return BandResponse(self.s.channel.subbands, large_db, gains)
