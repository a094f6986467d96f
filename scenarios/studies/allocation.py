"""Study: TSFA against the other allocators across client speed and CSI staleness.

Runs scenarios/default.toml (UMi street canyon, 38.901 fading, 20 clients, 5 per round, 2 s
deadline) with every client moving in a straight line at one speed (0, 3, 30, 120 km/h;
reflecting at the cell edge) and the allocator's CSI 0, 10 or 100 ms old, for each variant:

* tsfa — online stage (V, T̄ from the scenario), SOFT budgets from allocation.budget_grid,
  reallocation on; tsfa-norealloc — the same with allocation.reallocate = false;
* minmax at ρ = 0.25 (fixed sparsity, min-max split), and the dense baselines (ρ = 1):
  minmax, inverse-se and equal, all with reallocation on;
* oracle (dense, min-max planned on the true future channel; reallocation off: the plan alone).

Learning-free by default (fl.mode = surrogate with the recorded profile
scenarios/profiles/minilm_bbc_soft.json), so 100 rounds per point take seconds; --mode train
runs the real fine-tuning (for accuracy; about 75 s per run on 2 cores). Metrics per run:
deadline misses over scheduled clients; upload misses over uploads started (the channel's
share of the misses); Mbit sent per round; the gap between realised and predicted upload time
(realised/predicted − 1 over all uploads, misses counted at the deadline: a lower bound), its
median and 90th percentile; reallocations per round; final accuracy (train mode).
Writes the table into docs/ALLOCATION.md between the markers of its mode.

    python scenarios/studies/allocation.py [--mode surrogate|train] [--rounds N]
        [--speeds 0,3,30,120] [--staleness-ms 0,10,100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ALLOCATION.md"
PROFILE = ROOT / "scenarios" / "profiles" / "minilm_bbc_soft.json"
VARIANTS = {
    "tsfa": ["allocation.name=tsfa"],
    "tsfa-norealloc": ["allocation.name=tsfa", "allocation.reallocate=false"],
    "minmax ρ=0.25": ["allocation.name=minmax", "strategy.budget=0.25"],
    "minmax dense": ["allocation.name=minmax", "strategy.budget=1.0"],
    "inverse-se dense": ["allocation.name=inverse-se", "strategy.budget=1.0"],
    "equal dense": ["allocation.name=equal", "strategy.budget=1.0"],
    "oracle dense": [
        "allocation.name=oracle",
        "strategy.budget=1.0",
        "allocation.reallocate=false",
    ],
}


def point_sets(mode: str, rounds: int, speed_kmh: float, staleness_ms: float) -> list[str]:
    """The overrides of one (speed, staleness) point, before the variant's own."""
    v = speed_kmh / 3.6
    mobility = (
        ["mobility.model=static"]
        if v == 0
        else ["mobility.model=linear", f"mobility.speed_min_mps={v}", f"mobility.speed_max_mps={v}"]
    )
    sets = [
        *mobility,
        f"channel.csi_delay_s={staleness_ms / 1000}",
        f"run.rounds={rounds}",
        "strategy.name=soft",
        "output.channel=false",
    ]
    if mode == "surrogate":
        sets += ["fl.mode=surrogate", f"fl.profile={PROFILE}"]
    return sets


def one(job: tuple[str, int, float, float, str, Path]) -> dict:
    """Run one variant at one point; its metrics."""
    from cosim import load_scenario, run

    mode, rounds, speed, stale, variant, out = job
    s = load_scenario(
        ROOT / "scenarios" / "default.toml",
        [*point_sets(mode, rounds, speed, stale), *VARIANTS[variant]],
    )
    uploads = []

    def observe(e: dict) -> None:
        if e["kind"] == "upload_end" or (
            e["kind"] == "deadline_miss" and e.get("phase") == "upload"
        ):
            uploads.append((e["kind"] == "upload_end", e["realised_s"], e["predicted_s"]))

    res = run(s, out, overwrite=True, observers=[observe], progress=False)
    sched = sum(r["scheduled"] for r in res.rounds)
    gap = np.array([real / pred - 1.0 for _, real, pred in uploads if pred and pred > 0])
    return dict(
        variant=variant,
        speed_kmh=speed,
        staleness_ms=stale,
        miss=sum(r["late"] for r in res.rounds) / sched,
        upload_miss=sum(not ok for ok, _, _ in uploads) / max(len(uploads), 1),
        mbit_per_round=sum(float(r["bits_up"]) for r in res.rounds) / 1e6 / len(res.rounds),
        gap_p50=float(np.median(gap)) if gap.size else float("nan"),
        gap_p90=float(np.percentile(gap, 90)) if gap.size else float("nan"),
        realloc_per_round=sum(r["reallocations"] for r in res.rounds) / len(res.rounds),
        accuracy=res.final_accuracy if mode == "train" else float("nan"),
    )


