"""Record a surrogate profile from real training: per-rank importances of trained LoRA updates.

    python scenarios/profiles/record.py [SCENARIO] [--clients N] [--out PATH]

Builds the scenario's real model and data (fl.mode must be "train"), trains N clients for one
round of local steps from the initial adapter with the scenario's strategy (its penalty
included), and measures every layer's importances ‖b_i‖·‖a_i‖ (B starts at zero, so these are
the update's). Each layer's sorted importances are divided by their largest; the profile is
their mean over layers and clients, and the spread is the standard deviation of
log(importance / profile). Writes the JSON that fl.profile reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cosim.scenario import load_scenario
from cosim.world.build import build_world
from fl import SurrogateProfile, TrainSettings, lora_layers
from fl.lora_ops import importances

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=HERE.parent / "default.toml", type=Path)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--set", dest="overrides", action="append", default=["strategy.name=soft"])
    parser.add_argument("--out", type=Path, default=HERE / "minilm_bbc_soft.json")
    args = parser.parse_args()
    s = load_scenario(args.scenario, args.overrides)
    w = build_world(s)
    settings = TrainSettings(
        s.train.local_steps, s.train.batch_size, s.train.lr, s.train.weight_decay
    )
    state0 = w.initial_state
    rows = []
    for k in range(min(args.clients, s.clients.count)):
        w.seeds.seed_torch("local_train", 1, k)
        update = w.trainer.train(
            state0,
            w.shards[k],
            settings,
            extra_loss=w.strategy.extra_loss(),
            frozen=w.strategy.frozen,
        )
        for layer in lora_layers(update.state):
            imp = np.sort(importances(update.state[layer.a], update.state[layer.b]).numpy())[::-1]
            rows.append(imp / imp[0])
    rows = np.array(rows, dtype=float)
    mean = rows.mean(axis=0)
    mean = mean / mean[0]
    spread = float(np.std(np.log(rows / mean[None, :])))
    profile = SurrogateProfile(
        source=(
            f"recorded: {args.scenario.name} with {' '.join(args.overrides)}, "
            f"{len(rows) // len(lora_layers(state0))} clients x {s.train.local_steps} steps, "
            f"rank {s.model.lora_rank}, {len(lora_layers(state0))} layers"
        ),
        importance=mean,
        spread=spread,
    )
    profile.save(args.out)
    print(f"{args.out}: importance {np.round(mean, 3).tolist()}, spread {spread:.3f}")


if __name__ == "__main__":
    main()
