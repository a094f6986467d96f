"""Ray tiles: the rays Sionna drew for the nodes of one lattice tile, and the process-wide store
that lets every run of one seed in a process share them (a tile is a pure function of the
seed, the cell and its key)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

SHARED_TILE_BYTES = 256 << 20  # the process-wide tile store (runs of one seed share tiles)


@dataclass(frozen=True)
class RayTile:
    """The rays Sionna drew for the nodes of one tile in one link state (node-major)."""

    node_pos: np.ndarray  # [N, 3] m, where each node's rays were drawn
    turns: np.ndarray  # [N, 3, R] UT-side unit vectors × k / 2π (cycles per metre), by axis
    amp_re: np.ndarray  # [N, R, A]: sqrt(ray power) × BS steering, real part
    amp_im: np.ndarray  # [N, R, A], imaginary part
    k_factor: np.ndarray  # [N] linear Rician K (0 unless LoS)
    delays_s: np.ndarray  # [N, R] ray delays (the cluster's)


class TileCache:
    """A model's tiles by (state, tx, ty). Callable (the lookup), so that checkpoints skip it
    as they skip models and callables: tiles are pure functions of their key, drawn again
    after a resume."""

    def __init__(self) -> None:
        self._tiles: dict[tuple[int, int, int], RayTile] = {}

    def __call__(self, key: tuple[int, int, int]) -> RayTile | None:
        return self._tiles.get(key)

    def __contains__(self, key: tuple[int, int, int]) -> bool:
        return key in self._tiles

    def __len__(self) -> int:
        return len(self._tiles)

    def keep(self, key: tuple[int, int, int], tile: RayTile) -> None:
        self._tiles[key] = tile


class _TileStore:
    """Tiles shared by every model of this process, the most recently used kept up to
    ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tiles: OrderedDict[Hashable, RayTile] = OrderedDict()  # least recent first
        self.bytes = 0

    def find(self, key: Hashable) -> RayTile | None:
        """The tile under ``key`` (now the most recently used), or None."""
        tile = self.tiles.get(key)
        if tile is not None:
            self.tiles.move_to_end(key)
        return tile

    def put(self, key: Hashable, tile: RayTile) -> None:
        """Keep ``tile`` under ``key``, the least recently used dropped beyond the limit."""
        self.tiles[key] = tile
        self.bytes += _nbytes(tile)
        while self.bytes > self.limit and len(self.tiles) > 1:
            self.bytes -= _nbytes(self.tiles.popitem(last=False)[1])

    def clear(self) -> None:
        self.tiles.clear()
        self.bytes = 0


def _nbytes(t: RayTile) -> int:
    arrays = (t.node_pos, t.turns, t.amp_re, t.amp_im, t.k_factor, t.delays_s)
    return sum(a.nbytes for a in arrays)


STORE = _TileStore(SHARED_TILE_BYTES)


def shared_tiles() -> int:
    """How many tiles the process-wide store holds."""
    return len(STORE.tiles)


def clear_shared_tiles() -> None:
    """Empty the process-wide tile store (tests; a long-lived process between studies)."""
    STORE.clear()