def table(rows: list[dict], mode: str, command: str) -> str:
    """Markdown table, one line per point and variant."""
    acc = mode == "train"
    head = (
        "| speed (km/h) | CSI age (ms) | allocator | misses | upload misses | Mbit/round | "
        "upload gap p50 | upload gap p90 | reallocations/round |" + (" accuracy |" if acc else "")
    )
    out = [
        f"Regenerate: `{command}`",
        "",
        head,
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if acc else ""),
    ]
    for r in rows:
        out.append(
            f"| {r['speed_kmh']:g} | {r['staleness_ms']:g} | {r['variant']} | {r['miss']:.1%} | "
            f"{r['upload_miss']:.1%} | {r['mbit_per_round']:.2f} | {r['gap_p50']:+.1%} | "
            f"{r['gap_p90']:+.1%} | {r['realloc_per_round']:.1f} |"
            + (f" {r['accuracy']:.3f} |" if acc else "")
        )
    return "\n".join(out)


def write_doc(text: str, mode: str) -> None:
    """Put the table between this mode's markers in docs/ALLOCATION.md."""
    begin, end = f"<!-- study-{mode}:begin -->", f"<!-- study-{mode}:end -->"
    doc = DOC.read_text()
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("surrogate", "train"), default="surrogate")
    ap.add_argument("--rounds", type=int, default=None, help="default: 100 surrogate, 10 train")
    ap.add_argument("--speeds", default="0,3,30,120")
    ap.add_argument("--staleness-ms", default="0,10,100")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "study-allocation")
    ap.add_argument("--no-doc", action="store_true", help="print only")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="re-run only --variants and keep the other rows of the last run (rows.json)",
    )
    args = ap.parse_args()
    rounds = args.rounds or (100 if args.mode == "surrogate" else 10)
    speeds = [float(x) for x in args.speeds.split(",")]
    stale = [float(x) for x in args.staleness_ms.split(",")]
    variants = args.variants.split(",")
    jobs = [
        (
            args.mode,
            rounds,
            v,
            a,
            name,
            args.out / args.mode / f"v{v:g}_csi{a:g}ms" / name.replace(" ", "_"),
        )
        for v in speeds
        for a in stale
        for name in variants
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(one, jobs))
    for r in rows:
        print(json.dumps(r), flush=True)
    saved = args.out / args.mode / "rows.json"
    if args.merge and saved.exists():  # keep the other variants' rows of an earlier run
        new = {(r["variant"], r["speed_kmh"], r["staleness_ms"]) for r in rows}
        old = [
            r
            for r in json.loads(saved.read_text())
            if (r["variant"], r["speed_kmh"], r["staleness_ms"]) not in new
        ]
        order = list(VARIANTS)
        rows = sorted(
            old + rows,
            key=lambda r: (r["speed_kmh"], r["staleness_ms"], order.index(r["variant"])),
        )
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(rows, indent=1) + "\n")
    command = (
        f"python scenarios/studies/allocation.py --mode {args.mode} --rounds {rounds} "
        f"--speeds {args.speeds} --staleness-ms {args.staleness_ms}"
    )
    text = table(rows, args.mode, command)
    print(text)
    if not args.no_doc:
        write_doc(text, args.mode)
        print(f"table written to {DOC}")


if __name__ == "__main__":
    main()
