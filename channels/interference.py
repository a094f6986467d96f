"""Uplink SINR with the other cells' uploads, and open-loop uplink power control.

Each upload holds a contiguous piece [lo, hi) Hz of its cell's band (frequency reuse 1: every
cell's band is the same spectrum) and spreads its power evenly over it. At its serving cell,
uploads of the same cell are orthogonal; an upload of another cell adds its power spectral
density times its coupling gain to that cell wherever the two pieces overlap. The interference
is therefore piecewise constant over an upload's piece, between the edges of the other pieces,
and the rate is exact over those segments: Σ_seg |seg| · log2(1 + S / (N + I_seg)), S and N the
signal and noise spectral densities. The sector antennas' gains are in the coupling gains.

Power: P = min(P_max, P0 + α·PL + 10·log10(M_RB)) dBm (TS 38.213 §7.1.1, PUSCH, open loop only:
no closed-loop term, no Δ_TF), PL the coupling loss to the serving cell and M_RB the resource
blocks of 12 × 15 kHz the piece spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RB_HZ = 180e3  # one resource block at 15 kHz subcarrier spacing


def open_loop_power_dbm(
    coupling_loss_db: np.ndarray,
    bandwidth_hz: np.ndarray,
    p_max_dbm: float,
    p0_dbm: float,
    alpha: float,
) -> np.ndarray:
    """Transmit power [dBm] of uploads with coupling loss PL [dB] (positive) to their serving
    cell over ``bandwidth_hz``: min(P_max, P0 + α·PL + 10·log10(bandwidth / 180 kHz))."""
    rbs = np.maximum(np.asarray(bandwidth_hz, dtype=float), 1e-9) / RB_HZ
    want = p0_dbm + alpha * np.asarray(coupling_loss_db, dtype=float) + 10.0 * np.log10(rbs)
    return np.minimum(p_max_dbm, want)


@dataclass(frozen=True)
class Uplinks:
    """Uploads on air at one instant: serving ``cell`` [U], piece ``lo_hz``/``hi_hz`` [U] of
    the band, transmit ``power_dbm`` [U], coupling ``gain_db`` [U, C] to every cell."""

    cell: np.ndarray
    lo_hz: np.ndarray
    hi_hz: np.ndarray
    power_dbm: np.ndarray
    gain_db: np.ndarray


@dataclass(frozen=True)
class Sinr:
    """Per upload: its rate [bit/s] over its piece (exact over the interference segments),
    its mean interference spectral density [dBm/Hz] over the piece (−inf without any) and its
    effective SINR [dB] (the one flat SINR giving the same rate)."""

    rate_bps: np.ndarray
    interference_dbm_hz: np.ndarray
    sinr_db: np.ndarray


def uplink_sinr(up: Uplinks, noise_dbm_hz: float) -> Sinr:
    """Rates and SINRs of every upload in ``up`` with the others' interference: the band cut
    at every piece edge into elementary intervals E, on which who transmits is constant; one
    pass of [E, U] and [E, C] arrays (no loop over uploads)."""
    lo, hi = np.asarray(up.lo_hz, dtype=float), np.asarray(up.hi_hz, dtype=float)
    width = np.maximum(hi - lo, 0.0)
    n = len(lo)
    cell = np.asarray(up.cell, dtype=np.int64)
    gain = 10.0 ** (np.asarray(up.gain_db, dtype=float) / 10.0)  # [U, C]
    psd_mw = 10.0 ** (np.asarray(up.power_dbm, dtype=float) / 10.0) / np.maximum(width, 1e-300)
    signal = psd_mw * gain[np.arange(n), cell]  # mW/Hz at the serving cell
    noise = 10.0 ** (noise_dbm_hz / 10.0)
    cuts = np.unique(np.concatenate([lo, hi]))
    seg, mid = np.diff(cuts), 0.5 * (cuts[:-1] + cuts[1:])
    on = (lo[None, :] <= mid[:, None]) & (mid[:, None] < hi[None, :])  # [E, U]
    onf = on.astype(float)
    heard = onf @ (psd_mw[:, None] * gain)  # [E, C]: every upload's PSD at every cell
    own = np.zeros((len(mid), gain.shape[1]))  # [E, C]: the cell's own uploads' part
    np.add.at(own.T, cell, (onf * (psd_mw * gain[np.arange(n), cell])[None, :]).T)
    interference = np.maximum(heard - own, 0.0)[:, cell]  # [E, U] at each upload's cell
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = np.where(
            on, seg[:, None] * np.log2(1.0 + signal[None, :] / (noise + interference)), 0.0
        )
        rate = bits.sum(axis=0)
        mean_i = (onf * seg[:, None] * interference).sum(axis=0) / width
        eff = np.where(width > 0, rate / np.maximum(width, 1e-300), 0.0)
        sinr_db = 10.0 * np.log10(2.0**eff - 1.0)
        return Sinr(rate, 10.0 * np.log10(np.where(width > 0, mean_i, 0.0)), sinr_db)
