"""Element-wise top-k of the A and B updates separately (the baseline the paper says hurts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fl.lora_ops import State, index_bits, lora_layers
from fl.strategies.base import Payload, Strategy, kept_count, send_dense, with_dense


class TopK(Strategy):
    """Per factor matrix, the largest-magnitude entries of its change from the global factor.

    A matrix of n entries keeps m = ⌊ρ·n⌋ of them, each with its index (or an n-bit mask when
    shorter). The server adds the weighted sparse changes to the global factors.
    """

    name = "topk"

    def _kept(self, numel: int, budget: float) -> int:
        return kept_count(budget, numel)

    def _factors(self, state: State) -> list[str]:
        return sorted(x for layer in lora_layers(state) for x in (layer.a, layer.b))

    def payload_bits(self, template: State, budget: float) -> int:
        """Kept values, their index bits, and the head."""
        bits = self.head_bits(template)
        for name in self._factors(template):
            n = template[name].numel()
            m = self._kept(n, budget)
            bits += m * self.bits_per_value + index_bits(m, n)
        return bits

    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """Top-m |Δ| entries of every factor (flat indices in meta), the head dense."""
        tensors, meta, values = {}, {}, 0
        for name in self._factors(update):
            delta = (update[name] - global_state[name]).flatten()
            m = self._kept(delta.numel(), budget)
            idx = torch.topk(delta.abs(), m, sorted=False).indices.sort().values
            tensors[name] = self.quantise(delta[idx])
            meta[name] = idx
            values += m
        values += send_dense(self, update, tensors)
        return Payload(tensors, values, self.payload_bits(update, budget), meta)

    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """Global factors plus the sparse changes."""
        out = {n: t.clone() for n, t in global_state.items()}
        for name, idx in payload.meta.items():
            flat = out[name].flatten()
            flat[idx] += payload.tensors[name]
            out[name] = flat.view_as(global_state[name])
        return with_dense(out, payload, global_state)

    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """Global + Σ w_k sparse Δ_k (unsent entries count as no change)."""
        out = {}
        for name in self._factors(global_state):
            acc = torch.zeros(global_state[name].numel(), dtype=torch.float64)
            for p, wk in zip(payloads, weights, strict=True):
                acc.index_add_(0, p.meta[name], wk * p.tensors[name].double())
            g = global_state[name]
            out[name] = (g.double().flatten() + acc).view_as(g).to(g.dtype)
        return out
