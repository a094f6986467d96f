"""The Python API in one script: load a scenario, change fields, register a custom mobility
model, allocator and strategy by name, watch events as they happen, and read the tables.

    python examples/custom_components.py                 # the tiny scenario, really trained
    python examples/custom_components.py --learning-free --rounds 20 --out runs/api-example

The three components are small but real:
- ``orbit``: clients circle the base station at their start distance (mobility.options:
  speed_mps), each in a direction drawn from its own random slot;
- ``snr-weighted``: band shares proportional to SNR^(-exponent) at the estimated channel
  (allocation.options: exponent; 0 = equal shares, 1 = the weakest gets the most);
- ``seeded-random-k``: each factor sends a random ρ share of its change, at positions drawn
  from a 32-bit seed sent with it, so no index bits go on air (random-k with a shared seed).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from cosim import Scenario, read_run, register_allocator, register_mobility, register_strategy, run
from cosim.mobility import Paths
from fl import Allocation, AllocationRequest
from fl.lora_ops import State
from fl.strategies import Payload, TopK
from fl.strategies.base import send_dense

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ a mobility model
class Orbit(Paths):
    """Circles around the base station (x = y = 0) at constant speed, as chords of leg_s."""

    name = "orbit"
    uniforms_per_leg = 1

    def __init__(self, start, block_rng, speed_mps: float, leg_s: float = 1.0) -> None:
        super().__init__(start, block_rng)
        self.speed, self.leg_s = speed_mps, leg_s

    def next_legs(self, clients, legs, p, v_prev):
        """Velocity along the chord to where the circle has turned after leg_s."""
        r = np.maximum(np.hypot(p[:, 0], p[:, 1]), 1e-9)
        turn = p[:, 0] * v_prev[:, 1] - p[:, 1] * v_prev[:, 0]  # keeps the last leg's sense
        first = legs == 0
        sign = np.where(first, np.where(self.uniforms(clients, legs)[:, 0] < 0.5, -1.0, 1.0), 1.0)
        sign = np.where(~first, np.sign(turn) + (turn == 0), sign)
        angle = np.arctan2(p[:, 1], p[:, 0]) + sign * self.speed * self.leg_s / r
        nxt = np.stack([r * np.cos(angle), r * np.sin(angle), p[:, 2]], axis=1)
        return (nxt - p) / self.leg_s, np.full(len(clients), self.leg_s)


@register_mobility("orbit")
def make_orbit(scenario: Scenario, placement: np.ndarray, block_rng) -> Orbit:
    """mobility.options: speed_mps (default 1.5)."""
    opts = dict(scenario.mobility.options)
    speed = float(opts.pop("speed_mps", 1.5))
    if opts or not 0 < speed <= 100:
        raise ValueError(f"options are speed_mps in (0, 100]; got {scenario.mobility.options}")
    return Orbit(placement, block_rng, speed)


# ------------------------------------------------------------------ an allocator
class SnrWeighted:
    """Band share ∝ SNR^(-exponent) at the estimated channel; the scenario's fixed budget."""

    name = "snr-weighted"
    chooses_budgets = False

    def __init__(self, exponent: float, budget: float) -> None:
        self.exponent, self.budget = exponent, budget

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Shares of the whole band, weaker (or stronger) clients favoured by ``exponent``."""
        w = np.asarray(request.snr_per_hz, dtype=float) ** (-self.exponent)
        return Allocation(
            bandwidth_hz=request.total_bandwidth_hz * w / w.sum(),
            budget=np.full(len(w), self.budget),
            info={"exponent": self.exponent},  # shows up in the `allocator` event
        )

    def observe(self, round_latency_s: float) -> None:
        """Stateless."""


@register_allocator("snr-weighted")
def make_snr_weighted(scenario: Scenario) -> SnrWeighted:
    """allocation.options: exponent (default 0.5)."""
    return SnrWeighted(
        float(scenario.allocation.options.get("exponent", 0.5)), scenario.strategy.budget
    )


# ------------------------------------------------------------------ a strategy
class SeededRandomK(TopK):
    """Random-k sparsification with a shared seed: the positions are re-drawn by the server
    from a 32-bit seed per factor instead of being sent as indices."""

    name = "seeded-random-k"

    def payload_bits(self, template: State, budget: float) -> int:
        """Kept values, one 32-bit seed per factor, and the head."""
        bits = self.head_bits(template)
        for name in self._factors(template):
            bits += self._kept(template[name].numel(), budget) * self.bits_per_value + 32
        return bits

    def compress(self, update, global_state, budget, rng) -> Payload:
        """A random ρ share of each factor's change (the positions as meta, as the server
        re-draws them from the seed)."""
        tensors, meta, values = {}, {}, 0
        for name in self._factors(update):
            delta = (update[name] - global_state[name]).flatten()
            m = self._kept(delta.numel(), budget)
            idx = torch.from_numpy(np.sort(rng.choice(delta.numel(), m, replace=False)))
            tensors[name], meta[name] = self.quantise(delta[idx]), idx
            values += m
        values += send_dense(self, update, tensors)
        return Payload(tensors, values, self.payload_bits(update, budget), meta)


register_strategy("seeded-random-k", lambda s: SeededRandomK(s.strategy.bits_per_value))


# ------------------------------------------------------------------ the run
def main() -> None:
    """Run the tiny scenario with the three components and show what the API gives back."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "api-example")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--learning-free", action="store_true", help="fl.mode = surrogate")
    args = ap.parse_args()

    scenario = Scenario.load(REPO / "scenarios" / "tiny.toml").updated(
        {
            "run.rounds": args.rounds,
            "mobility.model": "orbit",
            "mobility.options": {"speed_mps": 3.0},
            "allocation.name": "snr-weighted",
            "allocation.options": {"exponent": 0.5},
            "strategy.name": "seeded-random-k",
            "strategy.budget": 0.5,
            "fl.mode": "surrogate" if args.learning_free else "train",
        }
    )

    seen: Counter[str] = Counter()
    misses: list[tuple[int, int, str]] = []

    def watch(event: dict) -> None:
        """Called for every event the moment it is logged (simulated time in event['t'])."""
        seen[event["kind"]] += 1
        if event["kind"] == "deadline_miss":
            misses.append((event["round"], event["client"], event["phase"]))

    result = run(scenario, args.out, overwrite=True, observers=[watch])
    print(f"events by kind: {dict(sorted(seen.items()))}")
    print(f"deadline misses (round, client, phase): {misses}")
    print(f"summary: {result.summary()}")
    rounds = result.frame("rounds")  # a pandas DataFrame (pip install '.[analysis]')
    print(rounds[["round", "t_end", "on_time", "scheduled", "bits_up", "accuracy"]])
    clients = read_run(args.out).frame("clients")  # the same tables, read back from disk
    print(clients.groupby("client")[["distance_m", "bandwidth_hz", "on_time"]].mean())


if __name__ == "__main__":
    main()
