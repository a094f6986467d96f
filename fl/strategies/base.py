"""The strategy interface: what a client trains, what it sends within a bit budget, and how the
server combines what arrived. Shared pieces: payloads, dense tensors, budgets, quantisation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fl.lora_ops import dense_names, lora_layers
from fl.types import ExtraLoss, State


@dataclass(frozen=True)
class Payload:
    """What goes on air: the tensors sent, how many values and the exact bits (values x bits per
    value + index bits); ``meta`` says where sent values belong (kept slots, masks)."""

    tensors: State
    values: int
    bits: int
    meta: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """One federated fine-tuning method. ``budget`` is the sparsity ratio ρ: the fraction of
    the LoRA values a client sends (1.0 = dense); index bits are counted on top, and the head
    is always sent dense."""

    name: str
    dense_only = False  # True: the strategy has no sparse form (budget must be 1.0)

    def __init__(self, bits_per_value: int) -> None:
        if bits_per_value not in (16, 32):
            raise ValueError(f"bits_per_value must be 16 or 32, got {bits_per_value}")
        self.bits_per_value = bits_per_value

    # ------------------------------------------------------------- client side
    def frozen(self, name: str) -> bool:
        """Whether the trainable tensor ``name`` stays fixed in local training."""
        return False

    def extra_loss(self) -> ExtraLoss | None:
        """A regulariser added to the local loss, or None."""
        return None

    def extra_step_flops(self, template: State) -> float:
        """FLOPs this strategy adds to every local step (e.g. a penalty's gradients)."""
        return 0.0

    def extra_round_flops(self, template: State, budget: float) -> float:
        """FLOPs this strategy adds once per round at the client (e.g. an SVD)."""
        return 0.0

    def predicted_error(self, template: State, budget: float) -> float:
        """Predicted sparsification error Φ at ``budget`` before training (for TSFA): here the
        share of LoRA values not sent; rank strategies use the importance profile."""
        return float(max(0.0, 1.0 - budget))

    def surrogate_error(
        self, importance: np.ndarray, budget: float, rng: np.random.Generator
    ) -> float:
        """Learning-free runs: the share of an update with per-rank ``importance`` (layers x r,
        orthogonal components) that a payload at ``budget`` drops. Here, as predicted: the
        share of LoRA values not sent; rank strategies drop whole components."""
        return float(max(0.0, 1.0 - budget))

    @abstractmethod
    def payload_bits(self, template: State, budget: float) -> int:
        """Bits a client will send at ``budget``, known before training."""

    @abstractmethod
    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """The payload for a client's trained tensors ``update``.

        In: ``update`` and ``global_state``: State (name -> float32 torch tensor; LoRA factors
        A [r, d_in], B [d_out, r] per layer, and the head), the client's trained adapter and
        the model it started from; ``budget`` ρ in (0, 1], the share of the LoRA values it may
        send (one of the allocator's grid); ``rng``: seeded per (round, client).
        Out: a Payload — the tensors sent, ``values`` (count) and ``bits`` (int, values ×
        bits_per_value + index bits: what the upload timing sends over the channel)."""

    @abstractmethod
    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """The client's factors as the server sees them (unsent parts from the global state)."""

    def aggregate(
        self, global_state: State, payloads: Sequence[Payload], weights: Sequence[float]
    ) -> State:
        """New global state from the on-time payloads (weights sum to 1): the strategy combines
        the LoRA factors, the head is averaged; nothing arrived, nothing changes."""
        out = {n: t.clone() for n, t in global_state.items()}
        if not payloads:
            return out
        w = check_weights(weights)
        out.update(self.aggregate_factors(global_state, payloads, w))
        out.update(self.average_dense(global_state, payloads, w, dense_names(global_state)))
        return out

    @abstractmethod
    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """New values of the LoRA factors this strategy changes."""

    # ------------------------------------------------------------- shared helpers
    def quantise(self, t: torch.Tensor) -> torch.Tensor:
        """A copy of ``t`` as it arrives: rounded to float16 when 16 bits are sent per value."""
        return t.to(torch.float16).to(t.dtype) if self.bits_per_value == 16 else t.clone()

    def head_bits(self, state: State) -> int:
        """Bits of the dense (non-LoRA) tensors."""
        return sum(state[n].numel() for n in dense_names(state)) * self.bits_per_value

    def dense_lora_bits(self, state: State) -> int:
        """Bits of all LoRA factors sent dense."""
        return (
            sum(state[x].numel() for layer in lora_layers(state) for x in (layer.a, layer.b))
            * self.bits_per_value
        )

    def average_dense(
        self,
        global_state: State,
        payloads: Sequence[Payload],
        weights: torch.Tensor,
        names: Sequence[str],
    ) -> State:
        """Weighted mean of tensors ``names`` over payloads that all carry them; ``weights``
        as checked by ``aggregate``."""
        out = {}
        for name in names:
            stacked = torch.stack([p.tensors[name].double() for p in payloads])
            out[name] = torch.tensordot(weights, stacked, dims=1).to(global_state[name].dtype)
        return out


def send_dense(strategy: Strategy, update: State, tensors: State) -> int:
    """Add the head (dense) to a payload's ``tensors``; returns the number of values added."""
    values = 0
    for name in dense_names(update):
        tensors[name] = strategy.quantise(update[name])
        values += update[name].numel()
    return values


def with_dense(out: State, payload: Payload, global_state: State) -> State:
    """``out`` with the payload's head tensors in place (the head is always sent dense)."""
    for name in dense_names(global_state):
        out[name] = payload.tensors[name].clone()
    return out


def check_weights(weights: Sequence[float]) -> torch.Tensor:
    """Weights as a float64 tensor, checked to sum to 1."""
    w = torch.tensor(list(weights), dtype=torch.float64)
    if len(w) and abs(float(w.sum()) - 1.0) > 1e-9:
        raise ValueError(f"aggregation weights must sum to 1, got {float(w.sum())}")
    return w


def kept_count(budget: float, total: int) -> int:
    """How many of ``total`` items a sparsity ratio ``budget`` keeps: ⌊ρ·total⌋, at least 1."""
    return max(1, min(total, int(np.floor(budget * total + 1e-9))))
