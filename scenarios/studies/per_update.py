"""Rates per aggregated update for a protocols study folder (docs/PROTOCOLS.md).

    .venv/bin/python scenarios/studies/per_update.py STUDY_DIR [--reference sync-8]

A global version is not the same amount of work across protocols (a sync round aggregates
several updates, a fedasync version one), so this compares per aggregated update, from each
point's rounds.csv: updates aggregated per simulated second (Σ on_time / last t_end), Mbit on
air per aggregated update (Σ bits_up / Σ on_time) and, for fedasync/fedbuff, the mean
staleness of the aggregated updates. Printed per variant and axis point: the mean over seeds
and the paired difference from the reference with its 95 % Student t interval (scipy); *
where the interval excludes 0.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy import stats


def rates(folder: Path) -> dict[str, float]:
    """The per-update rates of one run folder."""
    with (folder / "rounds.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    updates = np.array([int(r["on_time"]) for r in rows])
    out = {
        "updates_per_s": updates.sum() / float(rows[-1]["t_end"]),
        "mbit_per_update": sum(float(r["bits_up"]) for r in rows) / 1e6 / updates.sum(),
    }
    if "staleness_mean" in rows[0]:
        stale = np.array([float(r["staleness_mean"]) for r in rows])
        out["staleness"] = float((updates * stale).sum() / updates.sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study_dir", type=Path)
    ap.add_argument("--reference", default="sync-8")
    args = ap.parse_args()
    with (args.study_dir / "points.csv").open(newline="") as f:
        points = list(csv.DictReader(f))
    fixed = {"variant", "seed", "point", "status", "seconds"}
    axes = [k for k in points[0] if k not in fixed and "." in k]
    runs: dict[tuple, dict[int, dict[str, float]]] = {}
    for p in points:
        key = (p["variant"], *(p[a] for a in axes))
        runs.setdefault(key, {})[int(p["seed"])] = rates(args.study_dir / p["point"])
    for metric in ("updates_per_s", "mbit_per_update", "staleness"):
        print(f"== {metric}")
        for key, by_seed in sorted(runs.items()):
            if metric not in next(iter(by_seed.values())):
                continue
            mean = np.mean([r[metric] for r in by_seed.values()])
            line = f"{' '.join(key):<40} {mean:9.3g}"
            ref = runs.get((args.reference, *key[1:]), {})
            seeds = sorted(set(by_seed) & set(ref))
            if key[0] != args.reference and len(seeds) > 1 and metric in ref[seeds[0]]:
                d = np.array([by_seed[s][metric] - ref[s][metric] for s in seeds])
                half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                star = " *" if (d.mean() - half) * (d.mean() + half) > 0 else ""
                line += (
                    f"  diff {d.mean():+.3g} [{d.mean() - half:+.3g}, {d.mean() + half:+.3g}]{star}"
                )
            print(line)


if __name__ == "__main__":
    main()
