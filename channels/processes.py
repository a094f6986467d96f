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
        new = steps[None, :] > last[:, None]  # [K, n]: old steps come first, from the ring
        out = np.empty((len(clients), len(steps), self.num))
        old_r, old_c = np.nonzero(~new)
        out[old_r, old_c] = self._ring[clients[old_r], steps[old_c] % size]
        rows = np.flatnonzero(new.any(axis=1))
        if rows.size:
            c, fresh, pos = clients[rows], new[rows], positions[rows]
            first = np.argmax(fresh, axis=1)
            # distance moved into each step: from the last evaluated position at the first new
            # step, along the window after it, zero over the old steps
            prev = np.concatenate([pos[:, :1], pos[:, :-1]], axis=1)
            prev[np.arange(len(c)), first] = self.last_pos[c]
            moved = np.where(fresh, np.linalg.norm(pos - prev, axis=-1), 0.0)
            noise = self._innovations(c, steps)
            g = ou_advance(self.state[c], moved[..., None] / self.corr, noise)
            out[rows] = np.where(fresh[..., None], g, out[rows])
            self.state[c] = g[:, -1]
            self.last_pos[c] = pos[:, -1]
            self.last_step[c] = steps[-1]
            fr, fc = np.nonzero(fresh)
            self._ring[c[fr], steps[fc] % size] = g[fr, fc]
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


MAX_DECAY = 50.0  # per step: e^-50 of the old value is gone at float64 precision
CHUNK_DECAY = 600.0  # per closed-form chunk: keeps e^(±decay) inside float64


def ou_advance(state: np.ndarray, decay: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Values after each step [K, n, num] of g' = ρ·g + sqrt(1 − ρ²)·w, ρ = e^(−decay), from
    ``state`` [K, num], per-step ``decay`` = Δ/d_corr and innovations ``noise`` [K, n, num].

    Closed form instead of a per-step loop: with L_s = −Σ_{j≤s} decay_j,
    g_s = e^(L_s)·(g_0 + Σ_{j≤s} e^(−L_j)·sqrt(1 − e^(−2·decay_j))·w_j), taken in chunks of at most
    ``CHUNK_DECAY`` total decay so that no exponential leaves float64's range (one chunk for any
    realistic window). Steps of zero decay keep the value exactly."""
    decay = np.minimum(decay, MAX_DECAY)
    out = np.empty(np.broadcast_shapes(decay.shape, noise.shape))
    n, j = decay.shape[1], 0
    while j < n:
        cum = np.cumsum(decay[:, j:], axis=1)
        worst = cum.max(axis=(0, 2)) if cum.size else cum
        stop = j + max(1, int(np.searchsorted(worst, CHUNK_DECAY, side="right")))
        log_rho = -cum[:, : stop - j]
        sigma = np.sqrt(-np.expm1(-2.0 * decay[:, j:stop]))
        acc = state[:, None, :] + np.cumsum(np.exp(-log_rho) * sigma * noise[:, j:stop], axis=1)
        out[:, j:stop] = np.exp(log_rho) * acc
        state, j = out[:, stop - 1], stop
    return out
