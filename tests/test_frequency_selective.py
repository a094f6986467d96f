"""Frequency-selective rates: the channel over frequency (delays of the 38.901 clusters, or an
exponential delay profile for the textbook models) and uploads that use each client's piece
of the band."""

import numpy as np

from channels import SionnaRayFading, SumOfSinusoids
from cosim import Scenario, run
from cosim.analysis.figure import read_events
from cosim.world.seeding import SeedBank

Z = 4.0


def _walk(k, n, step_m=0.01):
    rng = np.random.default_rng(0)
    start = np.column_stack([rng.uniform(-300, 300, (k, 2)), np.full(k, 1.5)])
    pos = np.repeat(start[:, None], n, axis=1).copy()
    pos[..., 0] += step_m * np.arange(n)
    return pos


def test_rayleigh_power_correlation_over_frequency_is_the_exponential_profiles():
    """|ρ(Δf)|² = 1 / (1 + (2π Δf DS)²) for an exponential profile: the covariance of the
    power gains at two frequencies; and the mean gain is 1 at every frequency."""
    k, ds = 20000, 1e-7
    f = SumOfSinusoids(k, 3.5e9, np.random.default_rng(1), np.zeros(3), delay_spread_s=ds)
    offsets = np.array([0.0, 0.5e6, 1.6e6, 5e6])
    g = f.band_gains(np.arange(k), _walk(k, 1), np.tile(offsets, (k, 1)))[:, 0]  # [k, F]
    narrow = f.gains(np.arange(k), _walk(k, 1))[:, 0]
    np.testing.assert_allclose(g[:, 0], narrow, rtol=1e-9)
    for j, df in enumerate(offsets):
        assert abs(g[:, j].mean() - 1.0) < Z * g[:, j].std() / np.sqrt(k)
        prod = (g[:, 0] - 1.0) * (g[:, j] - 1.0)
        expected = 1.0 / (1.0 + (2 * np.pi * df * ds) ** 2)
        print(f"Δf {df / 1e6:.1f} MHz: power correlation {prod.mean():.3f} vs {expected:.3f}")
        assert abs(prod.mean() - expected) < Z * prod.std() / np.sqrt(k)


def test_38901_frequency_response_follows_the_nodes_delays():
    """Clients at one spot share the node's rays and differ in ray phases: the covariance of
    their power gains at two frequencies is |Σ_r P_r exp(−j2π Δf τ_r)|²."""
    bank = SeedBank(2)
    fading = SionnaRayFading(
        "umi",
        3.5e9,
        np.array([0.0, 0.0, 10.0]),
        1,
        1.5,
        bank.seed_sionna,
        lambda *key: bank.rng("ray_phases", *key),
    )
    k = 4000
    pos = np.tile([[[100.0, 50.0, 1.5]]], (k, 1, 1))  # the core of one NLoS node's cell
    offsets = np.array([0.0, 2e6, 10e6])
    los = np.zeros((k, 1), dtype=bool)
    g = fading.band_gains(np.arange(k), pos, los, los, np.tile(offsets, (k, 1)))[:, 0]
    narrow = fading.gains(np.arange(k), np.zeros(1), pos, pos, los, los)[:, 0]
    np.testing.assert_allclose(g[:, 0], narrow, rtol=1e-9)
    tile = fading.tile(1, 100 // 15 // 8, 3 // 8)
    node = (7 % 8) * 8 + 3 % 8  # node (7, 3): x = 105 m, y = 45 m
    power = tile.amp_re[node, :, 0] ** 2 + tile.amp_im[node, :, 0] ** 2
    for j, df in enumerate(offsets):
        rho = np.sum(power * np.exp(-2j * np.pi * df * tile.delays_s[node]))
        prod = (g[:, 0] - g[:, 0].mean()) * (g[:, j] - g[:, j].mean())
        print(f"Δf {df / 1e6:.0f} MHz: power covariance {prod.mean():.3f} vs {abs(rho) ** 2:.3f}")
        assert abs(prod.mean() - abs(rho) ** 2) < Z * prod.std() / np.sqrt(k)


def test_a_wider_piece_gives_a_steadier_rate():
    k, ds, snr = 4000, 1e-7, 10.0
    f = SumOfSinusoids(k, 3.5e9, np.random.default_rng(3), np.zeros(3), delay_spread_s=ds)
    spread = {}
    for width in (0.2e6, 2e6, 20e6):
        offsets = np.tile((np.arange(16) + 0.5) / 16 * width - width / 2, (k, 1))
        g = f.band_gains(np.arange(k), _walk(k, 1), offsets)[:, 0]
        eta = np.log2(1 + snr * g).mean(axis=1)
        spread[width] = eta.std()
    print("rate spread over clients by piece width:", spread)
    assert spread[0.2e6] > spread[2e6] > spread[20e6]


def _lf(**change):
    s = Scenario.load("scenarios/default.toml").updated(
        {"fl.mode": "surrogate", "run.rounds": 3, "output.channel": False, **change}
    )
    return s


def _uploads(folder):
    return {
        (e["round"], e["client"]): e
        for e in read_events(folder / "events.jsonl")
        if e["kind"] in ("upload_end", "deadline_miss")
    }


def test_a_flat_channel_gives_the_narrowband_rates(tmp_path):
    """On the path-loss model (flat over frequency) the subband mean is the narrowband rate."""
    a = _uploads(run(_lf(**{"channel.model": "pathloss"}), tmp_path / "a").out_dir)
    b = _uploads(
        run(
            _lf(**{"channel.model": "pathloss", "channel.frequency_selective": True}),
            tmp_path / "b",
        ).out_dir
    )
    assert a.keys() == b.keys()
    for key, e in a.items():
        assert e["kind"] == b[key]["kind"]
        assert abs(e["t"] - b[key]["t"]) <= 1e-9 * max(1.0, e["t"])


def test_frequency_selective_uploads_run_on_their_pieces(tmp_path):
    narrow = _uploads(run(_lf(), tmp_path / "n").out_dir)
    wide = _uploads(run(_lf(**{"channel.frequency_selective": True}), tmp_path / "w").out_dir)
    assert narrow.keys() == wide.keys()
    ends = [(narrow[k]["t"], wide[k]["t"]) for k in narrow if narrow[k]["kind"] == "upload_end"]
    assert ends and any(abs(x - y) > 1e-6 for x, y in ends)  # the band's shape matters
