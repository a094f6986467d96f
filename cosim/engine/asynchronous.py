"""fedasync and fedbuff on the run's clock: server.concurrency clients are busy at once, each
a job (download the current global model, train, upload on the shared band); when a job ends
another client starts in its place, and arriving updates become global versions
(cosim/engine/versions.py). ``versions()`` yields each version's row as it is made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from cosim.engine.allocate import Allocating
from cosim.engine.async_state import capture, restore
from cosim.engine.bands import make_band
from cosim.engine.broadcast import Broadcasting
from cosim.engine.client import (
    MISS_STALE,
    MISS_STOPPED,
    STOP_MAX_TIME,
    STOP_RUN_END,
    ClientOutcome,
    ClientProcess,
)
from cosim.engine.finish import Finishing, client_row, evaluate, perplexity
from cosim.engine.jobs import Job, Seats
from cosim.engine.plan import Planner, RoundPlan, RoundWindow, draw_per_cell, snr_over_band
from cosim.engine.versions import Arrival, VersionServer
from cosim.outputs.events import EventLog, Kind
from cosim.outputs.results import HostTime
from cosim.outputs.tables import RoundRow
from cosim.world.world import World
from fl import State


@dataclass(frozen=True)
class Parts:
    """What a run's engine is made of, shared by the sync rounds and fedasync/fedbuff."""

    world: World
    log: EventLog
    host: HostTime
    planner: Planner
    allocating: Allocating


