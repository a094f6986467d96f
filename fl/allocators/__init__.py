"""Bandwidth/budget allocators behind one interface: equal share, inverse spectral efficiency,
min-max, the oracle upper bound and TSFA's online stage; the bandwidth mathematics they share.

``ALLOCATORS`` is the table of built-in allocator classes by name."""

from fl.allocators.bandwidth import (
    Efficiency,
    as_efficiency,
    bandwidth_for_rate,
    deadline_needs,
    least_bandwidth,
    minmax_split,
    shannon_efficiency,
    shannon_least_bandwidth,
    split_at_least_latency,
)
from fl.allocators.base import (
    Allocation,
    AllocationRequest,
    Allocator,
    FixedBudget,
    InFlightRequest,
    budget_level,
    for_subset,
    predicted_latency,
    predicted_upload_s,
)
from fl.allocators.fixed import EqualShare, InverseSpectralEfficiency, MinMax
from fl.allocators.oracle import Oracle
from fl.allocators.tsfa import TSFA

ALLOCATORS: dict[str, type[Allocator]] = {
    a.name: a for a in (EqualShare, InverseSpectralEfficiency, MinMax, Oracle, TSFA)
}

__all__ = [
    "ALLOCATORS",
    "TSFA",
    "Allocation",
    "AllocationRequest",
    "Allocator",
    "Efficiency",
    "EqualShare",
    "FixedBudget",
    "InFlightRequest",
    "InverseSpectralEfficiency",
    "MinMax",
    "Oracle",
    "as_efficiency",
    "bandwidth_for_rate",
    "budget_level",
    "deadline_needs",
    "for_subset",
    "least_bandwidth",
    "minmax_split",
    "predicted_latency",
    "predicted_upload_s",
    "shannon_efficiency",
    "shannon_least_bandwidth",
    "split_at_least_latency",
]
