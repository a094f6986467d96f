"""The memory estimate (cosim/world/memory.py) beside the measured peak, in one run.

    .venv/bin/python benchmarks/memory_estimate.py

Each point runs learning-free in a fresh process and reports its peak resident memory
(ru_maxrss) next to the estimate `validate` prints for the same scenario, and the ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LF = {"fl.mode": "surrogate"}
POINTS = {
    "tiny, 1e6-step window (pathloss)": ("tiny.toml", {"deadline.seconds": 1e4, "run.rounds": 1}),
    "tiny, 2e5-step window (rayleigh)": (
        "tiny.toml",
        {
            "channel.model": "rayleigh",
            "channel.dt": 0.001,
            "deadline.seconds": 200.0,
            "run.rounds": 1,
            "output.channel": False,
        },
    ),
    "tiny, 2e5-step window (umi)": (
        "tiny.toml",
        {
            "channel.model": "umi",
            "channel.dt": 0.001,
            "deadline.seconds": 200.0,
            "run.rounds": 1,
            "output.channel": False,
        },
    ),
    "umi, 50,000 clients": (
        "tiny.toml",
        {"channel.model": "umi", "clients.count": 50_000, "run.rounds": 1, "output.channel": False},
    ),
    "default, 1,000 clients x 10 rounds, channel.npz": ("default.toml", {"clients.count": 1000}),
    "default, 200 a round x 20 rounds, channel.npz": (
        "default.toml",
        {"clients.count": 1000, "clients.per_round": 200, "run.rounds": 20},
    ),
}

CODE = """
import resource, sys
from cosim import Scenario, run
from cosim.world.memory import estimate
s = Scenario.load(sys.argv[1]).updated(eval(sys.argv[2]))
est = estimate(s).total
run(s)
print(est / 2**30, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30)
"""


def main() -> None:
    print(f"{'point':52s} {'estimate GiB':>12s} {'peak GiB':>9s} {'ratio':>6s}")
    for name, (scenario, sets) in POINTS.items():
        args = [
            sys.executable,
            "-c",
            CODE,
            str(ROOT / "scenarios" / scenario),
            repr({**LF, **sets}),
        ]
        res = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(f"{name:52s} failed: {res.stderr[-200:]}")
            continue
        est, peak = map(float, res.stdout.split()[-2:])
        print(f"{name:52s} {est:12.2f} {peak:9.2f} {est / peak:6.2f}", flush=True)


if __name__ == "__main__":
    main()
