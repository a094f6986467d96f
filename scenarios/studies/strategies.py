"""A quick single-seed look: every strategy on the default cell at one sparsity ratio, with
the paper's error terms; writes a Markdown table.

Runs scenarios/default.toml once per strategy: the sparse ones (topk, svd, random-rank, soft,
soft-delta) at strategy.budget = ρ (each sends that fraction of the LoRA values, with its
index bits, and the head dense), and the dense references fedavg-lora and ffa-lora (B only).
Same seed, same clients, same channel. Prints the table and writes it to OUT/table.md. About
90 s per strategy on 2 cores. One seed ranks nothing: the paired study that does is
scenarios/studies/strategies.toml (docs/STRATEGIES.md).

    python scenarios/studies/strategies.py [--budget 0.25] [--out runs/study-strategies]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from cosim import load_scenario, run

ROOT = Path(__file__).resolve().parents[2]
SPARSE = ("topk", "svd", "random-rank", "soft", "soft-delta")
DENSE = ("fedavg-lora", "ffa-lora")


def _mean(rows: list[dict], col: str) -> float:
    vals = [float(r[col]) for r in rows if r[col] != "" and not math.isnan(float(r[col]))]
    return sum(vals) / len(vals) if vals else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "study-strategies")
    ap.add_argument("--rounds", type=int, default=None, help="override run.rounds")
    args = ap.parse_args()
    lines = [
        f"Default cell (`scenarios/default.toml`), seed 1, sparse strategies sending a share "
        f"ρ = {args.budget} of the LoRA values (bits up include index bits); regenerate with "
        f"`python scenarios/studies/strategies.py --budget {args.budget}`.",
        "",
        "| strategy | budget | final accuracy | bits up (Mbit) | deadline misses | "
        "sep. aggregation error | sparsification error | orth. defect A | orth. defect B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in DENSE + SPARSE:
        budget = args.budget if name in SPARSE else 1.0
        sets = [f"strategy.name={name}", f"strategy.budget={budget}", "output.channel=false"]
        if args.rounds:
            sets.append(f"run.rounds={args.rounds}")
        s = load_scenario(ROOT / "scenarios" / "default.toml", sets)
        res = run(s, args.out / name, overwrite=True, progress=False)
        rows = res.rounds
        misses = sum(r["late"] for r in rows)
        sched = sum(r["scheduled"] for r in rows)
        bits = sum(float(r["bits_up"]) for r in rows) / 1e6
        lines.append(
            f"| {name} | {budget:g} | {res.final_accuracy:.3f} | {bits:.1f} | "
            f"{misses}/{sched} | {_mean(rows, 'sep_agg_error'):.3f} | "
            f"{_mean(rows, 'sparsification_error'):.3f} | {_mean(rows, 'orth_defect_a'):.3f} | "
            f"{_mean(rows, 'orth_defect_b'):.3f} |"
        )
        print(lines[-1], flush=True)
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print(f"table written to {args.out / 'table.md'}")


if __name__ == "__main__":
    main()
