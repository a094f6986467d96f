"""Federated strategies: what a client sends and how the server combines it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Payload:
    """What goes on air: the tensors sent, the count of values and the exact bits."""

    tensors: State
    values: int
    bits: int


class Strategy(ABC):
    """One federated fine-tuning method: payload size, compression and aggregation."""

    name: str

    def __init__(self, bits_per_value: int) -> None:
        if bits_per_value not in (16, 32):
            raise ValueError(f"bits_per_value must be 16 or 32, got {bits_per_value}")
        self.bits_per_value = bits_per_value

    @abstractmethod
    def payload_bits(self, template: State, budget: float) -> int:
        """Bits a client will send at ``budget`` (fraction kept, 1.0 = dense), before training."""

    @abstractmethod
    def compress(self, update: State, budget: float) -> Payload:
        """Turn a client's trained tensors into the payload it uploads."""

    @abstractmethod
    def aggregate(
        self, global_state: State, payloads: Sequence[Payload], weights: Sequence[float]
    ) -> State:
        """New global state from the payloads that arrived on time (weights sum to 1)."""


class FedAvgLoRA(Strategy):
    """Dense LoRA A, B and head; A and B averaged separately (as the paper analyses)."""

    name = "fedavg-lora"

    def payload_bits(self, template: State, budget: float) -> int:
        """Every trainable value at ``bits_per_value`` bits; no index bits (dense)."""
        return sum(t.numel() for t in template.values()) * self.bits_per_value

    def compress(self, update: State, budget: float) -> Payload:
        """Dense: send every tensor (rounded to 16 bits when bits_per_value is 16)."""
        if budget != 1.0:
            raise ValueError("fedavg-lora sends dense updates; budget must be 1.0")
        tensors = {n: _quantise(t, self.bits_per_value) for n, t in update.items()}
        values = sum(t.numel() for t in tensors.values())
        return Payload(tensors, values, values * self.bits_per_value)

    def aggregate(
        self, global_state: State, payloads: Sequence[Payload], weights: Sequence[float]
    ) -> State:
        """Weighted mean of each tensor separately (A with A, B with B); unchanged if none."""
        if not payloads:
            return {n: t.clone() for n, t in global_state.items()}
        w = torch.tensor(list(weights), dtype=torch.float64)
        if not torch.isclose(w.sum(), torch.tensor(1.0, dtype=torch.float64)):
            raise ValueError(f"aggregation weights must sum to 1, got {float(w.sum())}")
        out = {}
        for name, g in global_state.items():
            stacked = torch.stack([p.tensors[name].to(torch.float64) for p in payloads])
            mean = torch.tensordot(w, stacked, dims=1)
            out[name] = mean.to(g.dtype)
        return out


def _quantise(t: torch.Tensor, bits: int) -> torch.Tensor:
    return t.to(torch.float16).to(t.dtype) if bits == 16 else t.clone()


STRATEGIES: dict[str, type[Strategy]] = {FedAvgLoRA.name: FedAvgLoRA}
