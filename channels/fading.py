"""Textbook small-scale fading: Rayleigh and Rician with Clarke/Jakes Doppler, as a field in space.

Sum of sinusoids (Clarke's model): each client has N plane waves with fixed random arrival
azimuths α_n and phases φ_n; at position p, h(p) = N^(-1/2) Σ exp(j(k·u_n·p + φ_n)), with
k = 2π/λ and u_n = (cos α_n, sin α_n, 0). Because the phases follow the client's *position*, the
fading is continuous however the client moves, time-consistent by construction, constant for a
client that stands still, and its Doppler follows the actual speed: for speed v the
autocorrelation over a lag τ is J0(2π f_D τ) with f_D = v/λ (averaged over clients). Rician adds
a line-of-sight ray whose phase follows the true distance to the base station. With several
receive antennas each has its own independent set of waves (i.i.d. branches, combined by MRC).
Over frequency, each wave n has a delay τ_n ~ Exp(delay spread) (an exponential power-delay
profile, the LoS ray at delay 0): h(p, f) adds the phase −2π f τ_n at offset f from the carrier,
so the frequency correlation of the scattered part is 1 / (1 + j2π Δf·DS).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from channels.constants import SPEED_OF_LIGHT

BLOCK = 1 << 17  # complex waves per block: a block stays in cache, the whole would not


@cache
def _pool() -> ThreadPoolExecutor | None:
    """Threads for the blocks (numpy lets go of the GIL in its loops); None on one core."""
    cores = min(4, len(os.sched_getaffinity(0)))
    return ThreadPoolExecutor(cores) if cores > 1 else None


# a forked child has none of its parent's threads: it makes its own pool when it needs one
os.register_at_fork(after_in_child=_pool.cache_clear)


def by_blocks(k: int, per_client: int, fn: Callable[[slice], np.ndarray]) -> np.ndarray:
    """``fn`` over blocks of the K clients (each block at most BLOCK waves, ``per_client``
    per client), concatenated: the same values as one call — every value is elementwise in
    its client — about 4 times faster for a round of 1,000 clients (measured)."""
    size = max(1, BLOCK // max(per_client, 1))
    blocks = [slice(i, min(i + size, k)) for i in range(0, k, size)]
    if len(blocks) == 1:
        return fn(blocks[0])
    pool = _pool()
    parts = list(pool.map(fn, blocks)) if pool is not None and len(blocks) >= 4 else None
    return np.concatenate(parts if parts is not None else [fn(b) for b in blocks])


class SumOfSinusoids:
    """Rayleigh (k_factor = 0) or Rician (k_factor > 0, linear) fading; power gain mean 1."""

    def __init__(
        self,
        num_clients: int,
        carrier_hz: float,
        rng: np.random.Generator,
        bs_position: np.ndarray,
        num_paths: int = 32,
        k_factor: float = 0.0,
        antennas: int = 1,
        delay_spread_s: float = 0.0,
    ) -> None:
        if num_paths < 1 or antennas < 1:
            raise ValueError("num_paths and antennas must be >= 1")
        self.k = 2.0 * np.pi * carrier_hz / SPEED_OF_LIGHT
        draws = rng.random((num_clients, antennas, num_paths + 1, 2))
        alpha = 2.0 * np.pi * draws[:, :, :num_paths, 0]
        self.u = np.stack([np.cos(alpha), np.sin(alpha)], axis=-1)  # [K, A, N, 2]
        self.phase = 2.0 * np.pi * draws[:, :, :num_paths, 1]
        self.los_phase = 2.0 * np.pi * draws[:, :, num_paths, 0]
        self.k_factor = float(k_factor)
        self.bs = np.asarray(bs_position, dtype=float)
        # drawn after the waves, so the narrowband channel does not depend on it
        self.delays = rng.exponential(1.0, (num_clients, antennas, num_paths)) * delay_spread_s

    def coefficients(
        self, clients: np.ndarray, positions: np.ndarray, freqs_hz: np.ndarray | None = None
    ) -> np.ndarray:
        """Complex channels h [K, A, n] (one per receive antenna) at positions [K, n, 3]; with
        frequency offsets ``freqs_hz`` [K, F] (Hz) from the carrier, h [K, A, n, F], each wave
        turned by −2π f τ_n."""
        clients = np.asarray(clients, dtype=int)
        u, ph = self.u[clients], self.phase[clients]
        arg = self.k * np.einsum("knd,kamd->kanm", positions[..., :2], u) + ph[:, :, None, :]
        waves = np.exp(1j * arg)
        if freqs_hz is not None:
            freqs = np.asarray(freqs_hz, dtype=float)
            delay = -2.0 * np.pi * np.einsum("kf,kam->kafm", freqs, self.delays[clients])
            waves = waves[:, :, :, None, :] * np.exp(1j * delay)[:, :, None, :, :]
        h = waves.sum(axis=-1) / np.sqrt(u.shape[2])
        if self.k_factor > 0:
            d3d = np.linalg.norm(positions - self.bs, axis=-1)
            los = np.exp(1j * (self.los_phase[clients][:, :, None] - self.k * d3d[:, None, :]))
            if freqs_hz is not None:
                los = los[..., None]
            kf = self.k_factor
            h = np.sqrt(kf / (kf + 1.0)) * los + np.sqrt(1.0 / (kf + 1.0)) * h
        return h

    def gains(self, clients: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """MRC-combined power gain Σ_a |h_a|² / A [K, n] (mean 1 over the ensemble)."""
        clients = np.asarray(clients, dtype=int)

        def block(b: slice) -> np.ndarray:
            return np.mean(np.abs(self.coefficients(clients[b], positions[b])) ** 2, axis=1)

        per = self.u.shape[1] * self.u.shape[2] * positions.shape[1]
        return by_blocks(len(clients), per, block)

    def band_gains(
        self, clients: np.ndarray, positions: np.ndarray, freqs_hz: np.ndarray
    ) -> np.ndarray:
        """MRC power gains [K, n, F] at frequency offsets ``freqs_hz`` [K, F] (Hz) from the
        carrier (mean 1 at every frequency)."""
        return np.mean(np.abs(self.coefficients(clients, positions, freqs_hz)) ** 2, axis=1)
