"""Channel statistics against theory: fixed seeds, tolerances from the sample sizes.

Every tolerance is a multiple (4) of the standard error of the estimate for the sample drawn.
"""

import numpy as np
import pytest
from scipy.special import exp1, j0

from channels import Cell38901, SpatialProcesses, SumOfSinusoids, los_probability
from channels.tr38901 import CELLS
from cosim.world.seeding import SeedBank

Z = 4.0  # standard errors allowed


def _rng_factory(seed=0):
    bank = SeedBank(seed)
    return lambda purpose, *keys: bank.rng(purpose, *keys)


def _cell(name, k, start, **kw):
    args = dict(indoor_ratio=0.0, in_car_ratio=0.0, o2i_model="low", fading=None)
    args.update(kw)
    bs = np.array([0.0, 0.0, CELLS[name].bs_height_m])
    return Cell38901(name, bs, 3.5e9, 0.1, k, _rng_factory(), 400, start, **args)


def _procs(k, corr, rng, start, seed=0):
    return SpatialProcesses(k, np.array(corr), rng, 100, start, SeedBank(seed).rng("start"))


def _ring(k, radius):
    phi = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), np.full(k, 1.5)], 1)


def _line_positions(k, n, step_m, start=None):
    start = np.zeros((k, 3)) if start is None else start
    pos = np.repeat(start[:, None, :], n, axis=1).copy()
    pos[..., 0] += step_m * np.arange(n)[None, :]
    return pos


def test_process_is_standard_normal_with_exponential_correlation():
    k, n, corr = 4000, 60, 13.0
    pos = _line_positions(k, n, 1.0)
    proc = _procs(k, [corr], lambda c, b: SeedBank(1).rng("p", c, b), pos[:, 0])
    g = proc.sample(np.arange(k), np.arange(n), pos)[..., 0]
    assert abs(g[:, 0].mean()) < Z / np.sqrt(k)
    assert abs(g[:, -1].std() - 1.0) < Z / np.sqrt(2 * k)
    for lag in (5, 13, 30):
        rho = np.mean(g[:, 0] * g[:, lag])
        expected = np.exp(-lag / corr)
        print(f"lag {lag} m: correlation {rho:.3f} vs exp(-d/13) = {expected:.3f}")
        assert abs(rho - expected) < Z * (1 - expected**2 + 0.05) / np.sqrt(k)


def test_process_windows_overlap_and_gaps_are_consistent():
    rng = lambda c, b: SeedBank(2).rng("p", c, b)  # noqa: E731
    pos = _line_positions(3, 200, 0.5)
    a = _procs(3, [10.0], rng, pos[:, 0])
    b = _procs(3, [10.0], rng, pos[:, 0])
    full = a.sample(np.arange(3), np.arange(0, 100), pos[:, :100])
    first = b.sample(np.arange(3), np.arange(0, 60), pos[:, :60])
    again = b.sample(np.arange(3), np.arange(40, 100), pos[:, 40:100])
    np.testing.assert_array_equal(first, full[:, :60])
    np.testing.assert_array_equal(again[:, :20], full[:, 40:60])  # kept values, as they were
    # continued process: the closed form over another window split agrees to rounding
    np.testing.assert_allclose(again[:, 20:], full[:, 60:100], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="older"):
        b.sample(np.arange(3), np.arange(-100, -50) + 50, pos[:, :50])
    # a static client keeps its value over any gap
    still = np.zeros((1, 5, 3))
    s = _procs(1, [10.0], rng, still[:, 0])
    v1 = s.sample(np.array([0]), np.arange(5), still)
    v2 = s.sample(np.array([0]), np.arange(500, 505), still)
    assert np.all(v1 == v1[0, 0]) and np.all(v2 == v1[0, 0])


@pytest.mark.parametrize("cell", ["umi", "uma", "rma"])
def test_los_frequency_matches_38901_probability(cell):
    k = 3000
    for d in (40.0, 120.0, 400.0):
        ch = _cell(cell, k, _ring(k, d))
        tr = ch.trace(np.arange(k), np.array([0]), _ring(k, d)[:, None, :], np.zeros((k, 1, 3)))
        p = float(los_probability(cell, np.array([d]))[0])
        freq = tr.los.mean()
        print(f"{cell} d={d:.0f} m: LoS share {freq:.3f} vs P_LoS {p:.3f}")
        assert abs(freq - p) < Z * np.sqrt(p * (1 - p) / k) + 1e-9


