"""The oracle: the min-max split planned on the channel that will really happen (an upper
bound, not a realisable scheme)."""

from __future__ import annotations

import numpy as np

from fl.allocators.bandwidth import least_bandwidth, minmax_split, split_at_least_latency
from fl.allocators.base import Allocation, AllocationRequest, FixedBudget, budget_level


class Oracle(FixedBudget):
    """Upper bound, not a realisable scheme: the min-max split planned on the channel that will
    really happen (``true_delivered_bits``), so with a feasible deadline nobody misses."""

    name = "oracle"
    needs_true_channel = True

    def allocate(self, request: AllocationRequest) -> Allocation:
        """Bisection on the finish time T; each client gets the least bandwidth that delivers
        its payload by T on the true channel."""
        if request.true_delivered_bits is None:
            raise ValueError("the oracle needs the true future channel")
        n, total = len(request.clients), request.total_bandwidth_hz
        bits = request.bits_at(np.full(n, budget_level(request, self.budget)))
        delivered = request.true_delivered_bits

        def need(t: float) -> np.ndarray:
            return least_bandwidth(lambda b: delivered(b, t) >= bits, (n,), total)

        t_hi = request.time_left_s
        if need(t_hi).sum() > total:  # not even the whole round suffices: plan as min-max
            bw, t = minmax_split(
                bits, request.compute_s, request.snr_per_hz, total, request.efficiency
            )
            info = {"upper_bound": True, "feasible": False, "predicted_round_s": t}
        else:
            bw, t = split_at_least_latency(need, float(np.min(request.compute_s)), t_hi, total)
            info = {"upper_bound": True, "feasible": True, "predicted_round_s": t}
        return Allocation(bw, np.full(n, self.budget), info)
