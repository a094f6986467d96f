"""Byte-identity check for refactors: run a fixed set of cases and compare the SHA-256 of
their outputs (events.jsonl, rounds.csv, clients.csv, channel.npz) with saved digests.

    .venv/bin/python benchmarks/digests.py            # check against benchmarks/digests.json
    .venv/bin/python benchmarks/digests.py --save     # record the digests of this code
    .venv/bin/python benchmarks/digests.py --only tiny-trained default-trained
    .venv/bin/python benchmarks/digests.py --file /tmp/base.json --save   # this machine's baseline

The digests depend on the machine (BLAS and CPU change the last bits of float64 matrix
products and of training): check a refactor against a baseline saved with ``--file`` from the
parent commit on the same machine.

Every scenario in scenarios/ runs learning-free (full length), plus variants that reach the
other allocators, channels, link models and mobility models, plus trained runs of tiny.toml
(its 2 rounds) and of default.toml (2 rounds). Each case is a fresh `wfl-cosim run` process
with one torch thread (the thread count changes the last bits of training arithmetic).
Exit 1 when a digest differs or a case fails; 0 when all match.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAVED = Path(__file__).with_name("digests.json")
FILES = ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz")
LF = ["fl.mode=surrogate"]

# name -> (scenario file, --set overrides)
CASES: dict[str, tuple[str, list[str]]] = {
    "default-lf": ("default.toml", LF),
    "first_k-lf": ("first_k.toml", LF),
    "rma_rural-lf": ("rma_rural.toml", LF),
    "static_pathloss-lf": ("static_pathloss.toml", LF),
    "tiny-lf": ("tiny.toml", LF),
    "tsfa-lf": ("tsfa.toml", LF),
    "uma_vehicles-lf": ("uma_vehicles.toml", LF),
    "default-minmax-lf": (
        "default.toml",
        [*LF, "allocation.name=minmax", "strategy.name=soft", "strategy.budget=0.5"],
    ),
    "default-oracle-lf": ("default.toml", [*LF, "allocation.name=oracle", "run.rounds=4"]),
    "default-inverse-se-phy-lf": (
        "default.toml",
        [*LF, "allocation.name=inverse-se", "channel.link=phy", "run.rounds=4"],
    ),
    "default-downlink-lf": (
        "default.toml",
        [*LF, "downlink.model=channel", "downlink.mode=unicast", "run.rounds=4"],
    ),
    "default-noreallocate-lf": (
        "default.toml",
        [*LF, "allocation.reallocate=false", "channel.csi_error_db=2.0"],
    ),
    "rician-gm-lf": (
        "static_pathloss.toml",
        [
            *LF,
            "channel.model=rician",
            "mobility.model=gauss_markov",
            "mobility.speed_min_mps=1.0",
            "mobility.speed_max_mps=10.0",
            "strategy.name=topk",
            "strategy.budget=0.25",
        ],
    ),
    "rayleigh-linear-lf": (
        "static_pathloss.toml",
        [
            *LF,
            "channel.model=rayleigh",
            "mobility.model=linear",
            "mobility.speed_min_mps=5.0",
            "mobility.speed_max_mps=20.0",
            "strategy.name=random-rank",
            "strategy.budget=0.5",
        ],
    ),
    "tiny-trained": ("tiny.toml", []),
    "tiny-svd-trained": ("tiny.toml", ["strategy.name=svd", "strategy.budget=0.5"]),
    "default-trained": ("default.toml", ["run.rounds=2"]),
    "tsfa-trained": ("tsfa.toml", ["run.rounds=2", "allocation.stage1_ranks=[4, 8]"]),
}


def digest_case(name: str, work: Path) -> dict[str, str]:
    """Run one case in a fresh process; the SHA-256 of each output file it wrote."""
    scenario, overrides = CASES[name]
    out = work / name
    args = [
        sys.executable,
        "-m",
        "cosim",
        "run",
        str(ROOT / "scenarios" / scenario),
        "--out",
        str(out),
        "--quiet",
    ]
    for o in overrides:
        args += ["--set", o]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout)[-2000:]}
    return {
        f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES if (out / f).is_file()
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--save", action="store_true", help="record digests instead of checking")
    p.add_argument("--only", nargs="*", default=None, help="case names (default: all)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--file", type=Path, default=SAVED, help="digests file (default: committed)")
    a = p.parse_args()
    names = a.only or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        p.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.workers) as pool:
        got = dict(zip(names, pool.map(lambda n: digest_case(n, Path(tmp)), names), strict=True))
    failed = {n: d["error"] for n, d in got.items() if "error" in d}
    for n, err in failed.items():
        print(f"FAILED {n}:\n{err}")
    if a.save:
        if failed:
            return 1
        saved = json.loads(a.file.read_text()) if a.file.is_file() else {}
        saved.update(got)
        a.file.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
        print(f"saved {len(got)} cases to {a.file}")
        return 0
    saved = json.loads(a.file.read_text())
    bad = 0
    for n in names:
        if n in failed:
            bad += 1
            continue
        diff = [
            f
            for f in sorted(set(saved.get(n, {})) | set(got[n]))
            if saved.get(n, {}).get(f) != got[n].get(f)
        ]
        print(f"{'same' if not diff else 'DIFFERS'}  {n}" + (f"  {diff}" if diff else ""))
        bad += bool(diff)
    print(f"{len(names) - bad} of {len(names)} cases byte-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
