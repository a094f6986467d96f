"""The allocators that give every client the scenario's budget: equal share, inverse spectral
efficiency and min-max latency."""

from __future__ import annotations

import numpy as np

from fl.allocators.bandwidth import minmax_split
from fl.allocators.base import (
    Allocation,
    AllocationRequest,
    FixedBudget,
    InFlightRequest,
    budget_level,
    minmax_in_flight,
)


class EqualShare(FixedBudget):
    """Every scheduled client gets the same bandwidth share and the same fixed budget."""

    name = "equal"
    splits_in_flight = True

    def allocate(self, request: AllocationRequest) -> Allocation:
        """B/n each, the scenario's budget for all."""
        n = len(request.clients)
        return Allocation(
            bandwidth_hz=np.full(n, request.total_bandwidth_hz / max(n, 1)),
            budget=np.full(n, self.budget),
        )

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """B/n among the n uploads on air."""
        n = len(request.clients)
        return np.full(n, request.total_bandwidth_hz / max(n, 1))


class InverseSpectralEfficiency(FixedBudget):
    """Dense; bandwidth ∝ bits / η at the equal share: equal predicted upload times."""

    name = "inverse-se"
    splits_in_flight = True

    def allocate(self, request: AllocationRequest) -> Allocation:
        """α_k ∝ bits_k / η_k(B/n)."""
        n = len(request.clients)
        equal = request.total_bandwidth_hz / max(n, 1)
        eta = request.efficiency(request.snr_per_hz / equal)
        level = np.full(n, budget_level(request, self.budget))
        need = request.bits_at(level) / np.maximum(eta, 1e-12)
        share = need / need.sum() if need.sum() > 0 else np.full(n, 1.0 / n)
        return Allocation(share * request.total_bandwidth_hz, np.full(n, self.budget))

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """α_k ∝ remaining bits_k / η_k(B/n) among the uploads on air."""
        n = len(request.clients)
        eta = request.efficiency(request.snr_per_hz / (request.total_bandwidth_hz / max(n, 1)))
        need = np.asarray(request.remaining_bits, float) / np.maximum(eta, 1e-12)
        share = need / need.sum() if need.sum() > 0 else np.full(n, 1.0 / n)
        return share * request.total_bandwidth_hz


class MinMax(FixedBudget):
    """Min-max latency bandwidth split at a fixed budget (no sparsity choice)."""

    name = "minmax"
    splits_in_flight = True

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

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """Equal predicted ends for the uploads on air (min-max on their remaining bits)."""
        return minmax_in_flight(request)