@pytest.mark.parametrize("cell", ["umi", "uma", "rma"])
def test_shadowing_std_per_condition(cell):
    k = 6000
    ch = _cell(cell, k, _ring(k, 60.0))
    tr = ch.trace(np.arange(k), np.array([0]), _ring(k, 60.0)[:, None, :], np.zeros((k, 1, 3)))
    p = CELLS[cell]
    for mask, std in ((tr.los[:, 0], p.sf_std_los_db), (~tr.los[:, 0], p.sf_std_nlos_db)):
        n = int(mask.sum())
        est = tr.shadowing_db[mask, 0].std()
        print(f"{cell}: σ_SF {est:.2f} dB vs {std} dB over {n}")
        assert abs(est - std) < Z * std / np.sqrt(2 * n)


def test_cell_shadowing_decorrelates_over_its_distance():
    k = 3000
    start = _ring(k, 300.0)
    ch = _cell("umi", k, start)
    tangent = np.stack([-start[:, 1], start[:, 0], np.zeros(k)], 1) / 300.0
    n = 40
    pos = start[:, None, :] + tangent[:, None, :] * np.arange(n)[None, :, None]  # 1 m per step
    tr = ch.trace(np.arange(k), np.arange(n), pos, np.zeros_like(pos))
    nlos = ~tr.los[:, 0] & ~tr.los[:, 13]
    x = tr.shadowing_db[nlos, 0] / 7.82
    y = tr.shadowing_db[nlos, 13] / 7.82
    rho = np.mean(x * y)
    assert abs(rho - np.exp(-1.0)) < Z * (1 - np.exp(-2.0) + 0.05) / np.sqrt(nlos.sum())


def test_cell_is_continuous_across_round_windows():
    k = 50
    start = _ring(k, 200.0)
    ch1, ch2 = _cell("uma", k, start), _cell("uma", k, start)
    pos = _line_positions(k, 300, 0.2, start)  # 2 m/s at 0.1 s steps
    t = np.arange(300)  # steps of 0.1 s
    one = ch1.trace(np.arange(k), t, pos, np.zeros_like(pos))
    a = ch2.trace(np.arange(k), t[:150], pos[:, :150], np.zeros_like(pos[:, :150]))
    b = ch2.trace(np.arange(k), t[120:], pos[:, 120:], np.zeros_like(pos[:, 120:]))
    for name in ("los", "pathloss_db", "shadowing_db", "penetration_db"):
        full = getattr(one, name)
        np.testing.assert_array_equal(getattr(a, name), full[:, :150])
        np.testing.assert_array_equal(getattr(b, name)[:, :30], full[:, 120:150])  # kept values
        # the processes continued over another window split agree to rounding (closed form)
        np.testing.assert_allclose(getattr(b, name)[:, 30:], full[:, 150:], rtol=0, atol=1e-9)


def test_o2i_and_in_car_shares_and_losses():
    k = 5000
    ch = _cell("uma", k, _ring(k, 100.0), indoor_ratio=0.8, in_car_ratio=0.2)
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


def test_a_clients_channel_does_not_depend_on_when_it_is_first_asked():
    """Large scale and Sionna rays are drawn from each client's start, not at its first
    query: a static client sees the same channel whenever it is first scheduled, and a
    client's values do not depend on which others were asked with it."""
    from channels import SionnaRayFading

    k = 6
    start = _ring(k, 150.0)

    def cell():
        bank = SeedBank(3)
        fading = SionnaRayFading(
            "umi",
            3.5e9,
            np.array([0.0, 0.0, 10.0]),
            k,
            1,
            reseed=bank.seed_sionna,
            phase_rng=lambda d: bank.rng("ray_phases", d),
            window_steps=400,
        )
        return Cell38901(
            "umi",
            np.array([0.0, 0.0, 10.0]),
            3.5e9,
            0.1,
            k,
            bank.rng,
            400,
            start,
            indoor_ratio=0.0,
            in_car_ratio=0.0,
            o2i_model="low",
            fading=fading,
        )

    still = np.repeat(start[:, None], 3, axis=1)
    early = cell().trace(np.arange(k), np.arange(3), still, np.zeros_like(still))
    late_cell = cell()
    late_cell.trace(np.array([4, 5]), np.arange(3), still[4:], np.zeros_like(still[4:]))
    late = late_cell.trace(
        np.array([0, 1]), np.arange(3) + 700, still[:2], np.zeros_like(still[:2])
    )
    for name in ("los", "shadowing_db", "fading_gain"):
        np.testing.assert_array_equal(getattr(late, name), getattr(early, name)[:2])
