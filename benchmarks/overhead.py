"""What the co-simulation costs on top of the learning: a full default run against the same
local training steps (and the same evaluations) run alone, without engine or channel.

    python benchmarks/overhead.py [--scenario scenarios/default.toml] [--rounds N]

Three fresh processes, one after the other: (1) the full run (`cosim.run`, writing its run
folder, checkpoints included); (2) the same clients' local training, round by round, with
the same model, data shards, settings and seeds, the updates averaged, nothing else; (3) the
same as (2) plus the same held-out evaluations the run makes. Each process counts its own
setup (loading model and data). Printed: the three wall times, the ratios full/(2) and
full/(3), and where the full run's time went (timing.json). Host time only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def full_run(scenario: str, rounds: int | None, out: Path) -> dict:
    """The co-simulated run; which (round, client) pairs trained on the host; timing.json."""
    from cosim import Scenario, run

    s = Scenario.load(scenario)
    if rounds:
        s = s.updated({"run.rounds": rounds})
    start = time.perf_counter()
    trained: dict[int, list[int]] = {}

    def watch(e: dict) -> None:
        if e["kind"] == "train_start" and e["host_trained"]:
            trained.setdefault(e["round"], []).append(e["client"])

    res = run(s, out, overwrite=True, observers=[watch])
    wall = time.perf_counter() - start
    evals = sum(1 for _ in res.events("eval"))
    timing = json.loads((out / "timing.json").read_text())
    return dict(wall_s=wall, trained=trained, evals=evals, timing=timing)


def alone(scenario: str, rounds: int | None, trained: dict, evals: int) -> dict:
    """The same local training steps (and ``evals`` evaluations) with no engine or channel."""
    import torch

    from cosim import Scenario
    from cosim.world.components import build_strategy
    from cosim.world.learning import lora_spec, model_source, split_data, train_settings
    from cosim.world.seeding import SeedBank
    from fl import Trainer, build_model, load_bbc_news
    from fl.backends import train_seeded

    start = time.perf_counter()
    s = Scenario.load(scenario)
    if rounds:
        s = s.updated({"run.rounds": rounds})
    seeds = SeedBank(s.run.seed)
    dataset = load_bbc_news()
    data = split_data(s, seeds, dataset)
    seeds.seed_torch("model_init")
    trainer = Trainer(
        build_model(model_source(s), len(dataset.label_names), lora_spec(s)), data.tokens
    )
    strategy, settings = build_strategy(s), train_settings(s)
    state = trainer.initial_state()
    done_evals = 0
    if evals:
        trainer.evaluate(state, data.eval_indices)
        done_evals += 1
    for r in sorted(int(k) for k in trained):
        updates = [
            train_seeded(
                trainer,
                strategy,
                settings,
                (state, data.shards[k], seeds.int_seed("local_train", r, k)),
            ).state
            for k in trained[str(r)]
        ]
        if updates:
            state = {n: torch.stack([u[n] for u in updates]).mean(0) for n in state}
        if done_evals < evals:
            trainer.evaluate(state, data.eval_indices)
            done_evals += 1
    return dict(wall_s=time.perf_counter() - start, trained=sum(map(len, trained.values())))


def _child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, *args]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "default.toml"))
    ap.add_argument("--rounds", type=int, default=0, help="override run.rounds (0: keep)")
    ap.add_argument("--child", choices=["full", "alone"], help=argparse.SUPPRESS)
    ap.add_argument("--trained", help=argparse.SUPPRESS)
    ap.add_argument("--evals", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    common = ["--scenario", args.scenario, "--rounds", str(args.rounds)]
    if args.child == "full":
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(full_run(args.scenario, args.rounds, Path(tmp) / "run")))
        return
    if args.child == "alone":
        trained = json.loads(Path(args.trained).read_text())
        print(json.dumps(alone(args.scenario, args.rounds, trained, args.evals)))
        return
    full = _child([*common, "--child", "full"])
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "trained.json"
        plan.write_text(json.dumps(full["trained"]))
        train = _child([*common, "--child", "alone", "--trained", str(plan)])
        both = _child(
            [*common, "--child", "alone", "--trained", str(plan), "--evals", str(full["evals"])]
        )
    t, w = full["timing"], full["wall_s"]
    print(f"scenario {args.scenario}; {train['trained']} local trainings, {full['evals']} evals")
    print(f"full co-simulated run          {w:8.1f} s")
    print(
        f"same training alone            {train['wall_s']:8.1f} s   ratio {w / train['wall_s']:.3f}"
    )
    print(
        f"same training + evaluations    {both['wall_s']:8.1f} s   ratio {w / both['wall_s']:.3f}"
    )
    print(
        f"full run by phase (timing.json): setup {t['build_s']:.1f} s, training "
        f"{t['train_s']:.1f} s, evaluation {t['eval_s']:.1f} s, engine + channel + I/O "
        f"{t['engine_and_io_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
