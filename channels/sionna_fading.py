"""38.901 small-scale fading from Sionna's rays, evolved by each client's own displacement.

Sionna (`sionna.phy.channel.tr38901`, uplink) draws the clusters and rays of a link: powers,
UT-side and BS-side angles, and the Rician K-factor of LoS links (38.901 §7.5 steps 1-9). A
fresh Sionna call redraws all of them, so they are drawn once per client ("a drop") and kept;
the channel is then evaluated here with the 38.901 ray sum (eq. 7.5-22/28/30, single V-polarised
omni antenna at the UT, the BS array of the scenario): every ray keeps its random initial phase
(step 10) and turns by k·r̂·Δp as the client moves Δp, which is the Doppler term of 7.5-22
written for any path, not only a constant velocity. So fading is continuous across rounds,
constant for a client that stands still, and its Doppler follows the client's actual speed.

Rays are redrawn when a client has moved farther than the 38.901 cluster correlation distance
(Table 7.6.3.1-2) from its drop point or its LoS state has changed at the start of a window;
the old and new ray sets are then cross-faded over ``fade_m`` metres of movement
(h = cos θ·h_old + sin θ·h_new keeps the mean power), so nothing jumps. Narrowband: the gain is
the ray sum at the carrier, averaged over the BS antennas (MRC, mean 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from channels.constants import SPEED_OF_LIGHT

# 38.901 Table 7.6.3.1-2: correlation distance of cluster/ray-specific variables (LoS, NLoS, O2I)
RAY_CORRELATION_M = {
    "umi": (12.0, 15.0, 15.0),
    "uma": (40.0, 50.0, 15.0),
    "rma": (50.0, 60.0, 15.0),
}
MAX_BATCH = 100  # clients per Sionna topology (set_topology grows as N³)


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


def _unit(zenith: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth), np.cos(zenith)],
        axis=-1,
    )


class SionnaRayFading:
    """Per-client 38.901 ray sets from Sionna; time evolution by displacement (see module)."""

    def __init__(
        self,
        cell: str,
        carrier_hz: float,
        bs_position: np.ndarray,
        num_clients: int,
        antennas: int,
        reseed: Callable[[int], None],
        phase_rng: Callable[[int], np.random.Generator],
        window_steps: int,
        fade_m: float | None = None,
    ) -> None:
        import torch

        self._torch = torch
        self.cell = cell
        self.k = 2.0 * np.pi * carrier_hz / SPEED_OF_LIGHT
        self.bs = np.asarray(bs_position, dtype=float)
        self.redraw_m = RAY_CORRELATION_M[cell]
        self.fade_m = fade_m if fade_m is not None else min(self.redraw_m) / 4.0
        self._reseed = reseed
        self._phase_rng = phase_rng
        self._drops = 0

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
        self.num_clients, self.antennas = num_clients, antennas
        k = num_clients
        self.has = np.zeros(k, dtype=bool)
        self.drop_pos = np.zeros((k, 3))
        self.drop_los = np.zeros(k, dtype=bool)
        self.kf = np.zeros(k)
        self.amp: np.ndarray | None = None  # [K, R, A] complex64, allocated at the first drop
        self.dirs: np.ndarray | None = None  # [K, R, 3] UT-side unit vectors
        self.has_prev = np.zeros(k, dtype=bool)  # an older ray set still fading out
        self.prev_amp: np.ndarray | None = None
        self.prev_dirs: np.ndarray | None = None
        self.prev_drop_pos = np.zeros((k, 3))
        self.prev_los = np.zeros(k, dtype=bool)
        self.prev_kf = np.zeros(k)
        self.fade_pos = np.zeros((k, 3))
        self.last_step = np.full(k, -1, dtype=np.int64)
        self._ring = np.zeros((k, int(window_steps) + 1, antennas), dtype=np.complex64)

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
        """MRC power gain [K, n] (mean 1) at global ``steps`` [n]."""
        del velocities  # the displacement carries the Doppler
        clients = np.asarray(clients, dtype=int)
        steps = np.asarray(steps, dtype=np.int64)
        size = self._ring.shape[1]
        if len(steps) > size:
            raise ValueError(f"window of {len(steps)} steps exceeds the {size} kept per client")
        old = steps[None, :] <= self.last_step[clients][:, None]  # [K, n]
        first_new = np.argmin(old, axis=1)
        rows = np.arange(len(clients))
        p_first = positions[rows, first_new]
        los_first = los[rows, first_new]
        moved = np.linalg.norm(p_first - self.drop_pos[clients], axis=1)
        limit = np.array(
            [
                self._redraw_distance(bool(l_), bool(i_))
                for l_, i_ in zip(los_first, indoor[rows, first_new], strict=True)
            ]
        )
        redraw = (~old.all(axis=1)) & (
            ~self.has[clients] | (moved > limit) | (los_first != self.drop_los[clients])
        )
        if redraw.any():
            self._draw(
                clients[redraw], p_first[redraw], los_first[redraw], indoor[rows, first_new][redraw]
            )
        h = self._evaluate(clients, positions)
        h[old] = self._ring[clients[:, None], steps[None, :] % size][old]
        new_rows, new_cols = np.nonzero(~old)
        self._ring[clients[new_rows], steps[new_cols] % size] = h[new_rows, new_cols]
        has_new = (~old).any(axis=1)
        self.last_step[clients[has_new]] = steps[-1]
        return np.mean(np.abs(h.astype(np.complex128)) ** 2, axis=-1)

    def prime(self, positions: np.ndarray, los: np.ndarray, indoor: np.ndarray) -> None:
        """Ray sets of every client at its starting position [K, 3], in seeded batches (so a
        client's rays do not depend on when it is first scheduled)."""
        self._draw(
            np.arange(self.num_clients),
            np.asarray(positions, dtype=float),
            np.asarray(los, dtype=bool),
            np.asarray(indoor, dtype=bool),
        )

    # ---------------------------------------------------------------- internals
    def _redraw_distance(self, los: bool, indoor: bool) -> float:
        los_m, nlos_m, o2i_m = self.redraw_m
        return o2i_m if indoor else (los_m if los else nlos_m)

    CHUNK = 128  # clients per batched ray sum (bounds the [chunk, n, R] phase tensor)

    def _evaluate(self, clients: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """h [K, n, A] at positions [K, n, 3], cross-faded from older ray sets where fading."""
        out = np.empty((len(clients), pos.shape[1], self.antennas), dtype=np.complex64)
        for lo in range(0, len(clients), self.CHUNK):
            c, p = clients[lo : lo + self.CHUNK], pos[lo : lo + self.CHUNK]
            h = self._ray_sum(
                self.amp[c], self.dirs[c], self.drop_pos[c], self.kf[c], self.drop_los[c], p
            )
            fading = self.has_prev[c]
            if fading.any():
                f = np.flatnonzero(fading)
                cf = c[f]
                dist = np.linalg.norm(p[f] - self.fade_pos[cf][:, None, :], axis=-1)
                theta = 0.5 * np.pi * np.clip(dist / self.fade_m, 0.0, 1.0)[..., None]
                old = self._ray_sum(
                    self.prev_amp[cf],
                    self.prev_dirs[cf],
                    self.prev_drop_pos[cf],
                    self.prev_kf[cf],
                    self.prev_los[cf],
                    p[f],
                )
                h[f] = np.cos(theta) * old + np.sin(theta) * h[f]
                self.has_prev[cf[np.all(theta >= 0.5 * np.pi, axis=(1, 2))]] = False
            out[lo : lo + self.CHUNK] = h
        return out

    def _ray_sum(
        self,
        amp: np.ndarray,
        dirs: np.ndarray,
        drop_pos: np.ndarray,
        kf: np.ndarray,
        los: np.ndarray,
        pos: np.ndarray,
    ) -> np.ndarray:
        """38.901 ray sum [c, n, A] for ray sets [c, R, ...] at positions [c, n, 3].

        Each ray's phase is first turned to the window's first position (float64), so the
        in-window phases stay small in float32. Then cos(φ) and cos(φ + π/2) = −sin(φ) of all
        rays come out of one batched affine map and one cosine, and the complex sum is one real
        batched matrix product (three times faster than complex exponentials)."""
        torch = self._torch
        c, r, a = amp.shape
        base = pos[:, 0, :]  # [c, 3]
        turn = np.exp(1j * self.k * np.einsum("cx,crx->cr", base - drop_pos, dirs))
        amp_w = amp * turn[..., None]  # [c, R, A] complex128
        delta = torch.from_numpy((pos - base[:, None, :]).astype(np.float32))  # [c, n, 3]
        k_dirs = torch.from_numpy((self.k * dirs).astype(np.float32)).transpose(1, 2)
        quarter = torch.cat([torch.zeros(r), torch.full((r,), 0.5 * np.pi)]).expand(c, 1, 2 * r)
        phase = torch.baddbmm(quarter, delta, k_dirs.repeat(1, 1, 2))  # [c, n, 2R]
        torch.cos(phase, out=phase)  # [cos φ | −sin φ]
        re, im = amp_w.real, amp_w.imag
        mix = np.concatenate(
            [np.concatenate([re, im], -1), np.concatenate([im, -re], -1)], axis=1
        )  # [c, 2R, 2A]
        out = torch.bmm(phase, torch.from_numpy(mix.astype(np.float32))).numpy()
        h = (out[..., :a] + 1j * out[..., a:]).astype(np.complex64)  # [c, n, A]
        if los.any():
            li = np.flatnonzero(los)
            to_ut = pos[li] - self.bs
            d3d = np.linalg.norm(to_ut, axis=-1)
            steer = np.exp(1j * self.k * ((to_ut / d3d[..., None]) @ self.ant_pos.T))
            h_los = np.exp(-1j * self.k * d3d)[..., None] * steer  # [l, n, A]
            w_nlos = np.sqrt(1.0 / (kf[li] + 1.0))[:, None, None]
            w_los = np.sqrt(kf[li] / (kf[li] + 1.0))[:, None, None]
            h[li] = (w_nlos * h[li] + w_los * h_los).astype(np.complex64)
        return h

    def _draw(
        self, clients: np.ndarray, pos: np.ndarray, los: np.ndarray, indoor: np.ndarray
    ) -> None:
        """New ray sets from Sionna for ``clients`` at ``pos`` (batched)."""
        torch = self._torch
        for start in range(0, len(clients), MAX_BATCH):
            sl = slice(start, start + MAX_BATCH)
            c, p, lo, ind = clients[sl], pos[sl], los[sl], indoor[sl]
            m = len(c)
            self._reseed(self._drops)
            phases = self._phase_rng(self._drops)
            self._drops += 1
            f = torch.float32
            self._sionna.reset_topology()
            self._sionna.set_topology(
                torch.tensor(p[None], dtype=f),
                torch.tensor(self.bs[None, None], dtype=f),
                torch.zeros(1, m, 3, dtype=f),
                torch.zeros(1, 1, 3, dtype=f),
                torch.zeros(1, m, 3, dtype=f),
                torch.tensor(ind[None]),
                los=torch.tensor(lo[None, None]),
            )
            lsp, rays = sionna_rays(self._sionna)
            kf = lsp.k_factor[0, 0].detach().cpu().numpy().astype(float)

            def arr(x: object) -> np.ndarray:
                return np.asarray(x.detach().cpu(), dtype=float)[0, 0]  # [m, C(, M)]

            # Sionna's ray sampler works in the downlink view (BS transmits): the UT side is
            # the arrival side, the BS side the departure side
            powers = arr(rays.powers)
            n_rays = rays.aod.shape[-1]
            ut_dirs = _unit(arr(rays.zoa), arr(rays.aoa)).reshape(m, -1, 3)
            bs_dirs = _unit(arr(rays.zod), arr(rays.aod)).reshape(m, -1, 3)
            ray_power = np.repeat(powers / n_rays, n_rays, axis=1)  # [m, R]
            phi = phases.uniform(-np.pi, np.pi, ray_power.shape)
            steer = np.exp(1j * self.k * (bs_dirs @ self.ant_pos.T))  # [m, R, A]
            amp = (np.sqrt(ray_power) * np.exp(1j * phi))[..., None] * steer
            if self.amp is None:
                r, a = amp.shape[1], self.antennas
                self.amp = np.zeros((self.num_clients, r, a), dtype=np.complex64)
                self.prev_amp = np.zeros_like(self.amp)
                self.dirs = np.zeros((self.num_clients, r, 3), dtype=np.float32)
                self.prev_dirs = np.zeros_like(self.dirs)
            had = self.has[c]
            if had.any():
                o = c[had]
                self.prev_amp[o], self.prev_dirs[o] = self.amp[o], self.dirs[o]
                self.prev_drop_pos[o], self.prev_kf[o] = self.drop_pos[o], self.kf[o]
                self.prev_los[o], self.fade_pos[o] = self.drop_los[o], p[had]
                self.has_prev[o] = True
            self.amp[c], self.dirs[c] = amp, ut_dirs
            self.drop_pos[c], self.drop_los[c] = p, lo
            self.kf[c] = np.where(lo, kf, 0.0)
            self.has[c] = True
