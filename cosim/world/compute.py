"""The compute model: simulated training time = FLOPs of the steps / the client's device speed."""

from __future__ import annotations

import numpy as np


class ComputeModel:
    """Heterogeneous devices: effective FLOP/s per client, log-uniform between two bounds."""

    def __init__(self, flops_per_s: np.ndarray) -> None:
        self.flops_per_s = np.asarray(flops_per_s, dtype=float)
        if np.any(self.flops_per_s <= 0):
            raise ValueError("device speeds must be positive")

    @classmethod
    def draw(
        cls, count: int, min_tflops: float, max_tflops: float, rng: np.random.Generator
    ) -> ComputeModel:
        """Draw ``count`` speeds log-uniformly in [min_tflops, max_tflops] TFLOP/s."""
        log_speed = rng.uniform(np.log(min_tflops), np.log(max_tflops), count)
        return cls(np.exp(log_speed) * 1e12)

    def seconds(self, clients: np.ndarray | int, flops: float) -> np.ndarray:
        """Simulated seconds for ``clients`` to compute ``flops``."""
        return flops / self.flops_per_s[clients]
