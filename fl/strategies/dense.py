"""Dense strategies: FedAvg-LoRA (A and B averaged separately) and FFA-LoRA (A frozen)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fl.lora_ops import State, dense_names, lora_layers
from fl.strategies.base import Payload, Strategy


class FedAvgLoRA(Strategy):
    """Dense LoRA A, B and head; A and B averaged separately (as the paper analyses)."""

    name = "fedavg-lora"
    dense_only = True

    def payload_bits(self, template: State, budget: float) -> int:
        """Every trainable value at ``bits_per_value`` bits; no index bits."""
        return self.dense_lora_bits(template) + self.head_bits(template)

    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """Send every tensor."""
        if budget != 1.0:
            raise ValueError(f"{self.name} sends dense updates; budget must be 1.0")
        tensors = {n: self.quantise(t) for n, t in update.items()}
        values = sum(t.numel() for t in tensors.values())
        return Payload(tensors, values, values * self.bits_per_value)

    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """Exactly what was sent."""
        return dict(payload.tensors)

    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """Weighted mean of each factor separately (A with A, B with B)."""
        names = [x for layer in lora_layers(global_state) for x in (layer.a, layer.b)]
        return self.average_dense(global_state, payloads, weights, names)


class FFALoRA(Strategy):
    """FFA-LoRA: A frozen at its shared initialisation; only B and the head trained and sent."""

    name = "ffa-lora"
    dense_only = True

    def frozen(self, name: str) -> bool:
        """A factors do not train."""
        return "lora_A" in name

    def _sent(self, state: State) -> list[str]:
        return sorted([layer.b for layer in lora_layers(state)] + dense_names(state))

    def payload_bits(self, template: State, budget: float) -> int:
        """B and head values only."""
        return sum(template[n].numel() for n in self._sent(template)) * self.bits_per_value

    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """Send B and the head."""
        if budget != 1.0:
            raise ValueError(f"{self.name} sends dense B; budget must be 1.0")
        tensors = {n: self.quantise(update[n]) for n in self._sent(update)}
        values = sum(t.numel() for t in tensors.values())
        return Payload(tensors, values, values * self.bits_per_value)

    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """The shared A with the client's B."""
        return {**global_state, **payload.tensors}

    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """Average B; A stays."""
        names = [layer.b for layer in lora_layers(global_state)]
        return self.average_dense(global_state, payloads, weights, names)
