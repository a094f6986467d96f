"""Channel package: 38.901 UMi path loss, link budget, and upload timing."""

import numpy as np
import pytest
import torch

from channels import (
    LinkBudget,
    PathlossChannel,
    delivery_time,
    los_probability,
    pathloss_db,
    shannon_rate,
    upload_end_time,
)
from channels.sionna_fading import panel_array, sionna_cell


def test_umi_pathloss_matches_hand_computed_38901_values():
    fc, hbs, hut = 3.5e9, 10.0, 1.5
    # breakpoint d'_BP = 4 (10-1)(1.5-1) 3.5e9 / c = 210.13 m
    d2d = np.array([50.0, 300.0, 50.0])
    d3d = np.sqrt(d2d**2 + (hbs - hut) ** 2)
    los = np.array([True, True, False])
    pl = pathloss_db("umi", d2d, d3d, fc, hbs, hut, los)
    pl1 = 32.4 + 21 * np.log10(d3d[0]) + 20 * np.log10(3.5)
    dbp = 4 * 9.0 * 0.5 * fc / 299_792_458.0
    pl2 = 32.4 + 40 * np.log10(d3d[1]) + 20 * np.log10(3.5) - 9.5 * np.log10(dbp**2 + 8.5**2)
    nlos = max(35.3 * np.log10(d3d[2]) + 22.4 + 21.3 * np.log10(3.5), pl1)
    np.testing.assert_allclose(pl, [pl1, pl2, nlos], rtol=0, atol=1e-9)
    # by hand: d3D = 50.72 m -> 32.4 + 21·1.7052 + 20·0.5441 = 79.09 dB
    assert pl1 == pytest.approx(79.09, abs=0.01)


