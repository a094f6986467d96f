"""SVD-truncated upload: form ΔW = B·A per layer, send its top-k singular triplets.

This is the cost SOFT avoids: the client forms B·A (d_out x d_in) and takes its SVD, charged
to the compute model. It sends B' = U_k·√Σ_k and A' = √Σ_k·V_kᵀ (no indices: triplets are
ordered). The server sums the weighted products (so it has no separate-aggregation error) and
re-factorises the sum at rank r, giving the new global A and B.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fl.lora_ops import State, lora_layers
from fl.strategies.base import Payload, Strategy, kept_count, send_dense, with_dense
from fl.strategies.rank import dropped_energy
from fl.surrogate import dropped_share_of, top_slots


def svd_flops(m: int, n: int) -> float:
    """Thin SVD of an m x n matrix (m >= n), computing U, Σ, V: 4m²n + 22n³ (Golub & Van Loan,
    R-SVD), plus 2·m·n·r for forming B·A is added by the caller."""
    m, n = max(m, n), min(m, n)
    return 4.0 * m * m * n + 22.0 * n**3


def _split(w: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    root = s[:rank].sqrt()
    return u[:, :rank] * root, root[:, None] * vh[:rank, :]


class SVDTruncated(Strategy):
    """Top-k singular triplets of each layer's B·A."""

    name = "svd"

    def _k(self, state: State, layer, budget: float) -> int:
        return kept_count(budget, state[layer.a].shape[0])

    def predicted_error(self, template: State, budget: float) -> float:
        """As for the rank strategies: the global factors' importance profile."""
        return dropped_energy(template, lambda layer: self._k(template, layer, budget))

    def surrogate_error(
        self, importance: np.ndarray, budget: float, rng: np.random.Generator
    ) -> float:
        """With orthogonal components the importances are the singular values: the top k."""
        return dropped_share_of(
            importance, top_slots(importance, kept_count(budget, importance.shape[1]))
        )

    def extra_round_flops(self, template: State, budget: float) -> float:
        """Forming every B·A and its SVD."""
        total = 0.0
        for layer in lora_layers(template):
            r, d_in = template[layer.a].shape
            d_out = template[layer.b].shape[0]
            total += 2.0 * d_out * r * d_in + svd_flops(d_out, d_in)
        return total

    def payload_bits(self, template: State, budget: float) -> int:
        """k·(d_in + d_out) values per layer and the head."""
        bits = self.head_bits(template)
        for layer in lora_layers(template):
            d_in = template[layer.a].shape[1]
            d_out = template[layer.b].shape[0]
            bits += self._k(template, layer, budget) * (d_in + d_out) * self.bits_per_value
        return bits

    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """U_k√Σ_k and √Σ_kV_kᵀ per layer, the head dense."""
        tensors, values = {}, 0
        for layer in lora_layers(update):
            w = update[layer.b].double() @ update[layer.a].double()
            b, a = _split(w, self._k(update, layer, budget))
            tensors[layer.b] = self.quantise(b.to(update[layer.b].dtype))
            tensors[layer.a] = self.quantise(a.to(update[layer.a].dtype))
            values += a.numel() + b.numel()
        values += send_dense(self, update, tensors)
        return Payload(tensors, values, self.payload_bits(update, budget))

    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """Factors zero-padded to rank r (their product is the truncated ΔW)."""
        out = {}
        for layer in lora_layers(global_state):
            a, b = payload.tensors[layer.a], payload.tensors[layer.b]
            k = a.shape[0]
            out[layer.a] = torch.zeros_like(global_state[layer.a])
            out[layer.b] = torch.zeros_like(global_state[layer.b])
            out[layer.a][:k] = a
            out[layer.b][:, :k] = b
        return with_dense(out, payload, global_state)

    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """Σ w_k B'_k A'_k per layer, re-factorised at rank r."""
        out = {}
        for layer in lora_layers(global_state):
            r = global_state[layer.a].shape[0]
            joint = sum(
                wk * (p.tensors[layer.b].double() @ p.tensors[layer.a].double())
                for p, wk in zip(payloads, weights, strict=True)
            )
            b, a = _split(joint, r)
            out[layer.b] = b.to(global_state[layer.b].dtype)
            out[layer.a] = a.to(global_state[layer.a].dtype)
        return out
