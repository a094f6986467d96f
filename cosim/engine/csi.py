"""What the server knows of a round's channel (CSI): stale by channel.csi_delay_s, with a
Gaussian estimation error in dB; asked at round start and at every re-split."""

from __future__ import annotations

import numpy as np

from cosim.engine.grid import RoundGrid
from cosim.world.world import World


class CsiEstimator:
    """What the server knows of the channel: the gain ``channel.csi_delay_s`` before the
    instant it asks, plus a Gaussian error in dB drawn once per round and client (so a
    mid-round re-split sees the channel as the round-start CSI does)."""

    def __init__(self, world: World, r: int, window_gain_db: np.ndarray, grid: RoundGrid):
        s = world.scenario
        self.link, self.delay_s, self.grid = world.link, s.channel.csi_delay_s, grid
        self.gain_db = window_gain_db
        self.true_gain_db = window_gain_db[:, 0]
        error_db = world.seeds.rng("csi_error", r).normal(0.0, 1.0, len(window_gain_db))
        self.csi_gain_db = self.true_gain_db + s.channel.csi_error_db * error_db
        self.offset_db = self.csi_gain_db - self.true_gain_db

    def snr_per_hz(self, rows: np.ndarray, now: float) -> np.ndarray:
        """Estimated linear SNR·Hz [len(rows)] of the window's clients ``rows`` at ``now``."""
        j = self.grid.column(now - self.delay_s)
        return self.link.snr_per_hz(self.gain_db[rows, j] + self.offset_db[rows])
