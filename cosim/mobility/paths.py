"""Client placement and movement: piecewise-linear paths, extended lazily in simulated time.

Every model (static, linear with reflection, random waypoint, Gauss–Markov, trace file) is a set
of legs per client: start time, start position and constant velocity. Legs are generated on
demand; leg j of client k draws only from random slot (k, j) of its model's stream, so a path
never depends on when, or for which other clients, positions were asked.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import ndtri

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
        self._start = start

    # ---------------------------------------------------------------- queries
    def positions(self, t: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """Positions [K, n, 3] at times t [n] (of ``clients`` only, when given)."""
        t, rows, idx = self._locate(t, clients)
        p0, v, t0 = self._gather(rows, idx)
        return p0 + v * (t[None, :, None] - t0[..., None])

    def velocities(self, t: np.ndarray, clients: np.ndarray | None = None) -> np.ndarray:
        """Velocities [K, n, 3] at times t [n] (of ``clients`` only, when given)."""
        _, rows, idx = self._locate(t, clients)
        return self.v[rows[:, None], idx]

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
            v, dur = self.next_legs(need, self.n[need], p_end, self.v[need, last])
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
        return self.next_legs(
            np.arange(self.num_clients),
            np.zeros(self.num_clients, dtype=int),
            self._start,
            np.zeros((self.num_clients, 3)),
        )

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


def _exit_time(p: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Time until p + v·s leaves the disc of ``radius`` (2D; inf for v = 0)."""
    px, py, vx, vy = p[:, 0], p[:, 1], v[:, 0], v[:, 1]
    vv = vx**2 + vy**2
    pv = px * vx + py * vy
    pp = px**2 + py**2
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (-pv + np.sqrt(np.maximum(pv**2 + vv * (radius**2 - pp), 0.0))) / vv
    return np.where(vv > 0, np.maximum(s, 0.0), np.inf)


