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
from cosim.engine.plan import Planner, RoundPlan, RoundWindow, snr_over_band
from cosim.engine.shared_band import Member, SharedBand
from cosim.engine.uplink import UplinkRadio
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


@dataclass
class Job:
    """One client's update in flight: its id, the batch of starts it belongs to (its plan and
    row there), the version it downloaded and the model it started from (trained runs)."""

    id: int
    client: int
    version: int
    t0: float
    plan: RoundPlan
    row: int
    start: State | None
    process: simpy.Process | None = None


class Seats:
    """A batch's rows on the shared band, as a ClientProcess sees its round's uplink."""

    def __init__(self, band: SharedBand, window: RoundWindow, jobs: list[int]) -> None:
        self.band, self.window, self.jobs = band, window, jobs

    @property
    def bw(self) -> np.ndarray:
        """The band [Hz] each row's job holds now (0 before its upload joins the band)."""
        return np.array([self.band.held_hz(j) for j in self.jobs])

    def drop(self, i: int, reason: str) -> None:
        """Row i will not upload: it holds no band, so nothing is freed."""

    def start(self, i: int, bits: float, predicted_s: float) -> simpy.Event:
        """Row i's upload joins the band now (the band is re-split)."""
        w = self.window
        return self.band.join(
            Member(
                job=self.jobs[i],
                client=int(w.clients[i]),
                round=w.round,
                gain_db=w.trace.gain_db[i],
                step0=int(w.grid.steps[0]),
                csi=w.csi,
                row=i,
                deadline=w.deadline,
                bits=float(bits),
                sent=0.0,
                seg_t=self.band.env.now,
            )
        )

    def stop(self, i: int) -> tuple[float, float]:
        """Row i's job is stopped: (bits delivered, band freed)."""
        return self.band.leave(self.jobs[i])


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
        self.band = SharedBand(
            env,
            s.channel.bandwidth_hz,
            s.channel.dt,
            UplinkRadio(self.w.link, self.w.rate, parts.allocating.efficiency),
            self.w.allocator,
            log,
        )
        self.server = VersionServer(self.w, log, parts.host, finishing, state)
        self.clients = ClientProcess(env, self.w, log, parts.host)
        self.jobs: dict[int, Job] = {}
        self.next_job, self.batches = 1, 0
        self.pending: list[RoundRow] = []
        self.held: RoundRow | None = None  # the newest version's row, written at the next
        self.made: simpy.Event | None = None
        self.over = False
        self.interrupted: set[int] = set()
        self.live: dict[int, int] = {}  # batch -> jobs of it still in flight
        self.chunks: dict[int, tuple[int, dict[str, np.ndarray]]] = {}

    # ------------------------------------------------------------------ the run
    def versions(self) -> Iterator[RoundRow]:
        """Start the first concurrency jobs, then yield each global version's row, until
        run.rounds versions or run.max_time_s. A version's row is written when the next one
        is made or the run ends, so the run's last version is always evaluated."""
        s, env = self.s, self.env
        if not self.jobs and not self.over:
            self._start_jobs(s.concurrency)
        limit = s.run.max_time_s
        while not self.over:
            self.made = env.event()
            ends = [self.made]
            if limit:
                ends.append(env.timeout(max(limit - env.now, 0.0)))
            env.run(until=env.any_of(ends))
            while self.pending:
                yield self.pending.pop(0)
            if not self.made.triggered and not self.over:  # run.max_time_s
                self._stop_all(STOP_MAX_TIME)
        self._stop_all(STOP_RUN_END)
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
    def _start_jobs(self, n: int) -> None:
        """``n`` idle clients (drawn by the batch's seed) start jobs now from the current
        global version: one channel window, one allocator call ("start"), one broadcast."""
        s, w, env, b = self.s, self.w, self.env, self.broadcasting
        busy = np.array(sorted(j.client for j in self.jobs.values()), dtype=int)
        idle = np.setdiff1d(np.arange(s.clients.count), busy)
        n = min(n, len(idle))
        if n <= 0:
            return
        self.batches += 1
        key, r = self.batches, self.server.version + 1
        clients = np.sort(w.seeds.rng("schedule", key).choice(idle, n, replace=False))
        window = self.p.planner.window_for(r, key, env.now, clients)
        bits, flops = b.model_bits(self.server.state), b.step_flops(self.server.state)
        down = b.downloads(window, bits)
        decided = self.p.allocating.allocate(
            window,
            self.server.state,
            flops,
            None if down is None else down[0],
            None if down is None else np.nan_to_num(down[1] - window.t0, nan=np.inf),
            share=n / s.concurrency,
            call="start",
        )
        b.announce(r, window, bits, down, env.now)
        alloc = decided.allocation
        snr_db = snr_over_band(w, window.trace.gain_db, alloc.bandwidth_hz[:, None])
        ids = list(range(self.next_job, self.next_job + n))
        self.next_job += n
        plan = RoundPlan(
            round=r,
            t0=window.t0,
            deadline=window.deadline,
            clients=window.clients,
            grid=window.grid,
            snr_db=snr_db,
            bandwidth_hz=alloc.bandwidth_hz,
            budget=alloc.budget,
            payload_bits=decided.payload_bits,
            predicted_upload_s=decided.predicted_upload_s,
            positions=window.positions[:, window.grid.j0],
            distance_m=window.trace.distance_3d_m[:, window.grid.j0],
            uplink=Seats(self.band, window, ids),
            download_end=None if down is None else down[1],
            key=key,
            stamp=lambda i: self._stamp(ids[i]),
        )
        if self.finishing.recorder is not None:
            self.chunks[key] = (r, self.p.planner.chunk(window, snr_db))
        self.live[key] = n
        start = None if w.learning_free else self.server.state
        for i, job_id in enumerate(ids):
            job = Job(job_id, int(clients[i]), self.server.version, env.now, plan, i, start)
            self.jobs[job_id] = job
            job.process = env.process(self._play(job, flops))

    def _stamp(self, job_id: int) -> dict[str, Any]:
        """upload_end's fields of fedasync/fedbuff: the version the job started from, its
        staleness on arrival and its job id."""
        job = self.jobs[job_id]
        return dict(version=job.version, staleness=self.server.staleness(job.version), job=job_id)

    def _play(self, job: Job, flops: float):
        """One job: the client's download, training and upload; then its end."""
        lead = self.s.server.broadcast_s
        out = yield from self.clients.run(job.plan, job.row, job.start, flops, lead_s=lead)
        self._ended(job, out)

    def _ended(self, job: Job, out: ClientOutcome) -> None:
        """A job ended (delivered, missed, rejected or stopped): the server takes its update
        (or drops it as too stale), its clients.csv row, and another client starts."""
        env, server = self.env, self.server
        del self.jobs[job.id]
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
        self.finishing.clients_table.append(
            client_row(self.s.fl.mode, job.plan, job.row, out, version=job.version, staleness=tau)
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
            del self.live[key]
            if key in self.chunks:
                r, chunk = self.chunks.pop(key)
                self.finishing.record(r, chunk, now)
