"""The world's small parts: seed streams, placement, compute model."""

import numpy as np
import pytest
import torch

from cosim.mobility.paths import Static, place_uniform_disc
from cosim.world.compute import ComputeModel
from cosim.world.seeding import SeedBank


def test_seed_streams_are_named_reproducible_and_order_free():
    a, b = SeedBank(4), SeedBank(4)
    x1 = a.rng("schedule", 3).random(5)
    _ = b.rng("placement").random(100)  # drawing elsewhere first changes nothing
    assert np.array_equal(x1, b.rng("schedule", 3).random(5))
    assert not np.array_equal(x1, a.rng("schedule", 4).random(5))
    assert not np.array_equal(x1, SeedBank(5).rng("schedule", 3).random(5))
    a.seed_torch("local_train", 1, 2)
    t1 = torch.rand(3)
    b.seed_torch("local_train", 1, 2)
    assert torch.equal(t1, torch.rand(3))


def test_seed_sionna_sets_its_config_seed():
    import sionna.phy

    bank = SeedBank(11)
    bank.seed_sionna(3)
    assert sionna.phy.config.seed == bank.int_seed("sionna", 3) % (2**31 - 1)


def test_placement_fills_the_annulus_uniformly():
    pos = place_uniform_disc(20000, 500.0, 50.0, 1.5, np.random.default_rng(0))
    r = np.hypot(pos[:, 0], pos[:, 1])
    assert r.min() >= 50.0 and r.max() <= 500.0 and np.all(pos[:, 2] == 1.5)
    # uniform in area: P(r < r0) = (r0² − 50²)/(500² − 50²)
    r0 = 300.0
    expected = (r0**2 - 50**2) / (500**2 - 50**2)
    n = len(r)
    assert np.mean(r < r0) == pytest.approx(
        expected, abs=4 * np.sqrt(expected * (1 - expected) / n)
    )
    m = Static(pos[:3])
    assert m.positions(np.arange(4.0)).shape == (3, 4, 3)
    assert np.all(m.velocities(np.arange(4.0)) == 0)


def test_compute_model_draws_within_bounds_and_divides():
    c = ComputeModel.draw(1000, 0.1, 1.0, np.random.default_rng(0))
    assert c.flops_per_s.min() >= 0.1e12 and c.flops_per_s.max() <= 1.0e12
    # log-uniform: the median sits at the geometric mean
    assert np.median(c.flops_per_s) == pytest.approx(np.sqrt(0.1) * 1e12, rel=0.1)
    assert c.seconds(3, 2e12) == pytest.approx(2e12 / c.flops_per_s[3])
    with pytest.raises(ValueError):
        ComputeModel(np.array([1.0, 0.0]))
