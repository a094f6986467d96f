"""The built-in mobility models that draw their legs: linear with reflection at the area edge,
random waypoint, Gauss–Markov, cars on a straight highway."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from cosim.mobility.paths import Paths


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
        self,
        start,
        block_rng,
        radius_m: float,
        speed_min: float,
        speed_max: float,
        pause_s: float,
        tile: np.ndarray | None = None,
    ):
        """``tile``: two vectors [2, 2] m spanning a cell of the lattice a wrap-around area
        repeats on (the area's ``fold`` set): waypoints are then uniform over that area, not
        over the disc of ``radius_m``."""
        super().__init__(start, block_rng)
        self.radius, self.smin, self.smax, self.pause = radius_m, speed_min, speed_max, pause_s
        self.tile = None if tile is None else np.asarray(tile, dtype=float)

    def _waypoints(self, u: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Targets [m, 2] from uniforms ``u`` [m, ≥2] for legs starting at ``p`` [m, 3]."""
        if self.tile is None or self.fold is None:
            r = self.radius * np.sqrt(u[:, 0])
            phi = 2 * np.pi * u[:, 1]
            return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
        # a uniform point of one lattice cell, folded: uniform over the area; then moved into
        # the copy of the area the walker is in (its positions are folded when asked)
        xy = self.fold(u[:, :1] * self.tile[0] + u[:, 1:2] * self.tile[1])
        return xy + (p[:, :2] - self.fold(p[:, :2]))

    def next_legs(self, clients, legs, p, v_prev):
        m = len(clients)
        pausing = (legs % 2 == 1) & (self.pause > 0)
        u = self.uniforms(clients, legs)
        target = np.concatenate([self._waypoints(u, p), p[:, 2:3]], axis=1)
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


LANE_WIDTH_M = 3.5
LANES = 4  # two each way


def highway_lanes(start: np.ndarray, road_y_m: float) -> np.ndarray:
    """Start positions [K, 3] moved onto a 4-lane road along x centred on y = ``road_y_m``:
    client k keeps its x and drives in lane k mod 4 (lanes 0-1 eastbound, 2-3 westbound,
    3.5 m wide)."""
    out = np.array(start, dtype=float, copy=True)
    lane = np.arange(len(out)) % LANES
    out[:, 1] = road_y_m + (lane - (LANES - 1) / 2) * LANE_WIDTH_M
    return out


class Highway(Linear):
    """Cars along a straight road on the x axis (see ``highway_lanes``): each at a constant
    speed drawn once, eastbound or westbound by its lane; at the area edge it turns back."""

    name = "highway"
    uniforms_per_leg = 1

    def next_legs(self, clients, legs, p, v_prev):
        first = legs == 0
        v = -v_prev  # a later leg starts at the area edge: turn back
        if first.any():
            u = self.uniforms(clients[first], legs[first])
            speed = self.smin + (self.smax - self.smin) * u[:, 0]
            east = clients[first] % LANES < LANES // 2
            v[first] = _heading_velocity(speed, np.where(east, 0.0, np.pi))
        return v, np.maximum(_exit_time(p, v, self.radius), 1e-9)
