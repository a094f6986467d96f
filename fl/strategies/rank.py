"""Rank-slot strategies: send whole rank-one components (column i of B with row i of A).

SOFT keeps the components with the largest importance ‖b_i‖·‖a_i‖ and trains with an
orthogonality penalty so that these importances are the singular values of B·A; SOFT-delta
(ours) trains the same way but keeps the components that changed most from the global ones,
‖b_i a_iᵀ − b_i⁰ a_i⁰ᵀ‖; random-rank keeps components drawn uniformly. All share one mask per
layer for A and B, and the server averages every rank slot over the clients that sent it
(weighted by data size); a slot nobody sent keeps its global value. This is our reading of
the paper (docs/METHOD.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from fl.lora_ops import (
    State,
    importances,
    index_bits,
    lora_layers,
    orthogonality_penalty,
)
from fl.strategies.base import (
    ExtraLoss,
    Payload,
    Strategy,
    kept_count,
    send_dense,
    with_dense,
)
from fl.surrogate import dropped_share_of, top_slots


def dropped_energy(template: State, kept: Callable[[object], int]) -> float:
    """Mean over layers of the share of Σ importance² outside the ``kept(layer)`` largest."""
    shares = []
    for layer in lora_layers(template):
        imp2 = torch.sort(
            importances(template[layer.a], template[layer.b]) ** 2, descending=True
        ).values.double()
        k = kept(layer)
        total = float(imp2.sum())
        shares.append(1.0 - k / len(imp2) if total <= 0 else float(imp2[k:].sum()) / total)
    return float(np.mean(shares)) if shares else 0.0


class RankSlotStrategy(Strategy):
    """Sends k rank-one components per layer with their slot indices."""

    def choose(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        k: int,
        rng: np.random.Generator,
        ga: torch.Tensor,
        gb: torch.Tensor,
    ) -> torch.Tensor:
        """Indices of the k slots to send, from the client's factors A [r, d_in], B [d_out, r]
        and the global ones ``ga``, ``gb`` it started from."""
        raise NotImplementedError

    def _k(self, state: State, layer, budget: float) -> int:
        return kept_count(budget, state[layer.a].shape[0])

    def predicted_error(self, template: State, budget: float) -> float:
        """Share of the global factors' squared importance that k(ρ) components leave out,
        averaged over layers (equal importances while B is still zero)."""
        return dropped_energy(template, lambda layer: self._k(template, layer, budget))

    def surrogate_error(
        self, importance: np.ndarray, budget: float, rng: np.random.Generator
    ) -> float:
        """Dropped share of Σ importance² when the slots ``surrogate_slots`` picks are sent."""
        k = kept_count(budget, importance.shape[1])
        return dropped_share_of(importance, self.surrogate_slots(importance, k, rng))

    def surrogate_slots(
        self, importance: np.ndarray, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Per layer, the k slots sent in a learning-free run (layers x k indices)."""
        raise NotImplementedError

    def payload_bits(self, template: State, budget: float) -> int:
        """k·(d_in + d_out) values and the slot indices per layer, plus the head."""
        bits = self.head_bits(template)
        for layer in lora_layers(template):
            r, d_in = template[layer.a].shape
            d_out = template[layer.b].shape[0]
            k = self._k(template, layer, budget)
            bits += k * (d_in + d_out) * self.bits_per_value + index_bits(k, r)
        return bits

    def compress(
        self, update: State, global_state: State, budget: float, rng: np.random.Generator
    ) -> Payload:
        """Rows of A and columns of B at the chosen slots (slot indices in meta)."""
        tensors, meta, values = {}, {}, 0
        for layer in lora_layers(update):
            a, b = update[layer.a], update[layer.b]
            k = self._k(update, layer, budget)
            ga, gb = global_state[layer.a], global_state[layer.b]
            idx = self.choose(a, b, k, rng, ga, gb).sort().values
            tensors[layer.a] = self.quantise(a[idx, :])
            tensors[layer.b] = self.quantise(b[:, idx])
            meta[layer.a] = idx
            values += a[idx].numel() + b[:, idx].numel()
        values += send_dense(self, update, tensors)
        return Payload(tensors, values, self.payload_bits(update, budget), meta)

    def reconstruct(self, payload: Payload, global_state: State) -> State:
        """Global factors with the sent slots replaced."""
        out = {n: t.clone() for n, t in global_state.items()}
        for layer in lora_layers(global_state):
            idx = payload.meta[layer.a]
            out[layer.a][idx, :] = payload.tensors[layer.a]
            out[layer.b][:, idx] = payload.tensors[layer.b]
        return with_dense(out, payload, global_state)

    def aggregate_factors(
        self, global_state: State, payloads: Sequence[Payload], weights: torch.Tensor
    ) -> State:
        """Per slot: weighted mean over the senders of that slot; unsent slots keep global."""
        out = {}
        for layer in lora_layers(global_state):
            ga, gb = global_state[layer.a], global_state[layer.b]
            a_sum = torch.zeros_like(ga, dtype=torch.float64)
            b_sum = torch.zeros_like(gb, dtype=torch.float64)
            w_sum = torch.zeros(ga.shape[0], dtype=torch.float64)
            for p, wk in zip(payloads, weights, strict=True):
                idx = p.meta[layer.a]
                a_sum[idx, :] += wk * p.tensors[layer.a].double()
                b_sum[:, idx] += wk * p.tensors[layer.b].double()
                w_sum[idx] += wk
            sent = w_sum > 0
            a_new, b_new = ga.double().clone(), gb.double().clone()
            a_new[sent, :] = a_sum[sent, :] / w_sum[sent, None]
            b_new[:, sent] = b_sum[:, sent] / w_sum[None, sent]
            out[layer.a], out[layer.b] = a_new.to(ga.dtype), b_new.to(gb.dtype)
        return out


