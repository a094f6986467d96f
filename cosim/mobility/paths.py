"""Client placement and movement: piecewise-linear paths, extended lazily in simulated time.

Every model (static, linear with reflection, random waypoint, Gauss–Markov, trace file) is a set
of legs per client: start time, start position and constant velocity. Legs are generated on
demand; leg j of client k draws only from random slot (k, j) of its model's stream, so a path
never depends on when, or for which other clients, positions were asked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cosim.scenario.registry import ContractError

BlockRng = Callable[[int], np.random.Generator]


def place_uniform_disc(
    count: int, radius_m: float, min_distance_m: float, height_m: float, rng: np.random.Generator
) -> np.ndarray:
    """``count`` positions [count, 3] uniform over the annulus min_distance..radius."""
    r = np.sqrt(rng.uniform(min_distance_m**2, radius_m**2, count))
    phi = rng.uniform(0.0, 2.0 * np.pi, count)
    return np.stack([r * np.cos(phi), r * np.sin(phi), np.full(count, height_m)], axis=1)


class Paths:
    """Piecewise-linear paths of K clients; subclasses say how the next leg is drawn.

    A custom model (see ``cosim.register_mobility``) sets ``name`` and ``uniforms_per_leg`` and
    implements ``next_legs``; its randomness comes from ``self.uniforms(clients, legs)`` so
    that leg j of client k is the same whenever, and with whichever others, it is drawn.
    """

    name = "paths"
    uniforms_per_leg = 0
    block_legs = 32

    def __init__(self, start: np.ndarray, block_rng: BlockRng | None = None) -> None:
        start = np.asarray(start, dtype=float)
        k = len(start)
        self.num_clients = k
        self._block_rng = block_rng
        self._blocks: dict[int, np.ndarray] = {}
        cap = 8
        self.t0 = np.full((k, cap), np.inf)
        self.p0 = np.zeros((k, cap, 3))
        self.v = np.zeros((k, cap, 3))
        self.odo0 = np.zeros((k, cap))
        self.n = np.zeros(k, dtype=int)
        self.end = np.zeros(k)  # paths are known on [0, end)
        # maps positions [..., 2] back into the area (a wrap-around layout); None: as drawn
        self.fold: Callable[[np.ndarray], np.ndarray] | None = None
        self._start = start

    # ---------------------------------------------------------------- queries
    def positions(self, t: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """Positions [K, n, 3] at times t [n] (of ``clients`` only, when given)."""
        return self.motion(t, clients)[0]

    def velocities(self, t: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """Velocities [K, n, 3] at times t [n] (of ``clients`` only, when given)."""
        _, rows, idx = self._locate(t, clients)
        return self.v[rows[:, None], idx]

    def motion(
        self, t: np.ndarray, clients: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities [K, n, 3] at times t [n] (of ``clients`` only, when
        given), the legs looked up once."""
        t, rows, idx = self._locate(t, clients)
        p0, v, t0 = self._gather(rows, idx)
        p = p0 + v * (t[None, :, None] - t0[..., None])
        if self.fold is not None:
            p[..., :2] = self.fold(p[..., :2])
        return p, v

    def odometer(self, t: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """Distance travelled since t = 0 [K, n]: drives the spatial channel processes."""
        t, rows, idx = self._locate(t, clients)
        _, v, t0 = self._gather(rows, idx)
        return self.odo0[rows[:, None], idx] + np.linalg.norm(v, axis=-1) * (t[None, :] - t0)

    def _gather(
        self, rows: np.ndarray, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = rows[:, None]
        return self.p0[r, idx], self.v[r, idx], self.t0[r, idx]

    def _locate(
        self, t: np.ndarray, clients: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, client rows, and for each (row, time) the index of the leg in force."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        rows = np.arange(self.num_clients) if clients is None else np.asarray(clients, int)
        if np.any(t < 0):
            raise ValueError("mobility is defined for t >= 0")
        if t.size:
            self._ensure(float(t.max()))
        starts = self.t0[rows]
        finite = np.isfinite(starts)
        span = 2.0 * (max(float(t.max(initial=0.0)), float(starts[finite].max(initial=0.0))) + 1)
        # search all rows at once: row i lives in [i·span, (i+1)·span)
        offset = (np.arange(len(rows)) * span)[:, None]
        flat = (np.where(finite, starts, 0.999 * span) + offset).ravel()
        q = (t[None, :] + offset).ravel()
        pos = np.searchsorted(flat, q, side="right").reshape(len(rows), -1) - 1
        idx = pos - (np.arange(len(rows)) * starts.shape[1])[:, None]
        return t, rows, np.clip(idx, 0, np.maximum(self.n[rows] - 1, 0)[:, None])

    # ---------------------------------------------------------------- building
    def _ensure(self, t_max: float) -> None:
        if self.n.max(initial=0) == 0:
            self._append(
                np.arange(self.num_clients),
                np.zeros(self.num_clients),
                self._start,
                *self._first_legs(),
            )
        while True:
            need = np.flatnonzero(self.end <= t_max)
            if need.size == 0:
                return
            last = self.n[need] - 1
            t0 = self.t0[need, last]
            p_end = self.p0[need, last] + self.v[need, last] * (self.end[need] - t0)[:, None]
            v, dur = self._legs(need, self.n[need], p_end, self.v[need, last])
            self._append(need, self.end[need], p_end, v, dur)

    def _append(
        self,
        clients: np.ndarray,
        t_start: np.ndarray,
        p: np.ndarray,
        v: np.ndarray,
        duration: np.ndarray,
    ) -> None:
        if self.n.max(initial=0) + 1 > self.t0.shape[1]:
            grow = self.t0.shape[1]
            k = self.num_clients
            self.t0 = np.concatenate([self.t0, np.full((k, grow), np.inf)], axis=1)
            self.p0 = np.concatenate([self.p0, np.zeros((k, grow, 3))], axis=1)
            self.v = np.concatenate([self.v, np.zeros((k, grow, 3))], axis=1)
            self.odo0 = np.concatenate([self.odo0, np.zeros((k, grow))], axis=1)
        j = self.n[clients]
        prev_odo = np.zeros(len(clients))
        has = j > 0
        if has.any():
            c, i = clients[has], j[has] - 1
            travelled = np.linalg.norm(self.v[c, i], axis=-1) * (t_start[has] - self.t0[c, i])
            prev_odo[has] = self.odo0[c, i] + travelled
        self.t0[clients, j] = t_start
        self.p0[clients, j] = p
        self.v[clients, j] = v
        self.odo0[clients, j] = prev_odo
        self.n[clients] += 1
        self.end[clients] = t_start + duration

    def uniforms(self, clients: np.ndarray, legs: np.ndarray) -> np.ndarray:
        """Random slot (client, leg) of this model's stream: [m, uniforms_per_leg]."""
        if self._block_rng is None:
            raise RuntimeError(f"{self.name} mobility needs a random stream")
        out = np.empty((len(clients), self.uniforms_per_leg))
        blocks = legs // self.block_legs
        for b in np.unique(blocks):
            if b not in self._blocks:
                self._blocks[b] = self._block_rng(int(b)).random(
                    (self.num_clients, self.block_legs, self.uniforms_per_leg)
                )
            sel = blocks == b
            out[sel] = self._blocks[b][clients[sel], legs[sel] % self.block_legs]
        return out

    def _first_legs(self) -> tuple[np.ndarray, np.ndarray]:
        """Velocity [K, 3] and duration [K] of every client's first leg."""
        return self._legs(
            np.arange(self.num_clients),
            np.zeros(self.num_clients, dtype=int),
            self._start,
            np.zeros((self.num_clients, 3)),
        )

    def _legs(
        self, clients: np.ndarray, legs: np.ndarray, p: np.ndarray, v_prev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``next_legs``, its answer checked (a registered model's mistakes are named)."""
        v, dur = self.next_legs(clients, legs, p, v_prev)
        m = len(clients)
        for field, value, shape in (("velocity", v, (m, 3)), ("duration", dur, (m,))):
            if not isinstance(value, np.ndarray) or value.shape != shape:
                got = getattr(value, "shape", type(value).__name__)
                raise ContractError(
                    f"mobility model {self.name!r}: next_legs() gave {field} of shape {got}; "
                    f"it must be an array of shape {shape}"
                )
        if not np.all(np.isfinite(v)) or not np.all(dur > 0):
            raise ContractError(
                f"mobility model {self.name!r}: next_legs() gave a non-finite velocity or a "
                "duration that is not > 0 (inf is allowed: the leg never ends)"
            )
        return v, dur

    def next_legs(
        self, clients: np.ndarray, legs: np.ndarray, p: np.ndarray, v_prev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Velocity [m, 3] and duration [m] of leg ``legs[i]`` of client ``clients[i]``, which
        starts at ``p[i]`` after a leg of velocity ``v_prev[i]`` (zero for the first leg)."""
        raise NotImplementedError


class Static(Paths):
    """Clients stay where they were placed."""

    name = "static"

    def next_legs(self, clients, legs, p, v_prev):
        return np.zeros((len(clients), 3)), np.full(len(clients), np.inf)
