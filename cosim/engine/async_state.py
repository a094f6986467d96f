"""fedasync/fedbuff runs as data, between two global versions: the jobs in flight (where each
process waits and until when), their batches, the uploads on the band, the server's model,
version and buffer; and the same poured back into a fresh run, every wait re-armed at its exact
instant in its original order, so the resumed run goes on event for event."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from cosim.engine.client import ClientOutcome
from cosim.engine.instants import at, queued
from cosim.engine.jobs import Job
from cosim.engine.versions import Arrival, Interval
from cosim.outputs.tables import RoundRow
from fl import State
from fl.strategies import Payload


def _payload(p: Payload | None) -> dict | None:
    return None if p is None else dict(tensors=p.tensors, values=p.values, bits=p.bits, meta=p.meta)


def _outcome(out: ClientOutcome) -> dict[str, Any]:
    d = {f.name: getattr(out, f.name) for f in fields(ClientOutcome)}
    d["payload"], d["sending"] = _payload(out.payload), _payload(out.sending)
    return d


def _outcome_back(d: dict[str, Any]) -> ClientOutcome:
    d = dict(d)
    for name in ("payload", "sending"):
        d[name] = None if d[name] is None else Payload(**d[name])
    return ClientOutcome(**d)


JOB_FIELDS = ("id", "client", "version", "t0", "row", "home")
ALLOCATED = ("bandwidth_hz", "budget", "payload_bits", "predicted_upload_s")  # RoundPlan.of


def capture(run: Any) -> dict[str, Any]:
    """Everything of ``run`` (an AsyncRun) in flight now, as plain data (no events are
    pending at this instant: ``versions()`` drained them)."""
    waiting, server = queued(run.env), run.server
    starts: dict[int, State] = {}
    jobs = []
    for job in run.jobs.values():
        d = {name: getattr(job, name) for name in JOB_FIELDS}
        upload = job.out.phase == "upload"  # it waits for its upload's end, not a timer
        d.update(key=job.plan.key, out=_outcome(job.out))
        d["wake"] = None if upload else waiting.get(id(job.process.target))
        jobs.append(d)
        if job.start is not None:
            starts[job.version] = job.start
    band = run.band.snapshot()
    band["wake"] = None if run.band.timer is None else waiting[id(run.band.timer)]
    iv = {f.name: getattr(server.interval, f.name) for f in fields(Interval)}
    iv["arrivals"] = []
    for a in server.interval.arrivals:
        d = dict(job=a.job, client=a.client, version=a.version, staleness=a.staleness)
        iv["arrivals"].append({**d, "out": _outcome(a.outcome)})
        if a.start is not None:
            starts[a.version] = a.start
    batches = []
    for key, plan in run.plans.items():
        d = {name: getattr(plan, name) for name in ALLOCATED}
        d.update(r=plan.round, key=key, t0=plan.t0, clients=plan.clients, jobs=plan.uplink.jobs)
        d.update(download_end=plan.download_end, live=run.live[key], chunk=run.chunks.get(key))
        batches.append(d)
    return dict(
        next_job=run.next_job,
        batches=run.batches,
        batch_list=batches,
        jobs=jobs,
        band=band,
        version=server.version,
        state=server.state,
        evaluated=server.evaluated,
        interval=iv,
        starts=starts,
        held=None if run.held is None else vars(run.held).copy(),
    )


def restore(run: Any, data: dict[str, Any]) -> None:
    """Pour ``capture``'s data into a fresh ``run`` (an AsyncRun; its clock at the captured
    instant): the server, the batches' plans (windows recomputed quietly: a function of the
    seed, the clients and the instant), the uploads on the band, and every job's process
    waiting where it waited; the waits re-armed in their original order."""
    starts = {int(v): st for v, st in data["starts"].items()}
    _restore_server(run, data, starts)
    run.next_job, run.batches = int(data["next_job"]), int(data["batches"])
    run.held = None if data["held"] is None else RoundRow(**data["held"])
    plans = {}
    for b in data["batch_list"]:
        key = b["key"]
        window = run.p.planner.window_for(b["r"], key, b["t0"], b["clients"], quiet=True)
        allocated = tuple(b[name] for name in ALLOCATED)
        plans[key] = run.plan(window, allocated, b["download_end"], list(b["jobs"]))
        run.live[key] = int(b["live"])
        if b["chunk"] is not None:
            run.chunks[key] = tuple(b["chunk"])
    waits: list[tuple[Any, Any]] = []  # (wake, job or the band): every pending wait
    for j in data["jobs"]:
        job = Job(
            *(j[n] for n in JOB_FIELDS[:4]),
            plans[j["key"]],
            j["row"],
            starts.get(j["version"]),
            out=_outcome_back(j["out"]),
            home=int(j.get("home", -1)),
        )
        run.jobs[job.id] = job
        run.busy[job.client] = True
        if job.home >= 0:
            run.home_busy[job.home] += 1
        waits.append((j["wake"], job))
    band = data["band"]
    members = []
    for u in band["uploads"]:
        job = run.jobs[u["job"]]
        members.append(job.plan.uplink.member(job.row, u["bits"]))
    run.band.restore(band, members)
    if band["wake"] is not None:
        waits.append((band["wake"], run.band))
    _rearm(run, waits)


def _restore_server(run: Any, data: dict[str, Any], starts: dict[int, State]) -> None:
    """The server's version, model, evaluation mark and interval (with its buffer)."""
    server = run.server
    server.version, server.evaluated = int(data["version"]), int(data["evaluated"])
    if data["state"] is not None:
        server.state = data["state"]
    iv = dict(data["interval"])
    iv["arrivals"] = [
        Arrival(
            a["job"],
            a["client"],
            a["version"],
            a["staleness"],
            _outcome_back(a["out"]),
            starts.get(a["version"]),
        )
        for a in iv["arrivals"]
    ]
    server.interval = Interval(**iv)


def _rearm(run: Any, waits: list[tuple[Any, Any]]) -> None:
    """Every timed wait at its exact instant, in its original queue order; then the jobs on
    air, waiting for their uploads' ends."""
    armed = sorted((w for w in waits if w[0] is not None), key=lambda w: w[0][1])
    for (t, _), who in armed:
        wake = at(run.env, t)
        if who is run.band:
            run.band.arm(wake)
        else:
            run.resume_job(who, wake)
    for wake, who in waits:
        if wake is None:
            run.resume_job(who, run.band.done[who.id])
