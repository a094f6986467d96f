"""How the clock scales: learning-free runs of 100, 1,000 and 10,000 clients, 100 rounds each.

    python benchmarks/scale.py [--rounds 100] [--per-round 100] [--channels rayleigh umi]
    python benchmarks/scale.py --scheduled 100 1000 3000 [--rounds 5]   # a round's scale
    python benchmarks/scale.py --in-flight 100 300 1000 [--rounds 3]     # fedbuff's scale
    python benchmarks/scale.py --cells [--rounds 100] [--per-round 200]  # 19 sites x 3 sectors

With --scheduled: 10,000 clients on Rayleigh fading and a 100 MHz band, that many scheduled
per round (uploads in flight together), sync rounds; printed per point: host seconds per
round, uploads ended per round and host ms per upload, and the growth against the previous
point. Issue 18's target: at most 1 s a round with 1,000 in flight on 2 cores, and cost
linear in the uploads in flight. With --in-flight: the same cell under fedbuff, that many
clients busy at once and a global version every that many updates (so a version is worth a
sync round of as many clients); printed per point: seconds per version, jobs ended per
version (delivered or missed: a starved band makes many more jobs than updates) and ms per
job. --no-share-lists runs the points with output.share_lists = false. With --cells: issue
19's multi-cell point, scenarios/highway_handover.toml grown to 19 UMa sites x 3 sectors with
wrap-around, 2,000 cars driving straight at 30-60 km/h, fedbuff with --per-round busy and a
version every 10 updates, --rounds versions, then sync rounds of --per-round scheduled
clients (--rounds of them); printed per protocol: setup and run seconds, jobs and
handovers, seconds per version (round) and ms per job, peak memory against the 2 GiB bound.

Each point is the default scenario's cell and allocator (equal shares, reallocation on,
pedestrians, 2 s deadline) in fl.mode = surrogate with clients.count and clients.per_round
set, run in a fresh process (so its peak memory is its own). Printed per point: setup and
run host seconds, events per second, peak resident memory, and the growth against the
smaller point. The bound of issue 8: 10,000 clients x 100 rounds with a fading channel in
at most 60 s and 2 GiB on 2 cores. Host time only; simulated time never depends on it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (100, 1_000, 10_000)
BOUND_S, BOUND_GIB = 60.0, 2.0
SHARE_LISTS = True


def point(
    channel: str,
    clients: int,
    per_round: int,
    rounds: int,
    band_hz: float | None = None,
    protocol: str = "sync",
) -> dict:
    """One run, in this process: host seconds, events and peak memory."""
    from cosim import Scenario

    busy = {}
    if protocol == "fedbuff":
        n = min(per_round, clients)
        busy = {"server.protocol": "fedbuff", "server.concurrency": n, "server.buffer_size": n}

    s = Scenario.load(ROOT / "scenarios" / "default.toml").updated(
        {
            "fl.mode": "surrogate",
            "output.channel": False,
            "run.rounds": rounds,
            "channel.model": channel,
            "clients.count": clients,
            "clients.per_round": min(per_round, clients),
            **({"channel.bandwidth_hz": band_hz} if band_hz else {}),
            **busy,
            "output.share_lists": SHARE_LISTS,
        }
    )
    res, wall = _timed(s)
    return dict(
        build_s=res.build_s,
        run_s=wall - res.build_s,
        wall_s=wall,
        events=res.event_count,
        sim_s=float(res.rounds[-1]["t_end"]),
        uploads=len(res.clients),  # every client-round (sync) or job (fedbuff) that ended
        peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    )


def _timed(s):
    """Run ``s`` in this process: (its result, host seconds it took)."""
    from cosim import run

    start = time.perf_counter()
    res = run(s)
    return res, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--per-round", type=int, default=100)
    ap.add_argument("--channels", nargs="+", default=["rayleigh", "umi"])
    ap.add_argument("--scheduled", nargs="+", type=int, help="a round's scale (see above)")
    ap.add_argument("--in-flight", nargs="+", type=int, help="fedbuff's scale (see above)")
    ap.add_argument("--band-hz", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-share-lists", action="store_true", help="output.share_lists = false")
    ap.add_argument("--cells", action="store_true", help="the multi-cell point (see above)")
    ap.add_argument("--cells-point", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--protocol", default="sync", help=argparse.SUPPRESS)
    ap.add_argument("--point", nargs=2, metavar=("CHANNEL", "CLIENTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    global SHARE_LISTS
    SHARE_LISTS = not args.no_share_lists
    if args.cells_point:
        print(json.dumps(cells_point(args.per_round, args.rounds, args.protocol)))
        return
    if args.cells:
        cells_scale(args.per_round, args.rounds)
        return
    if args.point:
        out = point(
            args.point[0],
            int(args.point[1]),
            args.per_round,
            args.rounds,
            args.band_hz,
            args.protocol,
        )
        print(json.dumps(out))
        return
    if args.scheduled:
        round_scale(args.scheduled, args.rounds, "sync", SHARE_LISTS)
        return
    if args.in_flight:
        round_scale(args.in_flight, args.rounds, "fedbuff", SHARE_LISTS)
        return
    print(
        f"learning-free, default cell (equal shares, reallocation on), {args.rounds} rounds, "
        f"{args.per_round} clients per round; one process per point"
    )
    print(
        " channel  clients   setup s   run s  total s  events/s  peak GiB   x time  x memory"
        "  bound (60 s, 2 GiB)"
    )
    for channel in args.channels:
        prev = None
        for n in SIZES:
            cmd = [sys.executable, __file__, "--point", channel, str(n)]
            cmd += ["--rounds", str(args.rounds), "--per-round", str(args.per_round)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            grow_t = f"{r['wall_s'] / prev['wall_s']:8.2f}" if prev else "       -"
            grow_m = f"{r['peak_gib'] / prev['peak_gib']:9.2f}" if prev else "        -"
            verdict = ""
            if n == SIZES[-1]:
                ok = r["wall_s"] <= BOUND_S and r["peak_gib"] <= BOUND_GIB
                verdict = "  met" if ok else "  NOT met"
            print(
                f"{channel:>8} {n:>8} {r['build_s']:>9.1f} {r['run_s']:>7.1f} {r['wall_s']:>8.1f}"
                f" {r['events'] / r['run_s']:>9.0f} {r['peak_gib']:>9.2f} {grow_t} {grow_m}"
                f"{verdict}",
                flush=True,
            )
            prev = r


def round_scale(
    scheduled: list[int], rounds: int, protocol: str = "sync", lists: bool = True
) -> None:
    """Seconds per round (fedbuff: per version of as many updates as are in flight) and per
    upload ended (a scheduled client's round; fedbuff: a job, delivered or missed) as the
    uploads in flight grow."""
    what = "sync rounds" if protocol == "sync" else "fedbuff versions"
    print(
        f"learning-free {what}, 10,000 clients, Rayleigh, 100 MHz, {rounds} of them, "
        f"output.share_lists = {str(lists).lower()}; one process per point"
    )
    unit = "round" if protocol == "sync" else "version"
    print(
        f" in flight  s/{unit:<7}  uploads/{unit:<7}  ms/upload  x s/{unit:<7}"
        "  (target: <= 1 s at 1,000)"
    )
    prev = None
    for k in scheduled:
        cmd = [sys.executable, __file__, "--point", "rayleigh", "10000", "--per-round", str(k)]
        cmd += ["--rounds", str(rounds), "--band-hz", "1e8", "--protocol", protocol]
        cmd += [] if lists else ["--no-share-lists"]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        per_round = r["run_s"] / rounds
        ups = r["uploads"] / rounds
        grow = f"{per_round / prev:11.2f}" if prev else "          -"
        note = ("  met" if per_round <= 1.0 else "  NOT met") if k == 1000 else ""
        print(
            f"{k:>10} {per_round:>9.3f} {ups:>16.0f} {1e3 * r['run_s'] / r['uploads']:>10.2f}"
            f" {grow}{note}",
            flush=True,
        )
        prev = per_round


def cells_point(busy: int, versions: int, protocol: str) -> dict:
    """The multi-cell run, in this process: host seconds, jobs, handovers, peak memory."""
    from cosim import Scenario

    sync = protocol == "sync"
    s = Scenario.load(ROOT / "scenarios" / "highway_handover.toml").updated(
        {
            "server.protocol": protocol,
            "cells.rings": 2,
            "clients.count": 2000,
            "clients.per_round": busy,
            "server.concurrency": 0 if sync else busy,
            "server.buffer_size": 0 if sync else 10,
            "mobility.model": "linear",
            "mobility.speed_min_mps": 8.33,
            "mobility.speed_max_mps": 16.67,
            "run.rounds": versions,
            "run.max_time_s": 0.0,
            "output.share_lists": False,
        }
    )
    res, wall = _timed(s)
    return dict(
        build_s=res.build_s,
        run_s=wall - res.build_s,
        versions=len(res.rounds),
        jobs=len(res.clients),
        handovers=sum(int(c["handovers"]) for c in res.clients),
        sim_s=float(res.rounds[-1]["t_end"]),
        peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    )


def cells_scale(busy: int, versions: int) -> None:
    """Issue 19's point: 19 sites x 3 sectors, 2,000 clients, ``versions`` fedbuff versions
    and as many sync rounds of ``busy`` scheduled clients, each in its own process."""
    print(
        f"learning-free over 19 UMa sites x 3 sectors (wrap-around), 2,000 cars: fedbuff with "
        f"{busy} busy and a version every 10 updates; sync rounds of {busy} scheduled"
    )
    head = "  protocol  versions  jobs  handovers  sim s  setup s  run s  s/version  ms/job"
    print(head + "  peak GiB")
    for protocol in ("fedbuff", "sync"):
        cmd = [sys.executable, __file__, "--cells-point", "--per-round", str(busy)]
        cmd += ["--rounds", str(versions), "--protocol", protocol]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        ok = "met" if r["peak_gib"] <= BOUND_GIB else "NOT met"
        print(
            f"{protocol:>10} {r['versions']:>9} {r['jobs']:>5} {r['handovers']:>10}"
            f" {r['sim_s']:>6.1f} {r['build_s']:>8.1f} {r['run_s']:>6.1f}"
            f" {r['run_s'] / r['versions']:>10.2f} {1e3 * r['run_s'] / r['jobs']:>7.1f}"
            f" {r['peak_gib']:>9.2f}  (2 GiB bound: {ok})"
        )


if __name__ == "__main__":
    main()
