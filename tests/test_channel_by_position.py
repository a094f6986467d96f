"""A client's channel depends on the seed and where it is, never on when or with whom it is
evaluated: windows, orders and runs that differ in allocator, deadline, strategy or schedule
see one channel. And Rayleigh fading crosses levels as Rice's formulas say."""

import numpy as np
import pytest

from channels import Cell38901, SionnaRayFading, SumOfSinusoids
from channels.constants import SPEED_OF_LIGHT
from cosim import Scenario, read_channel, run
from cosim.world.seeding import SeedBank

Z = 4.0
TERMS = ("los", "pathloss_db", "shadowing_db", "penetration_db", "fading_gain")


def _cell(seed=3, model="umi", indoor_ratio=0.3, in_car_ratio=0.0):
    bank = SeedBank(seed)
    bs = np.array([0.0, 0.0, 10.0])
    fading = SionnaRayFading(
        model,
        3.5e9,
        bs,
        2,
        1.5,
        reseed=bank.seed_sionna,
        phase_rng=lambda *key: bank.rng("ray_phases", *key),
    )
    return Cell38901(
        model,
        bs,
        3.5e9,
        0.01,
        8,
        bank.rng,
        indoor_ratio=indoor_ratio,
        in_car_ratio=in_car_ratio,
        o2i_model="low",
        fading=fading,
    )


def _paths(k=8, n=1500, seed=0):
    """K clients on straight walks at 1-15 m/s, 10 ms steps: [K, n, 3] positions."""
    rng = np.random.default_rng(seed)
    start = np.column_stack([rng.uniform(-200, 200, (k, 2)), np.full(k, 1.5)])
    heading = rng.uniform(0, 2 * np.pi, k)
    speed = rng.uniform(1.0, 15.0, k)
    v = np.column_stack([speed * np.cos(heading), speed * np.sin(heading), np.zeros(k)])
    return start[:, None, :] + v[:, None, :] * 0.01 * np.arange(n)[None, :, None]


def _assert_same(a, b, where=""):
    for name in TERMS:
        x, y = getattr(a, name), getattr(b, name)
        if name == "los":
            np.testing.assert_array_equal(x, y, err_msg=f"{name} {where}")
        else:
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, err_msg=f"{name} {where}")


def test_one_call_many_windows_any_order_any_company_agree():
    pos = _paths()
    k, n = pos.shape[:2]
    steps = np.arange(n)
    whole = _cell().trace(np.arange(k), steps, pos, np.zeros_like(pos))
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, n), 12, replace=False))
    windows = list(zip(np.r_[0, cuts], np.r_[cuts, n], strict=True))
    rng.shuffle(windows)  # different lengths, out of order
    cell = _cell()
    for lo, hi in windows:
        who = np.sort(rng.choice(k, rng.integers(1, k + 1), replace=False))  # any company
        part = cell.trace(who, steps[lo:hi], pos[who, lo:hi], np.zeros_like(pos[who, lo:hi]))
        sub = type(whole)(
            steps=steps[lo:hi],
            **{f: getattr(whole, f)[who, lo:hi] for f in ("distance_3d_m", *TERMS)},
        )
        _assert_same(part, sub, f"window {lo}:{hi} clients {who}")
    assert whole.los.any() and (~whole.los).any()  # both link states were crossed


def test_a_static_client_sees_one_channel_whenever_it_is_asked():
    pos = np.repeat(_paths(k=3, n=1)[:, :1], 4, axis=1)
    early = _cell().trace(np.arange(3), np.arange(4), pos, np.zeros_like(pos))
    late = _cell().trace(np.arange(3), np.arange(4) + 10**6, pos, np.zeros_like(pos))
    _assert_same(early, late)
    assert np.all(early.fading_gain == early.fading_gain[:, :1])


def _samples(folder):
    ch = read_channel(folder / "channel.npz")
    a = ch.arrays
    key = a["sample_client"].astype(np.int64) * 10**9 + a["sample_step"]
    return key, a


