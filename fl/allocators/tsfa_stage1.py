"""TSFA stage 1's decisions (offline, before round 1): a candidate's planned round latency on
one scheduled set, and the rule that picks a (rank, λ) candidate from its scores. The scoring
glue (mean 38.901 gains, the model skeleton per rank, the pilot round) is
cosim/world/stage1.py's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fl.allocators.bandwidth import minmax_split


def planned_round_s(
    bits: np.ndarray,
    compute_s: np.ndarray,
    snr_per_hz: np.ndarray,
    total_hz: float,
    time_left_s: float,
    efficiency: Callable[[np.ndarray], np.ndarray],
) -> float:
    """Min-max latency [s] of one scheduled set (bits [K], compute [K] s, linear SNR·Hz [K]),
    capped at the time left; a set with a device too slow to finish training lasts until the
    deadline, as in the engine."""
    if np.any(compute_s >= time_left_s):
        return time_left_s
    _, t = minmax_split(bits, compute_s, snr_per_hz, total_hz, efficiency)
    return min(t, time_left_s)


def choose(rows: list[dict[str, Any]], target_s: float, learning_free: bool) -> tuple[int, str]:
    """Index of the chosen candidate and the rule that chose it."""
    meets = [i for i, c in enumerate(rows) if c["expected_latency_s"] <= target_s]
    if not meets:
        best = min(range(len(rows)), key=lambda i: rows[i]["expected_latency_s"])
        return best, "no candidate meets the latency target: least expected latency"
    if learning_free:
        best = max(meets, key=lambda i: (rows[i]["rank"], -rows[i]["expected_latency_s"]))
        return best, "learning-free: largest rank whose expected latency meets the target"
    best = min(meets, key=lambda i: (rows[i]["pilot_loss"], rows[i]["expected_latency_s"]))
    return best, "lowest pilot loss among candidates meeting the latency target"
