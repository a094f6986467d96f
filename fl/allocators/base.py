"""The allocator interface: what an allocator is asked (``AllocationRequest``), what it answers
(``Allocation``), the capabilities it declares, and the predictions every allocator shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from fl.allocators.bandwidth import minmax_split, shannon_efficiency


@dataclass(frozen=True)
class AllocationRequest:
    """What the allocator knows at the `csi` event, one entry per scheduled client.

    ``snr_per_hz`` is the estimated linear SNR times 1 Hz: over a bandwidth b the client's SNR
    is snr_per_hz / b. ``dense_bits`` is the payload at budget 1.0; ``compute_s`` the predicted
    local training time; ``time_left_s`` the time from now to the deadline; ``efficiency`` maps
    a linear SNR to bit/s/Hz as the link does (log2(1 + SNR) unless a PHY model is in use).
    ``true_delivered_bits(bandwidth_hz, t)`` is given to the oracle only: the bits each client
    would deliver on the channel that will really happen, from the end of its training until
    ``t`` seconds after the round start.
    """

    clients: np.ndarray
    snr_per_hz: np.ndarray
    dense_bits: np.ndarray
    compute_s: np.ndarray
    total_bandwidth_hz: float
    time_left_s: float
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency
    budget_grid: np.ndarray = field(default_factory=lambda: np.ones(1))
    bits_grid: np.ndarray | None = None
    error_grid: np.ndarray | None = None
    true_delivered_bits: Callable[[np.ndarray, float], np.ndarray] | None = None

    def bits_at(self, level: np.ndarray) -> np.ndarray:
        """Payload bits [K] with client k at budget level ``level[k]`` of the grid."""
        if self.bits_grid is None:
            return np.asarray(self.dense_bits, dtype=float)
        return self.bits_grid[np.arange(len(self.clients)), level]

    def subset(self, idx: np.ndarray) -> AllocationRequest:
        """The same request for the clients at positions ``idx`` only (not for the oracle's
        channel callable, which covers a fixed set of clients)."""
        if self.true_delivered_bits is not None:
            raise ValueError("a request carrying the true channel cannot be subset")
        return replace(
            self,
            clients=self.clients[idx],
            snr_per_hz=np.asarray(self.snr_per_hz)[idx],
            dense_bits=np.asarray(self.dense_bits)[idx],
            compute_s=np.asarray(self.compute_s)[idx],
            bits_grid=None if self.bits_grid is None else self.bits_grid[idx],
            error_grid=None if self.error_grid is None else self.error_grid[idx],
        )


@dataclass(frozen=True)
class InFlightRequest:
    """The uploads on air at one instant of an asynchronous run (fedasync, fedbuff), to share
    the band among: per upload, its client, ``remaining_bits`` [K], the estimated
    ``snr_per_hz`` [K] (linear SNR·Hz, as in AllocationRequest), ``time_left_s`` [K] until its
    deadline, the cell's ``total_bandwidth_hz`` and the link's ``efficiency``."""

    clients: np.ndarray
    remaining_bits: np.ndarray
    snr_per_hz: np.ndarray
    time_left_s: np.ndarray
    total_bandwidth_hz: float
    efficiency: Callable[[np.ndarray], np.ndarray] = shannon_efficiency


@dataclass(frozen=True)
class Allocation:
    """Bandwidth [Hz] and budget (fraction of the update kept, 1.0 = dense) per client."""

    bandwidth_hz: np.ndarray
    budget: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if np.any(self.bandwidth_hz < 0) or np.any((self.budget <= 0) | (self.budget > 1)):
            raise ValueError("allocation out of range: bandwidth >= 0 and 0 < budget <= 1")


def for_subset(
    part: Allocation | None, idx: np.ndarray, n: int, fill_budget: float, info: dict | None = None
) -> Allocation:
    """An allocation of ``n`` clients from ``part``, made for the clients at positions ``idx``
    only: every other client gets no band and budget ``fill_budget``."""
    bw, budget = np.zeros(n), np.full(n, float(fill_budget))
    if part is not None:
        bw[idx], budget[idx] = part.bandwidth_hz, part.budget
    if info is None:
        info = part.info if part is not None else {}
    return Allocation(bw, budget, info)


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


def predicted_latency(
    bits: np.ndarray,
    compute_s: np.ndarray,
    bandwidth_hz: np.ndarray,
    snr_per_hz: np.ndarray,
    efficiency: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Predicted finish time [K] of each client: compute + upload at the estimated SNR."""
    return np.asarray(compute_s, dtype=float) + predicted_upload_s(
        bits, bandwidth_hz, snr_per_hz, efficiency
    )


class Allocator(ABC):
    """Chooses every scheduled client's bandwidth and budget for one round.

    Capabilities are class attributes the engine reads (never guessed from names):
    ``chooses_budgets``: the request's ``budget_grid`` is the scenario's
    allocation.budget_grid and each budget must be one of it (else it holds strategy.budget
    only); ``needs_true_channel``: the request carries ``true_delivered_bits``, the channel
    that will really happen (the oracle's upper bound; no realisable scheme has it);
    ``splits_in_flight``: it implements ``split_in_flight``, the band among the uploads on air
    whenever one starts or ends (what fedasync and fedbuff need)."""

    name: str
    chooses_budgets: bool = False
    needs_true_channel: bool = False
    splits_in_flight: bool = False

    @abstractmethod
    def allocate(self, request: AllocationRequest) -> Allocation:
        """Allocation for the K clients of ``request``, in the same order.

        In: ``request.snr_per_hz`` [K] linear SNR·Hz (SNR over b Hz is snr_per_hz / b),
        ``dense_bits`` [K] bits, ``compute_s`` [K] s, ``total_bandwidth_hz`` Hz,
        ``time_left_s`` s, ``bits_grid`` / ``error_grid`` [K, G] per budget level.
        Out: ``bandwidth_hz`` [K] float64 Hz (sum at most the total), ``budget`` [K] in
        (0, 1], each in ``budget_grid``; ``info`` goes into the ``allocator`` event."""

    def observe(self, round_latency_s: float) -> None:  # noqa: B027 (stateless default)
        """The realised latency [s] of the round just finished (stateful allocators learn);
        stateless ones keep this default. Under fedasync/fedbuff: of each update, from its
        client's start to its arrival."""

    def split_in_flight(self, request: InFlightRequest) -> np.ndarray:
        """Bandwidth [K] Hz for the uploads on air (sum at most the total), in the request's
        order; an allocator declaring ``splits_in_flight`` overrides this."""
        raise NotImplementedError(
            f"allocator {self.name!r} does not split the band among uploads in flight"
        )


def minmax_in_flight(request: InFlightRequest) -> np.ndarray:
    """The min-max split of the band for the uploads' remaining bits: every upload is
    predicted to end at the same instant (no compute left: they are all on air)."""
    return minmax_split(
        request.remaining_bits,
        np.zeros(len(request.clients)),
        request.snr_per_hz,
        request.total_bandwidth_hz,
        request.efficiency,
    )[0]


class FixedBudget(Allocator):
    """Base of the allocators that give every client the scenario's budget; stateless."""

    def __init__(self, budget: float = 1.0) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {budget}")
        self.budget = budget


def budget_level(request: AllocationRequest, budget: float) -> int:
    """Index of ``budget`` in the request's grid."""
    idx = np.flatnonzero(np.isclose(request.budget_grid, budget))
    if idx.size == 0:
        raise ValueError(f"budget {budget} is not in the grid {request.budget_grid.tolist()}")
    return int(idx[0])
