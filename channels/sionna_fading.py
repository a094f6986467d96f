"""38.901 small-scale fading from Sionna's rays, fixed by where a client is, not when it is asked.

Sionna (`sionna.phy.channel.tr38901`, uplink) draws the clusters and rays of a link: powers,
UT-side and BS-side angles, delays and the Rician K-factor of LoS links (38.901 §7.5 steps 1-9).
Here they are drawn once per node of a square lattice over the plane (spacing: the 38.901
cluster correlation distance of the link state, Table 7.6.3.1-2), per link state (LoS, NLoS,
O2I), in tiles of `tile` × `tile` nodes (8 by default; 1: every node on its own), each tile
seeded by (seed, state, tile) and drawn as one Sionna topology (the tiles a call needs in one
batched Sionna call, channels.sionna_batch), so a node's rays never depend on which other
nodes were drawn or when. Every client gives each node's rays its own random initial phases
(step 10), from a stream keyed by (seed, client, state, node). The channel at position p is
the 38.901 ray sum (eq. 7.5-22/28/30, one V-polarised omni UT antenna, the BS array of the
scenario) of the nodes around p, each ray turned by k·r̂·(p − node) — the Doppler term of
7.5-22 written for any path — and cross-faded between neighbouring nodes with
power-preserving weights (channels.lattice). So the fading is a
function of the seed, the client and its position only: continuous, constant for a client that
stands still, Doppler from the actual motion, and the same in any run whatever its schedule.
Narrowband: the gain is the ray sum at the carrier, averaged over the BS antennas (MRC, mean 1).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial

import numpy as np

from channels.constants import SPEED_OF_LIGHT
from channels.lattice import node_weights
from channels.ray_tiles import STORE, RayTile, TileCache
from channels.sionna_batch import per_element_streams

# 38.901 Table 7.6.3.1-2: correlation distance of cluster/ray-specific variables (LoS, NLoS, O2I)
RAY_CORRELATION_M = {
    "umi": (12.0, 15.0, 15.0),
    "uma": (40.0, 50.0, 15.0),
    "rma": (50.0, 60.0, 15.0),
}
TILE = 8  # nodes per tile side by default: one Sionna topology of 64 UTs (set_topology ~ N³)
LOS, NLOS, O2I = 0, 1, 2  # link states, in the order of RAY_CORRELATION_M
KEY_OFFSET = 2**31  # lattice indices are signed; seed keys are not
TWO_PI = np.float32(2.0 * np.pi)
PAD_UTS = 64  # a batched call's UTs, a multiple of this (see draw_tiles)
BATCH_NODES = 2048  # nodes per batched Sionna call (32 tiles of 8 x 8: 7.5 ms a tile, +110 MB)


def panel_array(carrier_hz: float, columns: int = 1) -> object:
    """A Sionna array of ``columns`` vertically polarised omni elements (λ/2 ULA)."""
    from sionna.phy.channel import tr38901

    return tr38901.PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=columns,
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=carrier_hz,
    )


def sionna_cell(
    cell: str, carrier_hz: float, ut_array: object, bs_array: object, **options: object
) -> object:
    """Sionna's uplink 38.901 system-level channel for ``cell`` (umi, uma, rma)."""
    from sionna.phy.channel import tr38901

    model = {"umi": tr38901.UMi, "uma": tr38901.UMa, "rma": tr38901.RMa}[cell]
    o2i = {} if cell == "rma" else {"o2i_model": "low"}
    return model(
        carrier_frequency=carrier_hz,
        ut_array=ut_array,
        bs_array=bs_array,
        direction="uplink",
        **o2i,
        **options,
    )


def sionna_rays(model: object) -> tuple[object, object]:
    """The large-scale parameters and rays Sionna drew at ``set_topology`` for ``model``, without
    computing channel coefficients (two thirds of a full call; the rays are the same, as the
    coefficients are drawn after them). Uses Sionna 2.x internals, checked here."""
    lsp = getattr(model, "_lsp", None)
    sampler = getattr(model, "_ray_sampler", None)
    if lsp is None or sampler is None:
        raise RuntimeError(
            "this Sionna version does not expose the 38.901 ray sampler (_lsp, _ray_sampler) "
            "that channels/sionna_fading.py uses; install the pinned sionna-no-rt (constraints.txt)"
        )
    return lsp, sampler(lsp)