@pytest.mark.parametrize(
    ("cell", "h_bs", "fc"), [("umi", 10.0, 3.5e9), ("uma", 25.0, 3.5e9), ("rma", 35.0, 0.7e9)]
)
def test_38901_pathloss_agrees_with_sionna_basic_pathloss(cell, h_bs, fc):
    rng = np.random.default_rng(0)
    n = 200
    d = rng.uniform(15, 2000 if cell == "rma" else 600, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    ut = np.stack([d * np.cos(phi), d * np.sin(phi), np.full(n, 1.5)], 1)
    los = rng.random(n) < 0.5
    arr = panel_array(fc)
    ch = sionna_cell(cell, fc, arr, arr, enable_shadow_fading=False)
    f = torch.float32
    ch.set_topology(
        torch.tensor(ut[None], dtype=f),
        torch.tensor([[[0.0, 0.0, h_bs]]], dtype=f),
        torch.zeros(1, n, 3, dtype=f),
        torch.zeros(1, 1, 3, dtype=f),
        torch.zeros(1, n, 3, dtype=f),
        torch.zeros(1, n, dtype=torch.bool),
        los=torch.tensor(los[None, None]),
    )
    sionna_pl = ch._scenario.basic_pathloss.numpy().reshape(-1)
    d2d = np.hypot(ut[:, 0], ut[:, 1])
    d3d = np.sqrt(d2d**2 + (h_bs - 1.5) ** 2)
    ours = pathloss_db(cell, d2d, d3d, fc, h_bs, 1.5, los)
    err = np.abs(ours - sionna_pl)
    print(f"{cell}: max |ours - sionna| = {err.max():.4f} dB over {n} links")
    assert err.max() < 0.01


def test_los_probability_shape_and_limits():
    p = los_probability("umi", np.array([5.0, 18.0, 50.0, 200.0, 2000.0]))
    assert p[0] == 1.0 and p[1] == pytest.approx(1.0)
    assert np.all(np.diff(p) <= 0) and np.all((p > 0) & (p <= 1))
    assert p[2] == pytest.approx(18 / 50 + np.exp(-50 / 36) * (1 - 18 / 50))


def test_pathloss_model_los_frequency_follows_probability():
    n = 4000
    model = PathlossChannel(np.array([0, 0, 10.0]), 3.5e9, n, np.random.default_rng(1))
    pos = np.tile([[[100.0, 0.0, 1.5]]], (n, 1, 1))
    tr = model.trace(np.arange(n), np.array([0]), pos, np.zeros_like(pos))
    expected = los_probability("umi", np.array([100.0]))[0]
    assert tr.los.mean() == pytest.approx(expected, abs=0.025)
    assert np.all(tr.fading_gain == 1.0) and np.all(tr.shadowing_db == 0.0)
    # time-consistent: the same client at the same place gives the same channel again
    tr2 = model.trace(np.arange(n), np.array([500]), pos, np.zeros_like(pos))
    np.testing.assert_array_equal(tr.pathloss_db, tr2.pathloss_db)
    np.testing.assert_array_equal(tr.los, tr2.los)


def test_noise_is_ktb_plus_noise_figure_and_snr_scales_with_bandwidth():
    lb = LinkBudget(tx_power_dbm=23.0, noise_figure_db=5.0)
    assert lb.noise_dbm(1.0) == pytest.approx(-173.98 + 5.0, abs=0.01)
    assert lb.noise_dbm(1e6) - lb.noise_dbm(1e5) == pytest.approx(10.0)
    snr = lb.snr_db(-100.0, 1e6)
    assert snr == pytest.approx(23 - 100 - (-173.98 + 60 + 5), abs=0.01)
    assert 10 ** (snr / 10) == pytest.approx(lb.snr_per_hz(-100.0) / 1e6)


def test_shannon_rate():
    assert shannon_rate(1e6, 0.0) == pytest.approx(1e6)  # log2(1 + 1)
    assert shannon_rate(2e6, 10 * np.log10(3)) == pytest.approx(4e6)


def test_delivery_constant_rate_is_exact():
    out = delivery_time(
        np.array([1000.0]), np.full((1, 11), 100.0), 0.0, 1.0, np.array([0.5]), np.array([11.0])
    )
    assert out.t_end[0] == pytest.approx(10.5)


def test_delivery_piecewise_rate_start_mid_step():
    rate = np.array([[100.0, 0.0, 300.0, 50.0]])
    # starts at 0.25: 75 bits in step 0, nothing in step 1, then 300/s from t=2
    out = delivery_time(np.array([225.0]), rate, 0.0, 1.0, np.array([0.25]), np.array([4.0]))
    assert out.t_end[0] == pytest.approx(2.5)
    assert out.delivered[0] and out.delivered_bits[0] == 225.0


def test_delivery_misses_deadline_with_partial_bits():
    rate = np.full((1, 5), 100.0)
    out = delivery_time(np.array([1000.0]), rate, 0.0, 1.0, np.array([1.5]), np.array([3.2]))
    assert np.isnan(out.t_end[0]) and not out.delivered[0]
    assert out.delivered_bits[0] == pytest.approx(170.0)


def test_delivery_vectorised_equals_one_by_one_and_zero_bits():
    rng = np.random.default_rng(3)
    rate = rng.uniform(0, 1e6, (20, 50))
    bits = rng.uniform(0, 3e6, 20)
    bits[0] = 0.0
    start = rng.uniform(0, 0.2, 20)
    lim = np.full(20, 0.5)
    batch = delivery_time(bits, rate, 0.0, 0.01, start, lim)
    for i in range(20):
        one = delivery_time(
            bits[i : i + 1], rate[i : i + 1], 0.0, 0.01, start[i : i + 1], lim[i : i + 1]
        )
        np.testing.assert_array_equal(one.t_end, batch.t_end[i : i + 1])
        np.testing.assert_array_equal(one.delivered_bits, batch.delivered_bits[i : i + 1])
    assert batch.t_end[0] == start[0]
    done = batch.delivered
    assert np.all(batch.t_end[done] <= lim[done]) and np.all(batch.t_end[done] >= start[done])


def test_upload_end_time_uses_shannon_rate_and_rejects_uncovered_window():
    snr_db = np.zeros((1, 100))  # 1 bit/s/Hz
    out = upload_end_time(
        np.array([5e5]), np.array([1e6]), snr_db, 0.0, 0.01, np.array([0.1]), np.array([1.0])
    )
    assert out.t_end[0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="does not cover"):
        upload_end_time(
            np.array([5e5]), np.array([1e6]), snr_db, 0.0, 0.01, np.array([0.1]), np.array([2.0])
        )


def test_phy_abstraction_rate_is_an_achievable_5g_rate():
    from channels import PhyAbstraction, Shannon

    phy = PhyAbstraction(bler_target=0.1)
    snr = np.arange(-15.0, 40.0, 0.5)
    eta, cap = phy.efficiency(snr), Shannon().efficiency(snr)
    assert np.all(eta <= cap) and np.all(eta >= 0)
    assert eta[0] == 0.0  # below the lowest MCS: outage
    mid = (snr >= 5) & (snr <= 20)
    assert np.all(eta[mid] > 0.4 * cap[mid])  # 5G NR gets within a few dB of Shannon
    assert eta[-1] == pytest.approx(eta.max()) and eta.max() < 6.0  # 64QAM, rate < 1
    # step-wise lookup: constant inside a grid cell
    assert phy.efficiency(np.array([10.001]))[0] == phy.efficiency(np.array([10.0]))[0]
    # the upload integrates the same rate
    out = upload_end_time(
        np.array([1e6]),
        np.array([1e6]),
        np.full((1, 200), 10.0),
        0.0,
        0.01,
        np.array([0.0]),
        np.array([2.0]),
        rate_model=phy,
    )
    expected = 1e6 / (1e6 * phy.efficiency(np.array([10.0]))[0])
    assert out.t_end[0] == pytest.approx(expected)


def test_fading_blocks_work_in_a_forked_child_of_a_process_that_used_them():
    """The block pool's threads do not survive a fork: the child makes its own (it would
    otherwise wait forever on a pool with no threads)."""
    import multiprocessing

    from channels.fading import SumOfSinusoids

    f = SumOfSinusoids(64, 3.5e9, np.random.default_rng(1), np.zeros(3))
    pos = np.random.default_rng(2).random((64, 400, 3)) * 50
    want = f.gains(np.arange(64), pos)  # several blocks: the pool is made here
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(f.gains, (np.arange(64), pos)).get(timeout=60)
    np.testing.assert_array_equal(got, want)
