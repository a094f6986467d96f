"""Channel statistics against theory: fixed seeds, tolerances from the sample sizes.

Every tolerance is a multiple (4) of the standard error of the estimate for the sample drawn.
"""

import numpy as np
import pytest
from scipy.special import exp1, j0

from channels import Cell38901, ExponentialField, SumOfSinusoids, los_probability
from channels.tr38901 import CELLS
from cosim.world.seeding import SeedBank

Z = 4.0  # standard errors allowed


def _rng_factory(seed=0):
    bank = SeedBank(seed)
    return lambda purpose, *keys: bank.rng(purpose, *keys)


def _cell(name, k, seed=0, **kw):
    args = dict(indoor_ratio=0.0, in_car_ratio=0.0, o2i_model="low", fading=None)
    args.update(kw)
    bs = np.array([0.0, 0.0, CELLS[name].bs_height_m])
    return Cell38901(name, bs, 3.5e9, 0.1, k, _rng_factory(seed), **args)


def _ring(k, radius):
    phi = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), np.full(k, 1.5)], 1)


def _line_positions(k, n, step_m, start=None):
    start = np.zeros((k, 3)) if start is None else start
    pos = np.repeat(start[:, None, :], n, axis=1).copy()
    pos[..., 0] += step_m * np.arange(n)[None, :]
    return pos


def _static(cell, pos):
    """A cell's trace of K static clients at positions [K, 3], one step."""
    k = len(pos)
    return cell.trace(np.arange(k), np.array([0]), pos[:, None, :], np.zeros((k, 1, 3)))


def _over_seeds(name, seeds, pos, **kw):
    """Traces of one client per position [P, 3] in cells of ``seeds`` different seeds, each
    with its own fields (so samples are independent): los, shadowing_db, each [seeds, P]."""
    out = [_static(_cell(name, len(pos), seed=s, **kw), pos) for s in range(seeds)]
    return (
        np.stack([t.los[:, 0] for t in out]),
        np.stack([t.shadowing_db[:, 0] for t in out]),
    )


def test_field_is_standard_normal_with_exponential_correlation():
    """Over independent fields (seeds), at random points and directions: mean 0, variance 1 and
    correlation exp(−d/D) at 5, 13 and 30 m for D = 13 m. Points of one field share its wave
    vectors, so the unit of the standard error is the seed (per-seed means)."""
    seeds, points, corr = 1000, 10, 13.0
    rng = np.random.default_rng(0)
    lags = (5.0, 13.0, 30.0)
    first, second, prods = [], [], {lag: [] for lag in lags}
    for s in range(seeds):
        field = ExponentialField(corr, np.random.default_rng(s))
        base = rng.uniform(-5000.0, 5000.0, (points, 2))
        g = field(base)
        first.append(g.mean())
        second.append(np.mean(g**2))
        for lag in lags:
            ang = rng.uniform(0.0, 2.0 * np.pi, points)
            far = base + lag * np.stack([np.cos(ang), np.sin(ang)], 1)
            prods[lag].append(np.mean(g * field(far)))

    def within(values, expected, what):
        v = np.asarray(values)
        est, se = v.mean(), v.std(ddof=1) / np.sqrt(len(v))
        print(f"{what}: {est:.4f} vs {expected:.4f} (standard error {se:.4f})")
        assert abs(est - expected) < Z * se
        return est

    within(first, 0.0, "mean")
    within(second, 1.0, "variance")
    for lag in lags:
        rho = within(prods[lag], np.exp(-lag / corr), f"correlation at {lag:.0f} m")
        print(f"  fitted decorrelation distance {-lag / np.log(rho):.2f} m (D = 13 m)")


def test_field_value_depends_on_the_point_only():
    field = ExponentialField(10.0, np.random.default_rng(1))
    pts = np.random.default_rng(2).uniform(-400, 400, (5000, 2))
    whole = field(pts)
    order = np.random.default_rng(3).permutation(len(pts))
    np.testing.assert_array_equal(field(pts[order]), whole[order])
    np.testing.assert_array_equal(field(pts[17:18]), whole[17:18])
    np.testing.assert_array_equal(
        field(pts[:3000].reshape(30, 100, 2)), whole[:3000].reshape(30, 100)
    )


@pytest.mark.parametrize("cell", ["umi", "uma", "rma"])
def test_los_frequency_matches_38901_probability(cell):
    seeds = 2000
    dists = np.array([40.0, 120.0, 400.0])
    pos = np.stack([dists, np.zeros(3), np.full(3, 1.5)], 1)
    los, _ = _over_seeds(cell, seeds, pos)
    for j, d in enumerate(dists):
        p = float(los_probability(cell, np.array([d]))[0])
        freq = los[:, j].mean()
        print(f"{cell} d={d:.0f} m: LoS share {freq:.3f} vs P_LoS {p:.3f}")
        assert abs(freq - p) < Z * np.sqrt(p * (1 - p) / seeds) + 1e-9


@pytest.mark.parametrize("cell", ["umi", "uma", "rma"])
def test_shadowing_std_per_condition(cell):
    seeds = 4000
    los, sf = _over_seeds(cell, seeds, np.array([[60.0, 0.0, 1.5]]))
    p = CELLS[cell]
    for mask, std in ((los, p.sf_std_los_db), (~los, p.sf_std_nlos_db)):
        n = int(mask.sum())
        est = sf[mask].std()
        print(f"{cell}: σ_SF {est:.2f} dB vs {std} dB over {n}")
        assert abs(est - std) < Z * std / np.sqrt(2 * n)


