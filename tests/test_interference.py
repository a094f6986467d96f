"""Uplink SINR across cells and open-loop power control (channels/interference.py): no
interference in one cell, symmetric for mirrored clients, exact over partly overlapping
pieces, and the 38.213 power formula."""

import itertools

import numpy as np
import pytest

from channels.interference import RB_HZ, Uplinks, open_loop_power_dbm, uplink_sinr

N0 = -174.0 + 5.0  # dBm/Hz with a 5 dB noise figure


def _log2p(x):
    return np.log2(1.0 + x)


def test_one_cell_has_no_interference_and_its_rate_is_shannons():
    up = Uplinks(
        cell=np.array([0, 0]),
        lo_hz=np.array([0.0, 5e6]),
        hi_hz=np.array([5e6, 10e6]),
        power_dbm=np.array([23.0, 20.0]),
        gain_db=np.array([[-100.0], [-110.0]]),
    )
    out = uplink_sinr(up, N0)
    snr = 10 ** ((up.power_dbm - 10 * np.log10(5e6) + up.gain_db[:, 0] - N0) / 10)
    np.testing.assert_allclose(out.rate_bps, 5e6 * _log2p(snr), rtol=1e-12)
    np.testing.assert_allclose(out.sinr_db, 10 * np.log10(snr), rtol=1e-9)
    assert np.all(np.isneginf(out.interference_dbm_hz))


def test_mirrored_clients_of_two_cells_see_the_same_sinr():
    # client 0 in cell 0 and client 1 in cell 1, each the other's mirror image
    gain = np.array([[-95.0, -115.0], [-115.0, -95.0]])
    up = Uplinks(np.array([0, 1]), np.zeros(2), np.full(2, 10e6), np.full(2, 23.0), gain)
    out = uplink_sinr(up, N0)
    assert out.rate_bps[0] == pytest.approx(out.rate_bps[1], rel=1e-12)
    assert out.sinr_db[0] == pytest.approx(out.sinr_db[1], rel=1e-12)
    # full overlap: SINR = S / (N + I) with I = the other's PSD x its gain to this cell
    s = 10 ** ((23.0 - 70.0 - 95.0) / 10)
    i = 10 ** ((23.0 - 70.0 - 115.0) / 10)
    assert out.sinr_db[0] == pytest.approx(10 * np.log10(s / (10 ** (N0 / 10) + i)), rel=1e-9)


def test_a_half_overlapping_piece_is_exact_over_its_two_segments():
    gain = np.array([[-95.0, -110.0], [-112.0, -97.0]])
    up = Uplinks(
        np.array([0, 1]), np.array([0.0, 5e6]), np.array([10e6, 15e6]), np.full(2, 23.0), gain
    )
    out = uplink_sinr(up, N0)
    n = 10 ** (N0 / 10)
    psd = 10 ** (23.0 / 10) / 10e6
    s0, i0 = psd * 10 ** (-95.0 / 10), psd * 10 ** (-112.0 / 10)  # 1 into cell 0
    want = 5e6 * _log2p(s0 / n) + 5e6 * _log2p(s0 / (n + i0))
    assert out.rate_bps[0] == pytest.approx(want, rel=1e-12)
    assert out.interference_dbm_hz[0] == pytest.approx(10 * np.log10(i0 / 2), rel=1e-9)


def test_open_loop_power_follows_the_path_loss_and_the_resource_blocks_up_to_p_max():
    p = open_loop_power_dbm(np.array([80.0, 100.0, 140.0]), 10 * RB_HZ, 23.0, -86.0, 0.8)
    np.testing.assert_allclose(p[:2], [-86.0 + 64.0 + 10.0, -86.0 + 80.0 + 10.0])
    assert p[2] == 23.0  # capped
    assert open_loop_power_dbm(100.0, 20 * RB_HZ, 99.0, -86.0, 0.8) == pytest.approx(
        open_loop_power_dbm(100.0, 10 * RB_HZ, 99.0, -86.0, 0.8) + 10 * np.log10(2)
    )


def test_many_uploads_of_many_cells_match_a_direct_sum_per_upload():
    """Random pieces (overlapping across cells, disjoint within a cell) against the formula
    written out per upload and per segment of its piece."""
    rng = np.random.default_rng(4)
    cells, per = 5, 6
    cell = np.repeat(np.arange(cells), per)
    edges = np.sort(rng.uniform(0, 20e6, (cells, per + 1)), axis=1)  # disjoint within a cell
    lo, hi = edges[:, :-1].ravel(), edges[:, 1:].ravel()
    power = rng.uniform(0.0, 23.0, len(cell))
    gain = rng.uniform(-140.0, -80.0, (len(cell), cells))
    out = uplink_sinr(Uplinks(cell, lo, hi, power, gain), N0)
    n = 10 ** (N0 / 10)
    psd = 10 ** (power / 10) / (hi - lo)
    for u in range(len(cell)):
        cuts = np.unique(np.clip(np.concatenate([lo, hi]), lo[u], hi[u]))
        rate = 0.0
        for a, b in itertools.pairwise(cuts):
            m = 0.5 * (a + b)
            i = sum(
                psd[v] * 10 ** (gain[v, cell[u]] / 10)
                for v in range(len(cell))
                if cell[v] != cell[u] and lo[v] <= m < hi[v]
            )
            s = psd[u] * 10 ** (gain[u, cell[u]] / 10)
            rate += (b - a) * np.log2(1 + s / (n + i))
        assert out.rate_bps[u] == pytest.approx(rate, rel=1e-9)
