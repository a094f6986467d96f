"""Bandwidth/budget allocators: turn estimated channels into each client's share and budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


def shannon_efficiency(snr: np.ndarray) -> np.ndarray:
    """log2(1 + SNR) for a linear SNR."""
    return np.log2(1.0 + np.asarray(snr, dtype=float))


@dataclass(frozen=True)
class AllocationRequest:
    """What the allocator knows at the `csi` event, one entry per scheduled client.

    ``snr_per_hz`` is the estimated linear SNR times 1 Hz: over a bandwidth b the client's SNR
    is snr_per_hz / b. ``dense_bits`` is the payload at budget 1.0; ``compute_s`` the predicted
    local training time; ``time_left_s`` the time from now to the deadline; ``efficiency`` maps
    a linear SNR to bit/s/Hz as the link does (log2(1 + SNR) unless a PHY model is in use).
    """

    clients: np.ndarray
    snr_per_hz: np.ndarray
    dense_bits: np.ndarray
    compute_s: np.ndarray
    total_bandwidth_hz: float
    time_left_s: float
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency


@dataclass(frozen=True)
class Allocation:
    """Bandwidth [Hz] and budget (fraction of the update kept, 1.0 = dense) per client."""

    bandwidth_hz: np.ndarray
    budget: np.ndarray

    def __post_init__(self) -> None:
        if np.any(self.bandwidth_hz < 0) or np.any((self.budget <= 0) | (self.budget > 1)):
            raise ValueError("allocation out of range: bandwidth >= 0 and 0 < budget <= 1")


def predicted_upload_s(
    bits: np.ndarray,
    bandwidth_hz: np.ndarray,
    snr_per_hz: np.ndarray,
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency,
) -> np.ndarray:
    """Upload time at a constant estimated SNR (inf with no bandwidth or a zero rate)."""
    bw = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = bw * efficiency(np.asarray(snr_per_hz) / np.where(bw > 0, bw, 1.0))
        return np.where((bw > 0) & (rate > 0), np.asarray(bits, dtype=float) / rate, np.inf)


class Allocator(Protocol):
    """Chooses every scheduled client's bandwidth and budget for one round."""

    name: str

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Allocation for the clients of ``request``, in the same order."""
        ...


class EqualShare:
    """Every scheduled client gets the same bandwidth share and the same fixed budget."""

    name = "equal"

    def __init__(self, budget: float = 1.0) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {budget}")
        self.budget = budget

    def allocate(self, request: AllocationRequest) -> Allocation:
        """B/n each, the scenario's budget for all."""
        n = len(request.clients)
        return Allocation(
            bandwidth_hz=np.full(n, request.total_bandwidth_hz / max(n, 1)),
            budget=np.full(n, self.budget),
        )


ALLOCATORS: dict[str, type] = {EqualShare.name: EqualShare}