def _pack(row: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """One int64 key per (row, node): rows < 2^21, lattice indices within ±2^20."""
    if np.any(np.abs(ix) >= 2**20) or np.any(np.abs(iy) >= 2**20) or np.any(row >= 2**21):
        raise ValueError("positions beyond the ray lattice's reach (2^20 nodes from the BS)")
    return (row.astype(np.int64) << 42) | ((ix + 2**20) << 21) | (iy + 2**20)


def _unit(zenith: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth), np.cos(zenith)],
        axis=-1,
    )


class SionnaRayFading:
    """38.901 fading from Sionna's rays on a position lattice (see module)."""

    def __init__(
        self,
        cell: str,
        carrier_hz: float,
        bs_position: np.ndarray,
        antennas: int,
        ut_height_m: float,
        reseed: Callable[..., None],
        phase_rng: Callable[..., np.random.Generator],
        min_d2d_m: float = 10.0,
        shared_key: Hashable | None = None,
        tile: int = TILE,
    ) -> None:
        """``shared_key`` (e.g. the run's seed): when given, tiles go through a store that
        every model in this process with the same key and cell shares, so that the runs of a
        study with one seed draw each tile once (a tile is a pure function of the seed, the
        cell and its own key); None keeps them in this model alone. ``tile``: lattice nodes
        per tile side (the realisation depends on it: nodes of one tile share a Sionna
        topology, so their large-scale parameters are correlated as Sionna correlates UTs)."""
        if not 1 <= int(tile) <= 16:
            raise ValueError(f"tile (nodes per ray tile side) must be 1-16, got {tile}")
        self.tile_side = int(tile)
        import torch

        self._torch = torch
        self.cell = cell
        self.k = 2.0 * np.pi * carrier_hz / SPEED_OF_LIGHT
        self.bs = np.asarray(bs_position, dtype=float)
        self.spacing = RAY_CORRELATION_M[cell]
        self.ut_height_m = float(ut_height_m)
        self.min_d2d_m = float(min_d2d_m)
        self.antennas = int(antennas)
        self._reseed = reseed
        self._phase_rng = phase_rng
        self._bs_array = panel_array(carrier_hz, antennas)
        self._sionna = sionna_cell(
            cell,
            carrier_hz,
            panel_array(carrier_hz, 1),
            self._bs_array,
            enable_pathloss=False,
            enable_shadow_fading=False,
        )
        self._sionna.return_rays = True
        self.ant_pos = np.asarray(self._bs_array.ant_pos.detach().cpu(), dtype=float)  # [A, 3]
        # tiles are a pure function of (seed, state, tile): a cache, rebuilt after a resume
        cell_key = (cell, float(carrier_hz), tuple(self.bs), self.antennas, self.tile_side)
        self._shared_key = (shared_key, cell_key, self.ut_height_m, self.min_d2d_m)
        self._shared = shared_key is not None
        self._tiles = TileCache()

    # ---------------------------------------------------------------- public
    def gains(
        self,
        clients: np.ndarray,
        steps: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray,
        los: np.ndarray,
        indoor: np.ndarray,
    ) -> np.ndarray:
        """MRC power gain [K, n] (mean 1) at positions [K, n, 3]; ``steps`` and ``velocities``
        are not needed (the position carries the Doppler)."""
        del steps, velocities
        h = self.coefficients(np.asarray(clients, dtype=int), positions, los, indoor)
        return np.mean(np.abs(h) ** 2, axis=-1)

    def band_gains(
        self,
        clients: np.ndarray,
        positions: np.ndarray,
        los: np.ndarray,
        indoor: np.ndarray,
        freqs_hz: np.ndarray,
    ) -> np.ndarray:
        """MRC power gains [K, n, F] at frequency offsets ``freqs_hz`` [K, F] (Hz) from the
        carrier: every ray turned by −2π f τ with its cluster's delay τ (the LoS ray's is 0)."""
        freqs = np.asarray(freqs_hz, dtype=float)
        h = self.coefficients(np.asarray(clients, dtype=int), positions, los, indoor, freqs)
        return np.mean(np.abs(h) ** 2, axis=-1)

    def coefficients(
        self,
        clients: np.ndarray,
        positions: np.ndarray,
        los: np.ndarray,
        indoor: np.ndarray,
        freqs_hz: np.ndarray | None = None,
    ) -> np.ndarray:
        """Complex channel per BS antenna at positions [K, n, 3]: [K, n, A] at the carrier, or
        [K, n, F, A] at offsets ``freqs_hz`` [K, F] Hz from it."""
        pos = np.asarray(positions, dtype=float)
        state = np.where(indoor, O2I, np.where(los, LOS, NLOS))
        extra = () if freqs_hz is None else (np.shape(freqs_hz)[-1],)
        out = np.zeros((*pos.shape[:2], *extra, self.antennas), dtype=np.complex128)
        los_power = np.zeros(pos.shape[:2])
        for s in np.unique(state):
            nodes, w = node_weights(pos[..., :2], self.spacing[int(s)])
            kk, tt, qq = np.nonzero((state == s)[..., None] & (w > 0.0))
            at = nodes[kk, tt, qq]  # [P, 2]
            tiles = np.unique(np.floor_divide(at, self.tile_side), axis=0)
            self.prefetch(int(s), tiles.tolist())
            key = _pack(kk, at[:, 0], at[:, 1])
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
            bounds = np.r_[starts, len(key)]
            for g, first in enumerate(order[starts]):
                k_, ix, iy = int(kk[first]), int(at[first, 0]), int(at[first, 1])
                idx = order[bounds[g] : bounds[g + 1]]
                t, wt = tt[idx], w[k_, tt[idx], qq[idx]]
                f = None if freqs_hz is None else np.asarray(freqs_hz, dtype=float)[k_]
                h, kf = self._node_sum(int(clients[k_]), int(s), int(ix), int(iy), pos[k_, t], f)
                scale = wt * np.sqrt(1.0 / (kf + 1.0))
                out[k_, t] += scale.reshape(-1, *([1] * (h.ndim - 1))) * h
                los_power[k_, t] += wt**2 * kf / (kf + 1.0)
        if (state == LOS).any():
            kk, tt = np.nonzero(state == LOS)
            ray = np.sqrt(los_power[kk, tt])[:, None] * self._los_ray(pos[kk, tt])  # [m, A]
            out[kk, tt] += ray if freqs_hz is None else ray[:, None, :]  # delay 0: flat
        return out

    # ---------------------------------------------------------------- internals
    def _node_sum(
        self,
        client: int,
        state: int,
        ix: int,
        iy: int,
        pos: np.ndarray,
        freqs: np.ndarray | None = None,
    ) -> tuple[np.ndarray, float]:
        """The scattered ray sum of node (ix, iy) for ``client`` at positions [m, 3] — [m, A],
        or [m, F] x A at offsets ``freqs`` [F] Hz — before its K-factor weight, and the node's
        K-factor."""
        side = self.tile_side
        tile = self.tile(state, ix // side, iy // side)
        n = (ix % side) * side + iy % side
        r = tile.turns.shape[2]
        phi = self._phase_rng(client, state, ix + KEY_OFFSET, iy + KEY_OFFSET).random(r)
        rot_c, rot_s = np.cos(2.0 * np.pi * phi), np.sin(2.0 * np.pi * phi)
        re, im = tile.amp_re[n], tile.amp_im[n]  # [R, A]
        a_re = re * rot_c[:, None] - im * rot_s[:, None]  # [R, A] float64
        a_im = re * rot_s[:, None] + im * rot_c[:, None]
        d = pos - tile.node_pos[n]  # [m, 3]
        kd = tile.turns[n]  # [3, R]
        # the phases elementwise (outer products): no value depends on the batch it is in
        turns = np.multiply.outer(d[:, 0], kd[0])
        part = np.multiply.outer(d[:, 1], kd[1])
        turns += part
        if np.any(d[:, 2]):  # clients at the nodes' height add exactly nothing here
            np.multiply.outer(d[:, 2], kd[2], out=part)
            turns += part
        if freqs is None:
            return self._phasor_sum(turns, a_re, a_im), float(tile.k_factor[n])
        h = np.stack(
            [self._phasor_sum(turns - f * tile.delays_s[n], a_re, a_im) for f in freqs], axis=1
        )
        return h, float(tile.k_factor[n])

    @staticmethod
    def _phasor_sum(turns: np.ndarray, a_re: np.ndarray, a_im: np.ndarray) -> np.ndarray:
        """Σ_r a_r·exp(j2π·turns_r) per point [m, A] for phases ``turns`` [m, R] in cycles
        and amplitudes [R, A]. The phase is reduced to half a cycle in float64 and its cosine
        and sine taken in float32, elementwise (bit-exact whatever the batch); the sums over
        rays are float64 matrix products (the same to ~1e-16 whatever the batch)."""
        whole = np.rint(turns)
        frac = turns - whole
        arg = frac.astype(np.float32)
        arg *= TWO_PI
        c = np.cos(arg).astype(np.float64)
        s = np.sin(arg).astype(np.float64)
        return (c @ a_re - s @ a_im) + 1j * (s @ a_re + c @ a_im)

    def _los_ray(self, pos: np.ndarray) -> np.ndarray:
        """The LoS ray [m, A] at positions [m, 3] (unit power, BS steering, phase −k·d3D)."""
        to_ut = pos - self.bs
        d3d = np.linalg.norm(to_ut, axis=-1)
        steer = np.exp(1j * self.k * ((to_ut / d3d[:, None]) @ self.ant_pos.T))
        return np.exp(-1j * self.k * d3d)[:, None] * steer

    def node_positions(self, state: int, tx: int, ty: int) -> np.ndarray:
        """Where the tile² nodes of tile (tx, ty) draw their rays [N, 3]: the lattice point at
        the UT height, moved out to the 38.901 minimum 2D distance from the BS if nearer."""
        side = self.tile_side
        a, b = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        ix, iy = (tx * side + a).ravel(), (ty * side + b).ravel()
        xy = np.stack([ix, iy], 1) * self.spacing[state] - self.bs[:2]
        d = np.linalg.norm(xy, axis=1)
        far = np.where(d > 0, np.maximum(d, self.min_d2d_m) / np.maximum(d, 1e-12), 0.0)
        xy = np.where((d > 0)[:, None], xy * far[:, None], [self.min_d2d_m, 0.0])
        return np.column_stack([xy + self.bs[:2], np.full(len(xy), self.ut_height_m)])

    def tile(self, state: int, tx: int, ty: int) -> RayTile:
        """The rays of tile (tx, ty) in ``state`` (drawn the first time it is asked for)."""
        held = self._tiles((state, tx, ty))
        if held is None:
            self.prefetch(state, [(tx, ty)])
            held = self._tiles((state, tx, ty))
        return held

    def prefetch(self, state: int, tiles: list[tuple[int, int]]) -> None:
        """Hold ``tiles`` [(tx, ty)] of ``state``: from this model, else from the process-wide
        store (with a shared key), else drawn — the missing ones in batched Sionna calls of
        at most BATCH_NODES nodes (a tile is the same whichever batch draws it)."""
        missing = []
        for tx, ty in dict.fromkeys((int(a), int(b)) for a, b in tiles):
            if (state, tx, ty) in self._tiles:
                continue
            got = STORE.find((self._shared_key, state, tx, ty)) if self._shared else None
            if got is None:
                missing.append((tx, ty))
            else:
                self._tiles.keep((state, tx, ty), got)
        per_call = max(1, BATCH_NODES // self.tile_side**2)
        for i in range(0, len(missing), per_call):
            part = missing[i : i + per_call]
            for (tx, ty), tile in zip(part, self.draw_tiles(state, part), strict=True):
                self._tiles.keep((state, tx, ty), tile)
                if self._shared:
                    STORE.put((self._shared_key, state, tx, ty), tile)

    def draw_tiles(self, state: int, tiles: list[tuple[int, int]]) -> list[RayTile]:
        """Sionna's rays for ``tiles`` [(tx, ty)] in ``state``: one call batched over the
        tiles, each drawing from the stream its own key seeds (channels.sionna_batch), so a
        tile is the same alone or in any batch."""
        torch, f = self._torch, self._torch.float32
        # Sionna's matrix products run over all the batch's UTs at once, and their float32
        # results depend on how many rows there are below 64: the batch is padded to a
        # multiple of 64 UTs with spare copies of the last tile (drawn, not kept)
        m = self.tile_side**2
        spare = -len(tiles) % max(1, PAD_UTS // m)
        keys = [*tiles, *[tiles[-1]] * spare]
        p = np.stack([self.node_positions(state, tx, ty) for tx, ty in keys])  # [B, N, 3]
        b = len(keys)
        seeds = [partial(self._reseed, state, tx + KEY_OFFSET, ty + KEY_OFFSET) for tx, ty in keys]
        self._sionna.reset_topology()
        with per_element_streams(seeds):
            self._sionna.set_topology(
                torch.tensor(p, dtype=f),
                torch.tensor(np.repeat(self.bs[None, None], b, axis=0), dtype=f),
                torch.zeros(b, m, 3, dtype=f),
                torch.zeros(b, 1, 3, dtype=f),
                torch.zeros(b, m, 3, dtype=f),
                torch.full((b, m), state == O2I),
                los=torch.full((b, 1, m), state == LOS),
            )
            lsp, rays = sionna_rays(self._sionna)

        def arr(x: object) -> np.ndarray:
            return np.asarray(x.detach().cpu(), dtype=float)[:, 0]  # [B, m, C(, M)]

        # Sionna's ray sampler works in the downlink view (BS transmits): the UT side is the
        # arrival side, the BS side the departure side
        n_rays = rays.aod.shape[-1]
        ut_dirs = _unit(arr(rays.zoa), arr(rays.aoa)).reshape(b, m, -1, 3)
        bs_dirs = _unit(arr(rays.zod), arr(rays.aod)).reshape(b, m, -1, 3)
        kf, powers, delays = arr(lsp.k_factor), arr(rays.powers), arr(rays.delays)
        return [
            self._tile_of(state, p[i], kf[i], powers[i], delays[i], ut_dirs[i], bs_dirs[i], n_rays)
            for i in range(len(tiles))
        ]

    def _tile_of(
        self,
        state: int,
        p: np.ndarray,
        kf: np.ndarray,
        powers: np.ndarray,
        delays: np.ndarray,
        ut_dirs: np.ndarray,
        bs_dirs: np.ndarray,
        n_rays: int,
    ) -> RayTile:
        """One tile from its nodes' draws: positions ``p`` [N, 3], K-factors [N], cluster
        powers and delays [N, C], UT- and BS-side ray directions [N, R, 3]."""
        ray_power = np.repeat(powers / n_rays, n_rays, axis=1)  # [N, R]
        steer = np.exp(1j * self.k * (bs_dirs @ self.ant_pos.T))  # [N, R, A]
        amp = np.sqrt(ray_power)[..., None] * steer
        return RayTile(
            node_pos=p,
            turns=np.ascontiguousarray((ut_dirs * (self.k / (2.0 * np.pi))).transpose(0, 2, 1)),
            amp_re=np.ascontiguousarray(amp.real),
            amp_im=np.ascontiguousarray(amp.imag),
            k_factor=np.where(state == LOS, kf, 0.0),
            delays_s=np.repeat(delays, n_rays, axis=1),
        )
