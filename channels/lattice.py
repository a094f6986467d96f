"""A square lattice over the plane whose nodes carry ray sets, and the power-preserving weights
that cross-fade a position between the nodes around it.

Each node owns the square cell of side ``spacing`` around it. Inside a band of ``fade`` ×
spacing centred on a cell edge, a position is shared between the two nodes across that edge
with weights cos θ and sin θ (θ from 0 at the band's inner side to π/4 on the edge), so the
weights are continuous and their squares sum to 1 per axis; in 2-D the weight of a node is the
product of its two axis weights (Σ w² = 1 still). Mixing independent ray sets with these
weights keeps the mean power, and a position's nodes and weights depend on the position only.
"""

from __future__ import annotations

import numpy as np

FADE_SHARE = 0.25  # the cross-fade band: a quarter of the spacing, centred on each cell edge


def axis_weights(
    u: np.ndarray, spacing: float, fade: float = FADE_SHARE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per coordinate ``u`` [...] (m): its node i, the neighbour j across the nearer edge, and
    their weights cos θ, sin θ (int64, int64, float64, float64; each [...])."""
    x = np.asarray(u, dtype=float) / spacing
    i = np.floor(x + 0.5)
    f = x - i  # in [−½, ½)
    t = np.clip((np.abs(f) - (0.5 - 0.5 * fade)) / fade, 0.0, 0.5)
    theta = 0.5 * np.pi * t
    j = i + np.where(f >= 0.0, 1.0, -1.0)
    return i.astype(np.int64), j.astype(np.int64), np.cos(theta), np.sin(theta)


def node_weights(xy: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """The four candidate nodes [..., 4, 2] (int64 lattice indices) of positions ``xy``
    [..., 2] (m) and their weights [..., 4] (≥ 0, squares summing to 1; zero where a position
    lies inside its own cell's core)."""
    ix, jx, cx, sx = axis_weights(xy[..., 0], spacing)
    iy, jy, cy, sy = axis_weights(xy[..., 1], spacing)
    nodes = np.stack(
        [
            np.stack([ix, iy], -1),
            np.stack([jx, iy], -1),
            np.stack([ix, jy], -1),
            np.stack([jx, jy], -1),
        ],
        axis=-2,
    )
    weights = np.stack([cx * cy, sx * cy, cx * sy, sx * sy], axis=-1)
    return nodes, weights
