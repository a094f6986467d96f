"""TSFA stage 1 (offline, before round 1): choose the LoRA rank (and SOFT's λ) from a grid.

Ours, as read from the abstract (docs/ALLOCATION.md). Every candidate gets two scores:

* **expected round latency** at average channel conditions: each client at its starting
  position with the LoS-probability-weighted 38.901 path loss (shadowing, penetration and
  fading at their mean-free values), its device's compute time for the candidate's FLOPs, and
  the min-max bandwidth split of the candidate's payload (at strategy.budget) over
  clients.per_round clients, capped at the deadline (a set with a device too slow to finish
  training lasts until the deadline, as in the engine), averaged over 16 seeded draws of the
  scheduled set;
* **pilot loss** (trained runs only): one federated round of real local training at the
  candidate's rank/λ by a few seeded clients from the same initial point, averaged on the
  server, then the held-out cross-entropy.

The choice: among candidates whose expected latency meets allocation.latency_target_s, the
lowest pilot loss; in a learning-free run (no pilot possible) the largest rank, λ unchanged.
When no candidate meets the target, the one with the least expected latency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from channels import distances
from channels.tr38901 import los_probability, pathloss_db
from cosim.scenario.schema import Scenario
from cosim.world.components import build_strategy
from cosim.world.compute import ComputeModel
from cosim.world.learning import model_source
from cosim.world.radio import Radio, efficiency_of
from cosim.world.seeding import SeedBank
from fl import LoraSpec, Strategy, model_skeleton, step_flops
from fl.allocators.tsfa_stage1 import choose, planned_round_s

DRAWS = 16


@dataclass(frozen=True)
class Stage1Result:
    """Candidates with their scores, the chosen one, and the scenario carrying the choice."""

    candidates: list[dict[str, Any]]
    chosen: dict[str, Any]
    scenario: Scenario
    rule: str


def mean_gain_db(s: Scenario, positions: np.ndarray, bs_position: np.ndarray) -> np.ndarray:
    """LoS-probability-weighted 38.901 path gain [dB] at ``positions`` [K, 3] (the cell of
    channel.model; UMi for the simple models)."""
    cell = s.channel.model if s.channel.model in ("umi", "uma", "rma") else "umi"
    d2d, d3d = distances(positions, bs_position)
    d2d = np.maximum(d2d, 10.0)
    d3d = np.sqrt(d2d**2 + (positions[:, 2] - bs_position[2]) ** 2)
    h_ut = positions[:, 2]
    args = (cell, d2d, d3d, s.channel.carrier_hz, bs_position[2], h_ut)
    p = los_probability(cell, d2d, h_ut)
    pl = p * pathloss_db(*args, np.ones_like(d2d, bool)) + (1 - p) * pathloss_db(
        *args, np.zeros_like(d2d, bool)
    )
    return -pl


def expected_latency(
    s: Scenario,
    strategy: Strategy,
    template: dict[str, torch.Tensor],
    flops_per_step: float,
    snr_per_hz: np.ndarray,
    compute: ComputeModel,
    efficiency: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
) -> float:
    """Mean min-max round latency (broadcast + compute + upload) over seeded scheduled sets."""
    flops = (
        flops_per_step + strategy.extra_step_flops(template)
    ) * s.train.local_steps + strategy.extra_round_flops(template, s.strategy.budget)
    bits = float(strategy.payload_bits(template, s.strategy.budget))
    out = []
    for _ in range(DRAWS):
        k = np.sort(rng.choice(s.clients.count, s.clients.per_round, replace=False))
        compute_s = compute.seconds(k, flops)
        left = s.deadline.seconds - s.server.broadcast_s
        out.append(
            planned_round_s(
                np.full(len(k), bits),
                compute_s,
                snr_per_hz[k],
                s.channel.bandwidth_hz,
                left,
                efficiency,
            )
        )
    return s.server.broadcast_s + float(np.mean(out))


def candidates(s: Scenario) -> list[dict[str, Any]]:
    """The (rank, λ) grid; λ only varies for SOFT in a trained run."""
    a = s.allocation
    lambdas = (
        a.stage1_lambdas if a.stage1_lambdas and s.fl.mode == "train" else (s.strategy.orth_lambda,)
    )
    return [{"rank": int(r), "orth_lambda": float(lam)} for r in a.stage1_ranks for lam in lambdas]


def run_stage1(
    s: Scenario,
    seeds: SeedBank,
    positions: np.ndarray,
    bs_position: np.ndarray,
    compute: ComputeModel,
    radio: Radio,
    num_classes: int,
    pilot: Callable[[Scenario, Strategy], tuple[float, float]] | None,
) -> Stage1Result:
    """Score every candidate and return the scenario with the chosen rank and λ. The channel
    it scores on: the LoS-weighted path gain to the one base station; over several cells
    (cells.layout = hex), each client's coupling gain to its strongest cell at the start."""
    if s.cells.multi:
        clients = np.arange(len(positions))
        gain_db = radio.channel.strongest_gain_db(clients, positions)  # type: ignore[attr-defined]
    else:
        gain_db = mean_gain_db(s, positions, bs_position)
    snr_per_hz = radio.link.snr_per_hz(gain_db)
    efficiency = efficiency_of(radio.rate)
    rows = []
    shapes: dict[int, tuple[dict[str, torch.Tensor], float]] = {}  # per rank, not per λ
    for cand in candidates(s):
        sc = with_choice(s, cand)
        strategy = build_strategy(sc)
        if cand["rank"] not in shapes:
            spec = LoraSpec(
                rank=cand["rank"], alpha=s.model.lora_alpha, targets=s.model.lora_targets
            )
            source = model_source(s)
            skeleton = model_skeleton(source, num_classes, spec)
            shapes[cand["rank"]] = (
                {n: p for n, p in skeleton.named_parameters() if p.requires_grad},
                step_flops(source, num_classes, spec, s.train.batch_size, s.model.max_seq_len),
            )
        template, flops = shapes[cand["rank"]]
        row = dict(cand)
        row["payload_bits"] = int(strategy.payload_bits(template, s.strategy.budget))
        row["expected_latency_s"] = expected_latency(
            sc,
            strategy,
            template,
            flops,
            snr_per_hz,
            compute,
            efficiency,
            seeds.rng("stage1_schedule"),
        )
        if pilot is not None:
            row["pilot_loss"], row["pilot_accuracy"] = pilot(sc, strategy)
        rows.append(row)
    best, rule = choose(rows, s.allocation.latency_target_s, pilot is None)
    chosen = rows[best]
    return Stage1Result(rows, chosen, with_choice(s, chosen), rule)


def with_choice(s: Scenario, cand: dict[str, Any]) -> Scenario:
    """``s`` with a candidate's LoRA rank and SOFT penalty."""
    return s.model_copy(
        update={
            "model": s.model.model_copy(update={"lora_rank": cand["rank"]}),
            "strategy": s.strategy.model_copy(update={"orth_lambda": cand["orth_lambda"]}),
        }
    )
