"""Asynchronous aggregation: the staleness weight s(τ) and the two server updates, FedAsync's
mixing (Xie et al. 2019) and FedBuff's buffered step (Nguyen et al. 2022), on LoRA states."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fl.types import State

STALENESS = ("constant", "polynomial", "hinge")


def staleness_weight(tau: int, kind: str, a: float, b: int) -> float:
    """s(τ) for an update τ global versions old: 1 (``constant``), (1+τ)^−a
    (``polynomial``) or 1 if τ ≤ b else 1/(a(τ−b)+1) (``hinge``); FedAsync's forms."""
    if tau < 0:
        raise ValueError(f"staleness must be >= 0, got {tau}")
    if kind == "constant":
        return 1.0
    if kind == "polynomial":
        return float((1.0 + tau) ** (-a))
    if kind == "hinge":
        return 1.0 if tau <= b else 1.0 / (a * (tau - b) + 1.0)
    raise ValueError(f"staleness kind {kind!r} is not one of {', '.join(STALENESS)}")


def mix(global_state: State, client_state: State, alpha: float) -> State:
    """FedAsync: (1 − α)·global + α·client, tensor by tensor (α = 1 takes the client's)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"mixing weight must be in [0, 1], got {alpha}")
    if alpha == 1.0:
        return {n: client_state[n].clone() for n in global_state}
    return {n: (1.0 - alpha) * g + alpha * client_state[n] for n, g in global_state.items()}


def buffered_step(
    global_state: State,
    starts: Sequence[State],
    clients: Sequence[State],
    weights: Sequence[float],
    step: float,
) -> State:
    """FedBuff: global + step · Σ_i w_i (client_i − start_i), each update's change from the
    model its client started from; ``weights`` already hold data share × s(τ)."""
    if not (len(starts) == len(clients) == len(weights)):
        raise ValueError("starts, clients and weights must have one entry per update")
    out = {}
    for n, g in global_state.items():
        delta = torch.zeros_like(g)
        for s, c, w in zip(starts, clients, weights, strict=True):
            delta += float(w) * (c[n] - s[n])
        out[n] = g + step * delta
    return out
