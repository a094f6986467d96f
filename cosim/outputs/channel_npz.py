"""channel.npz: the per-round channel chunks of a run on the global step grid, assembled and
saved at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ChannelRecorder:
    """Collects per-round trace chunks on the global step grid and saves them as channel.npz.

    Positions, speeds and distances are kept for every client; channel terms only for the
    clients scheduled in a round (NaN, or -1 for ``los``, where a channel was not computed).
    """

    def __init__(self, num_clients: int, dt: float) -> None:
        self.num_clients = num_clients
        self.dt = dt
        self._chunks: list[dict[str, np.ndarray]] = []

    def add(self, steps: np.ndarray, clients: np.ndarray, **arrays: np.ndarray) -> None:
        """One round's chunk: ``steps`` [n] global step indices; arrays [K or Ks, n(, 3)]."""
        self._chunks.append({"steps": steps, "clients": clients, **arrays})

    def save(self, path: Path, carrier_hz: float, bs_position: np.ndarray) -> None:
        """Assemble [K, N] arrays (later rounds overwrite shared boundary steps) and save."""
        n_total = max(int(c["steps"][-1]) + 1 for c in self._chunks) if self._chunks else 0
        k = self.num_clients
        per_client = ("positions", "speed", "distance_3d_m")
        scheduled = (
            "pathloss_db",
            "shadowing_db",
            "penetration_db",
            "fading_gain",
            "snr_db",
            "los",
        )
        out = {
            "positions": np.full((k, n_total, 3), np.nan),
            "los": np.full((k, n_total), -1, dtype=np.int8),
        }
        for name in per_client[1:] + scheduled[:-1]:
            out[name] = np.full((k, n_total), np.nan)
        for c in self._chunks:
            s, cl = c["steps"], c["clients"]
            for name in per_client:
                out[name][:, s] = c[name]
            for name in scheduled:
                out[name][np.ix_(cl, s)] = c[name]
        np.savez_compressed(
            path,
            t=np.arange(n_total) * self.dt,
            dt=np.float64(self.dt),
            carrier_hz=np.float64(carrier_hz),
            bs_position=np.asarray(bs_position, dtype=float),
            **out,
        )
