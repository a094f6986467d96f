"""The allocators that give every client the scenario's budget: equal share, inverse spectral
efficiency and min-max latency."""

from __future__ import annotations

import numpy as np

from fl.allocators.bandwidth import minmax_split
from fl.allocators.base import Allocation, AllocationRequest, FixedBudget, budget_level


class EqualShare(FixedBudget):
    """Every scheduled client gets the same bandwidth share and the same fixed budget."""

    name = "equal"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """B/n each, the scenario's budget for all."""
        n = len(request.clients)
        return Allocation(
            bandwidth_hz=np.full(n, request.total_bandwidth_hz / max(n, 1)),
            budget=np.full(n, self.budget),
        )


class InverseSpectralEfficiency(FixedBudget):
    """Dense; bandwidth ∝ bits / η at the equal share: equal predicted upload times."""

    name = "inverse-se"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """α_k ∝ bits_k / η_k(B/n)."""
        n = len(request.clients)
        equal = request.total_bandwidth_hz / max(n, 1)
        eta = request.efficiency(request.snr_per_hz / equal)
        level = np.full(n, budget_level(request, self.budget))
        need = request.bits_at(level) / np.maximum(eta, 1e-12)
        share = need / need.sum() if need.sum() > 0 else np.full(n, 1.0 / n)
        return Allocation(share * request.total_bandwidth_hz, np.full(n, self.budget))


class MinMax(FixedBudget):
    """Min-max latency bandwidth split at a fixed budget (no sparsity choice)."""

    name = "minmax"

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Equal predicted finish (compute + upload) by bisection on the latency."""
        n = len(request.clients)
        level = np.full(n, budget_level(request, self.budget))
        bw, t = minmax_split(
            request.bits_at(level),
            request.compute_s,
            request.snr_per_hz,
            request.total_bandwidth_hz,
            request.efficiency,
        )
        return Allocation(bw, np.full(n, self.budget), {"predicted_round_s": t})