def test_runs_that_differ_in_allocator_deadline_strategy_or_schedule_see_one_channel(tmp_path):
    base = Scenario.load("scenarios/default.toml").updated(
        {"fl.mode": "surrogate", "run.rounds": 6, "clients.per_round": 8}
    )
    variants = {
        "equal": {},
        "minmax": {"allocation.name": "minmax"},
        "tsfa": {"allocation.name": "tsfa", "strategy.name": "soft"},
        "deadline": {"deadline.seconds": 1.3},
        "schedule": {"clients.per_round": 5},
    }
    got = {}
    for name, change in variants.items():
        run(base.updated(change), tmp_path / name)
        got[name] = _samples(tmp_path / name)
    key0, a0 = got["equal"]
    for name, (key, a) in got.items():
        common, i0, i1 = np.intersect1d(key0, key, return_indices=True)
        assert len(common) > 500, f"{name}: only {len(common)} common samples"
        for term in ("positions", "los", "pathloss_db", "shadowing_db", "fading_gain"):
            np.testing.assert_allclose(
                a[term][i1], a0[term][i0], rtol=1e-9, atol=0, err_msg=f"{name}: {term}"
            )
        # the SNR at the full band is the gain through one link budget: the same too
        gain = -(a["pathloss_db"] + a["shadowing_db"] + a["penetration_db"])
        gain0 = -(a0["pathloss_db"] + a0["shadowing_db"] + a0["penetration_db"])
        np.testing.assert_allclose(gain[i1], gain0[i0], rtol=1e-9, atol=0)
        print(f"{name}: {len(common)} samples in common with equal, all equal")


PER_LAMBDA = 100  # samples per wavelength


@pytest.fixture(scope="module")
def rayleigh_walks():
    """Amplitudes [K, n] of 200 Rayleigh clients walking 100 wavelengths each (RMS 1)."""
    fc, k, lambdas = 3.5e9, 200, 100
    lam = SPEED_OF_LIGHT / fc
    f = SumOfSinusoids(k, fc, np.random.default_rng(11), np.zeros(3), num_paths=32)
    n = PER_LAMBDA * lambdas
    pos = np.zeros((k, n, 3))
    pos[..., 0] = lam / PER_LAMBDA * np.arange(n)
    return np.sqrt(f.gains(np.arange(k), pos))


@pytest.mark.parametrize("rho", [0.2, 0.5, 1.0, 1.5])
def test_rayleigh_level_crossings_and_fade_durations_match_rice(rayleigh_walks, rho):
    """Along straight walks (fading is a field in space): upward crossings of the amplitude
    level ρ·RMS per wavelength, and the mean length below it, against Rice's formulas
    LCR = sqrt(2π)·ρ·e^(−ρ²)·f_D and AFD = (e^(ρ²) − 1) / (sqrt(2π)·ρ·f_D), f_D per metre =
    1/λ. Standard errors from the number of crossings (fades counted as independent)."""
    amp = rayleigh_walks
    k, n = amp.shape
    below = amp < rho
    ups = np.count_nonzero(below[:, :-1] & ~below[:, 1:])
    length = k * (n - 1) / PER_LAMBDA  # wavelengths walked
    lcr = ups / length
    afd = np.count_nonzero(below[:, :-1]) / PER_LAMBDA / max(ups, 1)
    lcr_rice = np.sqrt(2 * np.pi) * rho * np.exp(-(rho**2))
    afd_rice = (np.exp(rho**2) - 1) / (np.sqrt(2 * np.pi) * rho)
    print(
        f"ρ = {rho}: LCR {lcr:.4f} vs Rice {lcr_rice:.4f} per λ, AFD {afd:.4f} vs "
        f"{afd_rice:.4f} λ over {ups} crossings"
    )
    assert abs(lcr - lcr_rice) < Z * np.sqrt(ups) / length
    assert abs(afd - afd_rice) < Z * afd_rice / np.sqrt(ups)