class AsyncRun:
    """Plays fedasync/fedbuff on ``env`` with a run's parts, writing through ``finishing``'s
    tables from the global model ``state``."""

    def __init__(
        self,
        env: simpy.Environment,
        parts: Parts,
        finishing: Finishing,
        broadcasting: Broadcasting,
        state: State,
    ) -> None:
        self.env, self.p, self.w, self.s = env, parts, parts.world, parts.world.scenario
        self.finishing, self.broadcasting = finishing, broadcasting
        s, log = self.s, parts.log
        self.band = make_band(env, s, self.w, parts.allocating.efficiency, log)
        self.server = VersionServer(self.w, log, parts.host, finishing, state)
        self.clients = ClientProcess(env, self.w, log, parts.host)
        self.jobs: dict[int, Job] = {}
        self.busy = np.zeros(s.clients.count, dtype=bool)  # clients with a job in flight
        self.home_busy = np.zeros(s.cells.count, dtype=np.int64)  # clients.per_cell: per cell
        self.next_job, self.batches = 1, 0
        self.pending: list[RoundRow] = []
        self.held: RoundRow | None = None  # the newest version's row, written at the next
        self.made: simpy.Event | None = None
        self.over = False
        self.interrupted: set[int] = set()
        self.live: dict[int, int] = {}  # batch -> jobs of it still in flight
        self.chunks: dict[int, tuple[int, dict[str, np.ndarray]]] = {}
        self.plans: dict[int, RoundPlan] = {}  # batch -> its plan, while it has jobs in flight

    # ------------------------------------------------------------------ the run
    def versions(self) -> Iterator[RoundRow]:
        """Start the first concurrency jobs, then yield each global version's row, until
        run.rounds versions or run.max_time_s. A version's row is written when the next one
        is made or the run ends, so the run's last version is always evaluated."""
        s, env = self.s, self.env
        if self.next_job == 1:  # a fresh run (a resumed one has its jobs)
            self._start_jobs(s.concurrency)
        limit = s.run.max_time_s
        while not self.over:
            self.made = env.event()
            ends = [self.made]
            if limit:
                ends.append(env.timeout(max(limit - env.now, 0.0)))
            env.run(until=env.any_of(ends))
            while env.peek() == env.now:  # finish this instant: a checkpoint may follow
                env.step()
            while self.pending:
                yield self.pending.pop(0)
            if not self.made.triggered and not self.over:  # run.max_time_s
                self._interrupt_all(STOP_MAX_TIME)
        self._stop_all(STOP_RUN_END)  # (jobs already interrupted keep their reason)
        self._close()
        yield from self.pending

    def _close(self) -> None:
        """The run's last version: evaluated now unless it was when made, and written."""
        row = self.held
        if row is None:
            return
        if not self.w.learning_free and self.server.evaluated < row.round:
            acc, loss = evaluate(
                self.w, self.p.host, self.p.log, self.server.state, self.env.now, row.round
            )
            row.accuracy, row.loss, row.perplexity = acc, loss, perplexity(self.s, loss)
        self.held = None
        self._write(row)

    def _stop_all(self, reason: str) -> None:
        """The run is over: every job still busy is stopped now (`stopped`, its row)."""
        self._interrupt_all(reason)
        procs = [j.process for j in self.jobs.values() if j.process and j.process.is_alive]
        if procs:
            self.env.run(until=self.env.all_of(procs))

    def _interrupt_all(self, reason: str) -> None:
        """Stop every busy job (once each); no more starts, no more re-splits."""
        self.over = self.band.closed = True
        for job in self.jobs.values():
            p = job.process
            if p is not None and p.is_alive and job.id not in self.interrupted:
                self.interrupted.add(job.id)
                p.interrupt(reason)

    # ------------------------------------------------------------------ jobs
    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The idle clients [m] that start jobs now (sorted; drawn by the batch's seed) and
        the cell each is drawn for [m] (−1: over the whole layout): ``n`` of them, or with
        clients.per_cell as many as each cell lacks (``_draw_per_cell``)."""
        idle = np.flatnonzero(~self.busy)  # sorted, as the draw needs
        if self.s.cells.multi and self.s.clients.per_cell:
            return self._draw_per_cell(idle)
        n = min(n, len(idle))
        if n <= 0:
            return idle[:0], idle[:0]
        self.batches += 1
        clients = np.sort(self.w.seeds.rng("schedule", self.batches).choice(idle, n, False))
        return clients, np.full(n, -1)

    def _draw_per_cell(self, idle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What every cell lacks of clients.per_cell busy, drawn from the ``idle`` clients
        camping on it (``draw_per_cell``)."""
        need = self.s.clients.per_cell - self.home_busy
        if not len(idle) or not (need > 0).any():
            return idle[:0], idle[:0]
        self.batches += 1
        rng = self.w.seeds.rng("schedule", self.batches)
        return draw_per_cell(self.w, rng, idle, need, self.env.now)

    def _start_jobs(self, n: int) -> None:
        """``n`` idle clients (drawn by the batch's seed; with clients.per_cell, what each
        cell lacks) start jobs now from the current global version: one channel window, one
        allocator call ("start"), one broadcast."""
        w, env, b = self.w, self.env, self.broadcasting
        clients, homes = self._draw(n)
        n = len(clients)
        if n <= 0:
            return
        key, r = self.batches, self.server.version + 1
        window = self.p.planner.window_for(r, key, env.now, clients)
        bits, flops = b.model_bits(self.server.state), b.step_flops(self.server.state)
        down = b.downloads(window, bits)
        decided = self.p.allocating.allocate(
            window,
            self.server.state,
            flops,
            down,
            share=self._share(n),
            call="start",
            penalty_db=self.band.plan_penalty_db(window),
        )
        b.announce(r, window, bits, down, env.now)
        ids = list(range(self.next_job, self.next_job + n))
        self.next_job += n
        alloc = decided.allocation
        allocated = (alloc.bandwidth_hz, alloc.budget, decided.payload_bits)
        plan = self.plan(
            window, (*allocated, decided.predicted_upload_s), None if down is None else down[1], ids
        )
        if self.finishing.recorder is not None:
            self.chunks[key] = (r, self.p.planner.chunk(window, plan.snr_db))
        self.live[key] = n
        self.band.connected()
        start = None if w.learning_free else self.server.state
        for i, job_id in enumerate(ids):
            out = self.clients.outcome(plan, i, flops)
            job = Job(job_id, int(clients[i]), self.server.version, env.now, plan, i, start, out)
            job.home = int(homes[i])
            self.jobs[job_id] = job
            self.busy[job.client] = True
            if job.home >= 0:
                self.home_busy[job.home] += 1
            job.process = env.process(self._play(job, flops))

    def plan(
        self,
        window: RoundWindow,
        allocated: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        download_end: np.ndarray | None,
        ids: list[int],
    ) -> RoundPlan:
        """The RoundPlan a batch's processes play: its window, its allocation at the start
        (bands, budgets, payload bits, predicted upload times), download ends, its rows
        seated on the shared band as jobs ``ids``; kept while the batch has jobs in flight."""
        plan = RoundPlan.of(
            window,
            allocated,
            snr_over_band(self.w, window.trace.gain_db, allocated[0][:, None]),
            Seats(self.band, window, ids),
            download_end,
            key=window.key,
            stamp=lambda i: self._stamp(ids[i]),
        )
        self.plans[window.key] = plan
        self.band.connect(window, ids)  # several cells: from now, at their strongest cells
        return plan

    def _share(self, n: int) -> float:
        """The part of a band a batch of ``n`` starting jobs plans on: n/concurrency of the
        one cell's; over several cells, each with its own band, n·cells/concurrency of one
        (as many uploads per cell as on average), at most all of it."""
        share = n / self.s.concurrency
        return min(1.0, share * self.band.cells)

    def _stamp(self, job_id: int) -> dict[str, Any]:
        """upload_end's fields of fedasync/fedbuff: the version the job started from, its
        staleness on arrival and its job id."""
        job = self.jobs[job_id]
        return dict(version=job.version, staleness=self.server.staleness(job.version), job=job_id)

    def _play(self, job: Job, flops: float):
        """One job: the client's download, training and upload; then its end."""
        lead = self.s.server.broadcast_s
        out = yield from self.clients.run(job.plan, job.row, job.start, flops, lead, job.out)
        self._ended(job, out)

    def resume_job(self, job: Job, wake: simpy.Event) -> None:
        """A job restored from a checkpoint goes on: its process waits for ``wake``."""
        flops = self.broadcasting.step_flops(self.server.state)

        def play():
            out = yield from self.clients.resume(job.plan, job.row, job.start, flops, job.out, wake)
            self._ended(job, out)

        job.process = self.env.process(play())

    def state(self) -> dict[str, Any]:
        """Everything in flight, as plain data (cosim/engine/async_state.py)."""
        return capture(self)

    def load(self, data: dict[str, Any]) -> None:
        """Continue from ``state()``'s data."""
        restore(self, data)

    def _ended(self, job: Job, out: ClientOutcome) -> None:
        """A job ended (delivered, missed, rejected or stopped): the server takes its update
        (or drops it as too stale), its clients.csv row, and another client starts."""
        env, server = self.env, self.server
        del self.jobs[job.id]
        self.busy[job.client] = False
        if job.home >= 0:
            self.home_busy[job.home] -= 1
        tau = None
        if out.miss != MISS_STOPPED:
            self.w.allocator.observe(env.now - job.t0)  # TSFA: per-update latency
        if out.on_time:
            tau = server.staleness(job.version)
            if server.too_stale(tau):
                out.on_time, out.miss = False, MISS_STALE
                self.p.log.emit(
                    env.now,
                    Kind.UPDATE_DROPPED,
                    job.plan.round,
                    job.client,
                    reason=f"staleness {tau} above server.max_staleness "
                    f"({self.s.server.max_staleness})",
                    staleness=tau,
                    version=job.version,
                    job=job.id,
                )
        server.ended(out)
        more = self.band.finish(job.id)
        self.finishing.clients_table.append(
            client_row(
                self.s.fl.mode, job.plan, job.row, out, version=job.version, staleness=tau, **more
            )
        )
        self._batch_done(job, env.now)
        if out.on_time:
            arrival = Arrival(job.id, job.client, job.version, tau, out, job.start)
            row = server.take(arrival, env.now, self.band.reallocations)
            if row is not None:
                self._made(row)
        if not self.over:
            self._start_jobs(1)

    def _made(self, row: RoundRow) -> None:
        """A global version was made: the row of the one before is written and handed to
        ``versions()``, this one's is held; at run.rounds every busy job is stopped."""
        if self.held is not None:
            self._write(self.held)
        self.held = row
        if row.round >= self.s.run.rounds:
            self._interrupt_all(STOP_RUN_END)
            if self.made is not None and not self.made.triggered:
                self.made.succeed(row.round)  # wake versions(): the run is over

    def _write(self, row: RoundRow) -> None:
        """rounds.csv's row of a version, and ``versions()`` woken to yield it."""
        self.finishing.rounds_table.append(row)
        self.pending.append(row)
        if self.made is not None and not self.made.triggered:
            self.made.succeed(row.round)

    def _batch_done(self, job: Job, now: float) -> None:
        """The channel chunk of a batch whose jobs have all ended, up to now."""
        key = job.plan.key
        self.live[key] -= 1
        if self.live[key] == 0:
            del self.live[key], self.plans[key]
            if key in self.chunks:
                r, chunk = self.chunks.pop(key)
                self.finishing.record(r, chunk, now)
