"""38.901 fading from Sionna's rays: mean power, continuity, redraw cross-fade, determinism."""

import numpy as np
import pytest

from channels import SionnaRayFading
from cosim.world.seeding import SeedBank

Z = 4.0


def _fading(k, antennas=1, seed=0, cell="umi", window=400):
    bank = SeedBank(seed)
    return SionnaRayFading(
        cell,
        3.5e9,
        np.array([0.0, 0.0, 10.0]),
        k,
        antennas,
        reseed=bank.seed_sionna,
        phase_rng=lambda d: bank.rng("ray_phases", d),
        window_steps=window,
    )


def _walk(k, n, step_m, radius=150.0):
    phi = np.linspace(0, 2 * np.pi, k, endpoint=False)
    start = np.stack([radius * np.cos(phi), radius * np.sin(phi), np.full(k, 1.5)], 1)
    pos = np.repeat(start[:, None], n, axis=1).copy()
    pos[..., 0] += step_m * np.arange(n)[None, :]
    return pos


def _gains(f, k, steps, pos, los=False, indoor=False):
    shape = (k, len(steps))
    return f.gains(
        np.arange(k),
        np.asarray(steps),
        pos,
        np.zeros_like(pos),
        np.full(shape, los),
        np.full(shape, indoor),
    )


def test_mean_power_is_one_over_drops():
    k = 1500
    f = _fading(k)
    g = _gains(f, k, [0], _walk(k, 1, 0.0))[:, 0]
    print(f"38.901 UMi NLoS fading: mean gain {g.mean():.3f} over {k} drops")
    assert abs(g.mean() - 1.0) < Z * g.std() / np.sqrt(k)
    los = _gains(_fading(k, seed=1), k, [0], _walk(k, 1, 0.0), los=True)[:, 0]
    assert abs(los.mean() - 1.0) < Z * los.std() / np.sqrt(k)
    assert los.std() < g.std()  # the LoS ray steadies the channel


def test_static_client_keeps_its_fading_and_moving_client_fades():
    f = _fading(2)
    pos = _walk(2, 40, 0.0)
    pos[1, :, 0] += 0.03 * np.arange(40)  # client 1 walks 3 cm per step
    a = _gains(f, 2, np.arange(40), pos)
    b = _gains(f, 2, np.arange(1000, 1040), pos)  # much later, same places
    assert np.all(a[0] == a[0, 0]) and np.all(b[0] == a[0, 0])
    assert a[1].std() > 0.05


def test_windows_overlap_identically_and_redraws_do_not_jump():
    k, n = 20, 600
    pos = _walk(k, n, 0.1)  # 60 m in all: several UMi redraws (15 m)
    one = _gains(_fading(k, window=n), k, np.arange(n), pos)
    f = _fading(k)
    parts = [(0, 200), (150, 400), (380, 600)]
    got = np.full((k, n), np.nan)
    for lo, hi in parts:
        g = _gains(f, k, np.arange(lo, hi), pos[:, lo:hi])
        if np.isfinite(got[:, lo:hi]).any():
            overlap = np.isfinite(got[:, lo:hi])
            np.testing.assert_array_equal(g[overlap], got[:, lo:hi][overlap])
        got[:, lo:hi] = g
    # the step-to-step change stays within what 10 cm of movement does elsewhere
    d_db = np.abs(np.diff(10 * np.log10(got), axis=1))
    d_one = np.abs(np.diff(10 * np.log10(one), axis=1))
    assert np.percentile(d_db, 99.9) < 3 * np.percentile(d_one, 99.9) + 1.0
    assert np.isfinite(got).all()


def test_same_seed_same_fading_and_mrc_narrows_it():
    k = 300
    pos = _walk(k, 5, 0.05)
    a = _gains(_fading(k, seed=4), k, np.arange(5), pos)
    b = _gains(_fading(k, seed=4), k, np.arange(5), pos)
    np.testing.assert_array_equal(a, b)
    four = _gains(_fading(k, antennas=4, seed=5), k, np.arange(1), pos[:, :1])[:, 0]
    assert four.std() < a[:, 0].std()
    assert abs(four.mean() - 1.0) < Z * four.std() / np.sqrt(k)


@pytest.mark.parametrize("cell", ["uma", "rma"])
def test_other_cells_draw_rays(cell):
    f = _fading(50, cell=cell)
    g = _gains(f, 50, np.arange(3), _walk(50, 3, 0.1, radius=300.0))
    assert np.all(np.isfinite(g)) and np.all(g > 0)
