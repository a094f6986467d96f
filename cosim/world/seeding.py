"""The one owner of randomness: every draw in a run derives from the root seed and a purpose key.

Each consumer asks for its own stream by name (and round/client numbers), so no result depends
on the order in which other parts happen to draw.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


class SeedBank:
    """Derives independent, named random streams from one root seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def _sequence(self, purpose: str, keys: tuple[int, ...]) -> np.random.SeedSequence:
        key = (zlib.crc32(purpose.encode()), *(int(k) for k in keys))
        return np.random.SeedSequence(entropy=self.seed, spawn_key=key)

    def rng(self, purpose: str, *keys: int) -> np.random.Generator:
        """A numpy Generator for ``purpose`` (e.g. "placement", or "schedule", round)."""
        return np.random.default_rng(self._sequence(purpose, keys))

    def int_seed(self, purpose: str, *keys: int) -> int:
        """A 63-bit integer seed for libraries that take one."""
        return int(self._sequence(purpose, keys).generate_state(1, np.uint64)[0] >> np.uint64(1))

    def seed_torch(self, purpose: str, *keys: int) -> None:
        """Reseed torch's global RNG (model init, batches, dropout) for ``purpose``."""
        torch.manual_seed(self.int_seed(purpose, *keys))

    def seed_sionna(self, *keys: int) -> None:
        """Seed Sionna's RNGs for draw ``keys`` (this also reseeds torch's global RNG)."""
        import sionna.phy

        sionna.phy.config.seed = self.int_seed("sionna", *keys) % (2**31 - 1)
