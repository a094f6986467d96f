"""Per-client random processes along the path, continuous and time-consistent across rounds.

Each client carries standard-normal Ornstein–Uhlenbeck processes indexed by the distance it has
moved: between two samples Δ metres apart, g' = ρ·g + sqrt(1 − ρ²)·w with ρ = exp(−Δ/d_corr)
(the exponential spatial autocorrelation of 38.901 §7.5/§7.6.3, Gudmundson's model). The
process is Markov, so a client that was not evaluated for a while is advanced exactly over the
gap. Values already produced for a global step are kept in a ring and returned again, so a
window that overlaps the previous one sees the same values. Every process starts at the
client's starting position with its own draw (not at the first step it is asked for), and the
innovation w of client k at global step s comes from slot (k, s) of a counter-like stream: a
static client's values never depend on when it is first evaluated, and no value depends on
which other clients were evaluated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

StepRng = Callable[[int, int], np.random.Generator]


class SpatialProcesses:
    """``num`` standard-normal OU processes per client with correlation distances ``corr_m``."""

    block_steps = 256

    def __init__(
        self,
        num_clients: int,
        corr_m: np.ndarray,
        step_rng: StepRng,
        window_steps: int,
        start_positions: np.ndarray,
        init_rng: np.random.Generator,
    ) -> None:
        self.corr = np.asarray(corr_m, dtype=float)
        self.num = len(self.corr)
        self._step_rng = step_rng
        self.last_step = np.full(num_clients, -1, dtype=np.int64)
        self.last_pos = np.array(start_positions, dtype=float).reshape(num_clients, 3)
        self.state = init_rng.standard_normal((num_clients, self.num))
        self._start = self.state.copy()
        self._ring = np.zeros((num_clients, int(window_steps) + 1, self.num))

    @property
    def start_state(self) -> np.ndarray:
        """The values at the starting positions (before any step) [K, num]."""
        return self._start

    def sample(self, clients: np.ndarray, steps: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Values [K, n, num] at consecutive global ``steps`` [n] and positions [K, n, 3]."""
        clients = np.asarray(clients, dtype=int)
        steps = np.asarray(steps, dtype=np.int64)
        size = self._ring.shape[1]
        if len(steps) > size:
            raise ValueError(f"window of {len(steps)} steps exceeds the {size} kept per client")
        if np.any(np.diff(steps) != 1):
            raise ValueError("steps must be consecutive")
        last = self.last_step[clients]
        if np.any((last >= 0) & (steps[0] <= last - size)):
            raise ValueError("channel asked for steps older than it keeps")
        noise = self._innovations(clients, steps)
        out = np.empty((len(clients), len(steps), self.num))
        for i, s in enumerate(steps):
            old = s <= self.last_step[clients]
            out[old, i] = self._ring[clients[old], s % size]
            new = ~old
            if new.any():
                c = clients[new]
                w = noise[new, i]
                moved = np.linalg.norm(positions[new, i] - self.last_pos[c], axis=1)
                rho = np.exp(-moved[:, None] / self.corr[None, :])
                g = rho * self.state[c] + np.sqrt(1.0 - rho**2) * w
                self.state[c] = g
                self.last_pos[c] = positions[new, i]
                self.last_step[c] = s
                self._ring[c, s % size] = g
                out[new, i] = g
        return out

    def _innovations(self, clients: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Standard normals of slots (client, step) [K, n, num]."""
        out = np.empty((len(clients), len(steps), self.num))
        blocks = steps // self.block_steps
        for b in np.unique(blocks):
            sel = blocks == b
            idx = steps[sel] % self.block_steps
            for j, c in enumerate(clients):
                draw = self._step_rng(int(c), int(b)).standard_normal((self.block_steps, self.num))
                out[j, sel] = draw[idx]
        return out