def test_cell_shadowing_decorrelates_over_its_distance():
    seeds, n = 800, 40
    start = _ring(3, 300.0)  # 520 m apart
    tangent = np.stack([-start[:, 1], start[:, 0], np.zeros(3)], 1) / 300.0
    pos = start[:, None, :] + tangent[:, None, :] * np.arange(n)[None, :, None]  # 1 m per step
    xs, ys = [], []
    for s in range(seeds):
        tr = _cell("umi", 3, seed=s).trace(np.arange(3), np.arange(n), pos, np.zeros_like(pos))
        nlos = ~tr.los[:, 0] & ~tr.los[:, 13]
        xs.append(tr.shadowing_db[nlos, 0] / 7.82)
        ys.append(tr.shadowing_db[nlos, 13] / 7.82)
    x, y = np.concatenate(xs), np.concatenate(ys)
    rho = np.mean(x * y)
    print(
        f"UMi NLoS shadowing at 13 m: correlation {rho:.3f} vs e^-1 = {np.exp(-1):.3f} "
        f"over {len(x)}; fitted decorrelation distance {-13 / np.log(rho):.1f} m (13 m)"
    )
    assert abs(rho - np.exp(-1.0)) < Z * (1 - np.exp(-2.0) + 0.05) / np.sqrt(len(x))


def test_two_clients_at_one_place_share_los_and_shadowing():
    ch = _cell("umi", 6)
    pos = np.repeat(_ring(3, 120.0), 2, axis=0)  # clients 2j and 2j+1 stand together
    tr = _static(ch, pos)
    np.testing.assert_array_equal(tr.los[0::2], tr.los[1::2])
    np.testing.assert_array_equal(tr.shadowing_db[0::2], tr.shadowing_db[1::2])


def test_o2i_and_in_car_shares_and_losses():
    k = 5000
    ch = _cell("uma", k, indoor_ratio=0.8, in_car_ratio=0.2)
    assert abs(ch.indoor.mean() - 0.8) < Z * np.sqrt(0.16 / k)
    assert np.all(ch.indoor | ch.in_car)
    car = ch.penetration_db[ch.in_car]
    assert abs(car.mean() - 9.0) < Z * 5.0 / np.sqrt(len(car))
    tr = ch.trace(np.arange(k), np.array([0]), _ring(k, 100.0)[:, None, :], np.zeros((k, 1, 3)))
    assert not tr.los[ch.indoor].any()  # an O2I link has no LoS ray


def test_rayleigh_autocorrelation_is_j0():
    k, v, fc = 4000, 3.0, 3.5e9
    fd = v * fc / 299_792_458.0
    f = SumOfSinusoids(k, fc, np.random.default_rng(3), np.zeros(3), num_paths=32)
    taus = np.array([0.0, 0.002, 0.005, 0.01, 0.02])
    pos = _line_positions(k, len(taus), 0.0)
    pos[..., 0] = v * taus[None, :]
    h = f.coefficients(np.arange(k), pos)[:, 0]
    for i, tau in enumerate(taus):
        est = np.mean(h[:, 0] * np.conj(h[:, i])).real
        theory = j0(2 * np.pi * fd * tau)
        print(f"tau {tau * 1e3:.0f} ms: autocorrelation {est:.3f} vs J0 {theory:.3f}")
        assert abs(est - theory) < Z / np.sqrt(k)


def test_rayleigh_ergodic_rate_matches_closed_form():
    m, snr = 20000, 10.0
    f = SumOfSinusoids(m, 3.5e9, np.random.default_rng(4), np.zeros(3), num_paths=32)
    g = f.gains(np.arange(m), np.zeros((m, 1, 3)))[:, 0]
    rate = np.log2(1 + snr * g)
    theory = np.exp(1 / snr) * exp1(1 / snr) / np.log(2)
    print(f"ergodic rate {rate.mean():.4f} vs {theory:.4f} bit/s/Hz")
    assert abs(rate.mean() - theory) < Z * rate.std() / np.sqrt(m)
    assert abs(g.mean() - 1.0) < Z * g.std() / np.sqrt(m)


def test_rician_and_mrc_moments():
    m = 20000
    bs = np.array([0.0, 0.0, 10.0])
    pos = _ring(m, 100.0)[:, None, :]
    kf = 10 ** (6 / 10)
    g = SumOfSinusoids(m, 3.5e9, np.random.default_rng(5), bs, k_factor=kf).gains(
        np.arange(m), pos
    )[:, 0]
    # Rician power: mean 1, variance (1 + 2K) / (1 + K)²
    assert abs(g.mean() - 1.0) < Z * g.std() / np.sqrt(m)
    assert abs(g.var() - (1 + 2 * kf) / (1 + kf) ** 2) < 0.05
    g4 = SumOfSinusoids(m, 3.5e9, np.random.default_rng(6), bs, antennas=4).gains(
        np.arange(m), pos
    )[:, 0]
    # MRC over 4 i.i.d. Rayleigh branches: mean 1, variance 1/4 (gamma(4, 1/4))
    assert abs(g4.mean() - 1.0) < Z * g4.std() / np.sqrt(m)
    assert abs(g4.var() - 0.25) < 0.03


def test_static_client_fading_is_constant_and_moving_client_fades():
    f = SumOfSinusoids(2, 3.5e9, np.random.default_rng(7), np.zeros(3))
    still = np.zeros((1, 50, 3))
    g = f.gains(np.array([0]), still)
    assert np.all(g == g[0, 0])
    moving = _line_positions(1, 50, 0.05)
    assert f.gains(np.array([1]), moving).std() > 0.1
