"""How fast a learning-free TSFA run is: wall time, rounds/s and events/s by channel and size.

    python benchmarks/learning_free.py [--rounds 1000]

Runs scenarios/tsfa.toml in fl.mode = surrogate (stage 1 off, no channel.npz) for a few
(channel model, clients, clients per round) points and prints what one round and one event
cost on this host. Nothing is trained; host time only, never simulated time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cosim import load_scenario, run

ROOT = Path(__file__).resolve().parents[1]
POINTS = (("rayleigh", 200, 20), ("umi", 200, 20), ("rayleigh", 1000, 50))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1000)
    args = ap.parse_args()
    print(f"learning-free TSFA, {args.rounds} rounds, 2 s deadline, SOFT, reallocation on")
    print(" channel  clients  per round   build s   run s  rounds/s  events/s  realloc/round")
    for model, count, per_round in POINTS:
        s = load_scenario(
            ROOT / "scenarios" / "tsfa.toml",
            [
                "fl.mode=surrogate",
                "allocation.stage1=false",
                "output.channel=false",
                f"run.rounds={args.rounds}",
                f"channel.model={model}",
                f"clients.count={count}",
                f"clients.per_round={per_round}",
            ],
        )
        start = time.perf_counter()
        res = run(s)
        wall = time.perf_counter() - start
        sim = wall - res.build_s
        moves = sum(r["reallocations"] for r in res.rounds) / len(res.rounds)
        print(
            f"{model:>8} {count:>8} {per_round:>10} {res.build_s:>9.1f} {sim:>7.1f} "
            f"{args.rounds / sim:>9.1f} {res.event_count / sim:>9.0f} {moves:>14.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