def test_trace_writes_every_client_and_step_and_agrees_with_a_run(tmp_path):
    from click.testing import CliRunner

    from cosim.cli import main

    s = Scenario.load("scenarios/default.toml").updated(
        {"fl.mode": "surrogate", "run.rounds": 3, "clients.count": 12}
    )
    run(s, tmp_path / "run")
    (tmp_path / "s.toml").write_text((tmp_path / "run" / "scenario.toml").read_text())
    cli = CliRunner()
    res = cli.invoke(
        main,
        [
            "trace",
            str(tmp_path / "s.toml"),
            "--seconds",
            "6",
            "--out",
            str(tmp_path / "trace"),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    tr = read_channel(tmp_path / "trace" / "channel.npz").arrays
    n = round(6 / s.channel.dt)
    assert len(tr["sample_step"]) == 12 * n and len(tr["t"]) == n
    assert str(tr["source"]) == "trace" and float(tr["snr_bandwidth_hz"]) == s.channel.bandwidth_hz
    key_r, a = _samples(tmp_path / "run")
    key_t = tr["sample_client"].astype(np.int64) * 10**9 + tr["sample_step"]
    common, ir, it = np.intersect1d(key_r, key_t, return_indices=True)
    assert len(common) > 1000
    for term in (
        "positions",
        "speed",
        "los",
        "pathloss_db",
        "shadowing_db",
        "fading_gain",
        "distance_3d_m",
    ):
        np.testing.assert_allclose(tr[term][it], a[term][ir], rtol=1e-9, atol=0, err_msg=term)
    # the run's SNR is over its allocated band: the trace's at the full band is the same
    # channel through the noise of the whole band
    assert (tmp_path / "trace" / "scenario.toml").is_file()
    res = cli.invoke(main, ["plot", str(tmp_path / "trace"), "--only", "positions"])
    assert res.exit_code == 0 and (tmp_path / "trace" / "positions.png").is_file()
    # a used folder is refused (exit 2, nothing replaced); --seconds must be positive
    before = (tmp_path / "trace" / "channel.npz").read_bytes()
    res = cli.invoke(
        main,
        [
            "trace",
            str(tmp_path / "s.toml"),
            "--seconds",
            "1",
            "--out",
            str(tmp_path / "trace"),
            "--quiet",
        ],
    )
    assert res.exit_code == 2 and "not empty" in res.output
    assert (tmp_path / "trace" / "channel.npz").read_bytes() == before
    res = cli.invoke(main, ["trace", str(tmp_path / "s.toml"), "--seconds", "0"])
    assert res.exit_code == 2 and "--seconds" in res.output


@pytest.mark.parametrize("model", ["pathloss", "rician"])
def test_trace_of_the_textbook_models(tmp_path, model):
    from cosim.running.trace import trace_channel

    s = Scenario.load("scenarios/default.toml").updated(
        {"channel.model": model, "clients.count": 5}
    )
    out = trace_channel(s, 1.0, tmp_path / model)
    a = read_channel(out.out_dir / "channel.npz").arrays
    assert np.isfinite(a["snr_db"]).all() and len(a["snr_db"]) == 5 * 200


@pytest.mark.parametrize("k_factor", [0.0, 4.0])
def test_textbook_fading_is_a_function_of_position_too(k_factor):
    from channels import PathlossChannel

    def channel():
        bank = SeedBank(5)
        fading = SumOfSinusoids(8, 3.5e9, bank.rng("fading"), np.zeros(3), k_factor=k_factor)
        return PathlossChannel(np.array([0, 0, 10.0]), 3.5e9, 8, bank.rng("los"), fading)

    pos = _paths(n=600)
    whole = channel().trace(np.arange(8), np.arange(600), pos, np.zeros_like(pos))
    ch = channel()
    for lo, hi, who in ((300, 600, [1, 5]), (0, 250, [0, 1, 2, 3, 4, 5, 6, 7]), (250, 300, [5])):
        part = ch.trace(np.array(who), np.arange(lo, hi), pos[who, lo:hi], pos[who, lo:hi] * 0)
        np.testing.assert_allclose(part.fading_gain, whole.fading_gain[who, lo:hi], rtol=1e-12)
        np.testing.assert_array_equal(part.los, whole.los[who, lo:hi])
