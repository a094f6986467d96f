"""LoRA factor algebra: layer pairs, rank-one importances, products, and the paper's error terms.

A LoRA layer holds A [r, d_in] and B [d_out, r]; its update is ΔW = B·A = Σ_i b_i a_iᵀ (column i
of B times row i of A). These helpers work on state dicts (name -> tensor) so that strategies
and metrics share one reading of what a layer is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fl.types import State


@dataclass(frozen=True)
class LoraLayer:
    """Names of one adapted layer's factors in a state dict."""

    a: str
    b: str


def lora_layers(state: State) -> list[LoraLayer]:
    """Every (A, B) pair in ``state``, in name order."""
    layers = []
    for name in sorted(state):
        if "lora_A" in name:
            b = name.replace("lora_A", "lora_B")
            if b not in state:
                raise KeyError(f"{name} has no matching {b}")
            layers.append(LoraLayer(name, b))
    return layers


def dense_names(state: State) -> list[str]:
    """Tensors that are not LoRA factors (the head): always sent and averaged dense."""
    return sorted(n for n in state if "lora_A" not in n and "lora_B" not in n)


def importances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-rank importance ‖b_i‖·‖a_i‖ [r] (equals the singular values when A, B orthogonal)."""
    return torch.linalg.vector_norm(b, dim=0) * torch.linalg.vector_norm(a, dim=1)


def product(state: State, layer: LoraLayer) -> torch.Tensor:
    """ΔW = B·A of one layer, in float64."""
    return state[layer.b].double() @ state[layer.a].double()


def orthogonality_defect(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(‖AAᵀ − I‖_F / √r, ‖offdiag(BᵀB)‖_F / ‖BᵀB‖_F): 0 when A's rows are orthonormal and
    B's columns orthogonal (ours: the scale-free forms of the penalty terms)."""
    a, b = a.double(), b.double()
    r = a.shape[0]
    da = torch.linalg.matrix_norm(a @ a.T - torch.eye(r, dtype=a.dtype)) / r**0.5
    btb = b.T @ b
    off = btb - torch.diag(torch.diag(btb))
    norm = torch.linalg.matrix_norm(btb)
    db = torch.linalg.matrix_norm(off) / norm if norm > 0 else torch.zeros((), dtype=b.dtype)
    return float(da), float(db)


def orthogonality_penalty(model: torch.nn.Module) -> torch.Tensor:
    """Σ over layers of ‖AAᵀ − I‖²_F + ‖BᵀB − diag(BᵀB)‖²_F on the model's live parameters."""
    params = dict(model.named_parameters())
    total = None
    for layer in lora_layers({n: p for n, p in params.items() if p.requires_grad}):
        a, b = params[layer.a], params[layer.b]
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        btb = b.T @ b
        term = ((a @ a.T - eye) ** 2).sum() + ((btb - torch.diag(torch.diag(btb))) ** 2).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the model has no trainable LoRA factors")
    return total


def separate_aggregation_error(states: Sequence[State], weights: Sequence[float]) -> float:
    """‖ΔW_joint − ΔW_sep‖_F / ‖ΔW_joint‖_F over all layers, with ΔW_joint = Σ w_k B_k A_k and
    ΔW_sep = (Σ w_k B_k)(Σ w_k A_k); NaN with no states or a zero joint update."""
    if not states:
        return float("nan")
    num = den = 0.0
    for layer in lora_layers(states[0]):
        joint = sum(w * product(s, layer) for s, w in zip(states, weights, strict=True))
        b = sum(w * s[layer.b].double() for s, w in zip(states, weights, strict=True))
        a = sum(w * s[layer.a].double() for s, w in zip(states, weights, strict=True))
        num += float(torch.linalg.matrix_norm(joint - b @ a) ** 2)
        den += float(torch.linalg.matrix_norm(joint) ** 2)
    return (num / den) ** 0.5 if den > 0 else float("nan")


def relative_error(full: State, sent: State) -> float:
    """‖ΔW − ΔW_sent‖_F / ‖ΔW‖_F over all layers (NaN when ΔW = 0)."""
    num = den = 0.0
    for layer in lora_layers(full):
        w = product(full, layer)
        num += float(torch.linalg.matrix_norm(w - product(sent, layer)) ** 2)
        den += float(torch.linalg.matrix_norm(w) ** 2)
    return (num / den) ** 0.5 if den > 0 else float("nan")


def index_bits(kept: int, total: int) -> int:
    """Bits to say which ``kept`` of ``total`` positions were sent: indices or a bitmap."""
    if kept >= total:
        return 0
    return min(total, kept * max(1, (total - 1).bit_length()))
