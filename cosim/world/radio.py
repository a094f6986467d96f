"""The radio parts of a run: channel model, link budget, rate model and the efficiency the
allocators predict with."""

from __future__ import annotations

import numpy as np

from channels import RateModel, Shannon
from fl.allocators import Efficiency, shannon_least_bandwidth


def efficiency_of(rate: RateModel) -> Efficiency:
    """The link's bit/s/Hz at a linear SNR (what allocators predict with); for Shannon it
    carries the closed-form least bandwidth for a rate, which the allocators then use."""

    def efficiency(snr_linear: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return rate.efficiency(10.0 * np.log10(np.asarray(snr_linear, dtype=float)))

    return Efficiency(efficiency, shannon_least_bandwidth if isinstance(rate, Shannon) else None)