class Soft(RankSlotStrategy):
    """SOFT (ours as read from the abstract): orthogonality penalty λ, top-k by ‖b_i‖·‖a_i‖."""

    name = "soft"

    def __init__(self, bits_per_value: int, orth_lambda: float) -> None:
        super().__init__(bits_per_value)
        self.orth_lambda = orth_lambda

    def extra_loss(self) -> ExtraLoss | None:
        """λ·(‖AAᵀ − I‖² + ‖offdiag(BᵀB)‖²) summed over layers."""
        if self.orth_lambda == 0:
            return None
        lam = self.orth_lambda
        return lambda model: lam * orthogonality_penalty(model)

    def extra_step_flops(self, template: State) -> float:
        """AAᵀ and BᵀB with their gradients: about 3 x 2·r²·(d_in + d_out) per layer."""
        if self.orth_lambda == 0:
            return 0.0
        total = 0.0
        for layer in lora_layers(template):
            r, d_in = template[layer.a].shape
            d_out = template[layer.b].shape[0]
            total += 3 * 2 * r * r * (d_in + d_out)
        return total

    def choose(self, a, b, k, rng, ga, gb):
        """The k largest importances."""
        return torch.topk(importances(a, b), k).indices

    def surrogate_slots(self, importance, k, rng):
        """The k largest importances of each layer."""
        return top_slots(importance, k)


class SoftDelta(Soft):
    """SOFT's training, but the k slots whose rank-one term changed most from the global one,
    ‖b_i a_iᵀ − b_i⁰ a_i⁰ᵀ‖_F: the error the aggregate suffers from an unsent slot is that
    change, not the slot's size (ours). Learning-free runs pick as SOFT (a profile has no
    global component to differ from)."""

    name = "soft-delta"

    def choose(self, a, b, k, rng, ga, gb):
        """The k largest ‖u vᵀ − p qᵀ‖² = ‖u‖²‖v‖² + ‖p‖²‖q‖² − 2(u·p)(v·q), with u, p the
        columns of B, B⁰ and v, q the rows of A, A⁰ (float64)."""
        return torch.topk(delta_norms2(a, b, ga, gb), k).indices


def delta_norms2(
    a: torch.Tensor, b: torch.Tensor, ga: torch.Tensor, gb: torch.Tensor
) -> torch.Tensor:
    """‖b_i a_iᵀ − gb_i ga_iᵀ‖²_F per rank slot i [r] (float64, clamped at 0 against
    rounding)."""
    a, b, ga, gb = a.double(), b.double(), ga.double(), gb.double()
    own = (b * b).sum(0) * (a * a).sum(1)
    glob = (gb * gb).sum(0) * (ga * ga).sum(1)
    cross = (b * gb).sum(0) * (a * ga).sum(1)
    return torch.clamp(own + glob - 2.0 * cross, min=0.0)


class RandomRank(RankSlotStrategy):
    """Drops rank components uniformly at random at the same budget."""

    name = "random-rank"

    def choose(self, a, b, k, rng, ga, gb):
        """k slots drawn without replacement from the client's seeded stream."""
        return torch.as_tensor(rng.choice(a.shape[0], k, replace=False), dtype=torch.long)

    def surrogate_slots(self, importance, k, rng):
        """k slots per layer drawn without replacement."""
        return np.stack([rng.choice(importance.shape[1], k, replace=False) for _ in importance])