def _reflect(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Velocity mirrored at the disc edge through ``p`` (specular reflection)."""
    r = np.maximum(np.hypot(p[:, 0], p[:, 1]), 1e-12)
    n = np.zeros_like(p)
    n[:, 0], n[:, 1] = p[:, 0] / r, p[:, 1] / r
    vn = (v * n).sum(axis=1, keepdims=True)
    return np.where(vn > 0, v - 2 * vn * n, v)


def _heading_velocity(speed: np.ndarray, heading: np.ndarray) -> np.ndarray:
    return np.stack([speed * np.cos(heading), speed * np.sin(heading), np.zeros_like(speed)], 1)


class Linear(Paths):
    """Constant speed and heading (drawn once per client), reflecting at the area edge."""

    name = "linear"
    uniforms_per_leg = 2

    def __init__(self, start, block_rng, radius_m: float, speed_min: float, speed_max: float):
        super().__init__(start, block_rng)
        self.radius, self.smin, self.smax = radius_m, speed_min, speed_max

    def next_legs(self, clients, legs, p, v_prev):
        first = legs == 0
        v = _reflect(p, v_prev)
        if first.any():
            u = self.uniforms(clients[first], legs[first])
            speed = self.smin + (self.smax - self.smin) * u[:, 0]
            v[first] = _heading_velocity(speed, 2 * np.pi * u[:, 1])
        return v, np.maximum(_exit_time(p, v, self.radius), 1e-9)


class RandomWaypoint(Paths):
    """Walk to a uniform waypoint in the area at a uniform speed, pause, repeat."""

    name = "random_waypoint"
    uniforms_per_leg = 3

    def __init__(
        self, start, block_rng, radius_m: float, speed_min: float, speed_max: float, pause_s: float
    ):
        super().__init__(start, block_rng)
        self.radius, self.smin, self.smax, self.pause = radius_m, speed_min, speed_max, pause_s

    def next_legs(self, clients, legs, p, v_prev):
        m = len(clients)
        pausing = (legs % 2 == 1) & (self.pause > 0)
        u = self.uniforms(clients, legs)
        r = self.radius * np.sqrt(u[:, 0])
        phi = 2 * np.pi * u[:, 1]
        target = np.stack([r * np.cos(phi), r * np.sin(phi), p[:, 2]], axis=1)
        speed = self.smin + (self.smax - self.smin) * u[:, 2]
        delta = target - p
        dist = np.linalg.norm(delta, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(dist[:, None] > 0, delta / dist[:, None] * speed[:, None], 0.0)
            dur = np.where(speed > 0, dist / speed, np.inf)
        v = np.where(pausing[:, None], 0.0, v)
        dur = np.where(pausing, self.pause, np.maximum(dur, 1e-9))
        return v.reshape(m, 3), dur


class GaussMarkov(Paths):
    """Gauss–Markov speed and heading (Liang & Haas 1999), updated every ``update_s``.

    s_n = a·s_{n-1} + (1-a)·s_mean + sqrt(1-a²)·σ_s·w; heading likewise around its previous
    value. Reflects at the area edge; a reflection starts a new leg until the next update.
    """

    name = "gauss_markov"
    uniforms_per_leg = 3

    def __init__(
        self,
        start,
        block_rng,
        radius_m: float,
        speed_min: float,
        speed_max: float,
        memory: float,
        update_s: float,
        heading_std_rad: float,
    ):
        super().__init__(start, block_rng)
        self.radius, self.smin, self.smax = radius_m, speed_min, speed_max
        self.a, self.update, self.hstd = memory, update_s, heading_std_rad

    def next_legs(self, clients, legs, p, v_prev):
        m = len(clients)
        t_start = np.where(legs == 0, 0.0, self.end[clients])
        ratio = t_start / self.update
        k = np.round(ratio)
        at_update = (np.abs(ratio - k) < 1e-9) | (legs == 0)
        k = np.where(at_update, k, np.floor(ratio))
        u = self.uniforms(clients, legs)
        w_s, w_h = (
            ndtri(np.clip(u[:, 0], 1e-12, 1 - 1e-12)),
            ndtri(np.clip(u[:, 1], 1e-12, 1 - 1e-12)),
        )
        s_mean = 0.5 * (self.smin + self.smax)
        s_std = (self.smax - self.smin) / 4.0
        speed_prev = np.hypot(v_prev[:, 0], v_prev[:, 1])
        heading_prev = np.arctan2(v_prev[:, 1], v_prev[:, 0])
        first = legs == 0
        speed0 = self.smin + (self.smax - self.smin) * u[:, 2]
        heading0 = 2 * np.pi * u[:, 1]
        g = np.sqrt(1 - self.a**2)
        speed = np.clip(
            self.a * speed_prev + (1 - self.a) * s_mean + g * s_std * w_s, self.smin, self.smax
        )
        heading = heading_prev + g * self.hstd * w_h
        v_new = _heading_velocity(
            np.where(first, speed0, speed), np.where(first, heading0, heading)
        )
        v = np.where(at_update[:, None], v_new, _reflect(p, v_prev))
        next_update = (k + 1) * self.update
        dur = np.minimum(next_update - t_start, _exit_time(p, v, self.radius))
        return v.reshape(m, 3), np.maximum(dur, 1e-9)


class TraceFile(Paths):
    """Positions read from a CSV (t, client, x, y[, z]); linear in between, held after the end."""

    name = "trace"

    def __init__(self, path: Path, num_clients: int, height_m: float) -> None:
        samples = read_trace(path, num_clients, height_m)
        k = num_clients
        lens = [len(s) for s in samples]
        cap = max(lens) + 1
        super().__init__(np.array([s[0, 1:] for s in samples]))
        self.t0 = np.full((k, cap), np.inf)
        self.p0 = np.zeros((k, cap, 3))
        self.v = np.zeros((k, cap, 3))
        self.odo0 = np.zeros((k, cap))
        for c, s in enumerate(samples):
            t, p = s[:, 0], s[:, 1:]
            dt = np.diff(t)
            n = len(t)
            self.t0[c, 0] = 0.0
            self.p0[c, 0] = p[0]
            self.t0[c, 1 : n + 1] = t
            self.p0[c, 1 : n + 1] = p
            self.v[c, 1:n] = np.diff(p, axis=0) / dt[:, None]
            step = np.linalg.norm(np.diff(p, axis=0), axis=1)
            self.odo0[c, 1 : n + 1] = np.concatenate([[0.0], np.cumsum(step)])
            self.n[c] = n + 1
        self.end[:] = np.inf


class TraceFileError(ValueError):
    """A mobility trace that cannot be used; the message names the file and the row."""


def read_trace(path: Path, num_clients: int, height_m: float) -> list[np.ndarray]:
    """Per client an array [n, 4] of (t, x, y, z) sorted by t; every client must appear."""
    path = Path(path)
    if not path.is_file():
        raise TraceFileError(f"{path}: mobility trace file not found")
    rows: dict[int, list[tuple[float, float, float, float]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if not {"t", "client", "x", "y"} <= cols:
            raise TraceFileError(
                f"{path}: header must have columns t, client, x, y[, z]; got {sorted(cols)}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                t, c = float(row["t"]), int(row["client"])
                x, y = float(row["x"]), float(row["y"])
                z = float(row["z"]) if row.get("z") not in (None, "") else height_m
            except (TypeError, ValueError) as exc:
                raise TraceFileError(f"{path}: row {line}: {exc}") from None
            if not (np.isfinite([t, x, y, z]).all() and t >= 0):
                raise TraceFileError(f"{path}: row {line}: t must be >= 0 and values finite")
            if not 0 <= c < num_clients:
                raise TraceFileError(
                    f"{path}: row {line}: client {c} outside 0..{num_clients - 1} "
                    f"(clients.count = {num_clients})"
                )
            rows.setdefault(c, []).append((t, x, y, z))
    missing = sorted(set(range(num_clients)) - set(rows))
    if missing:
        raise TraceFileError(f"{path}: no rows for clients {missing[:10]}")
    out = []
    for c in range(num_clients):
        arr = np.array(sorted(rows[c]))
        if np.any(np.diff(arr[:, 0]) <= 0):
            raise TraceFileError(f"{path}: client {c} has two rows with the same t")
        out.append(arr)
    return out
