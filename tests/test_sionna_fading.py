"""38.901 fading from Sionna's rays on a position lattice: mean power, continuity across the
lattice's cross-fades, position-only values, determinism."""

import numpy as np
import pytest

from channels import SionnaRayFading
from cosim.world.seeding import SeedBank

Z = 4.0


def _fading(k=None, antennas=1, seed=0, cell="umi", tile=8):
    bank = SeedBank(seed)
    return SionnaRayFading(
        cell,
        3.5e9,
        np.array([0.0, 0.0, 10.0]),
        antennas,
        1.5,
        reseed=bank.seed_sionna,
        phase_rng=lambda *key: bank.rng("ray_phases", *key),
        tile=tile,
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


@pytest.mark.parametrize("tile", [8, 1])
def test_mean_power_is_one_over_drops(tile):
    k = 1500
    f = _fading(k, tile=tile)
    g = _gains(f, k, [0], _walk(k, 1, 0.0))[:, 0]
    print(f"38.901 UMi NLoS fading, ray tiles of {tile}: mean gain {g.mean():.3f} over {k} drops")
    assert abs(g.mean() - 1.0) < Z * g.std() / np.sqrt(k)
    los = _gains(_fading(k, seed=1, tile=tile), k, [0], _walk(k, 1, 0.0), los=True)[:, 0]
    assert abs(los.mean() - 1.0) < Z * los.std() / np.sqrt(k)
    assert los.std() < g.std()  # the LoS ray steadies the channel


def test_static_client_keeps_its_fading_and_moving_client_fades():
    f = _fading(2)
    pos = _walk(2, 40, 0.0)
    pos[1, :, 0] += 0.03 * np.arange(40)  # client 1 walks 3 cm per step
    a = _gains(f, 2, np.arange(40), pos)
    b = _gains(_fading(2), 2, np.arange(1000, 1040), pos)  # much later, same places
    assert np.all(a[0] == a[0, 0]) and np.all(b[0] == a[0, 0])
    assert a[1].std() > 0.05


@pytest.mark.parametrize("tile", [8, 1])
def test_windows_agree_and_lattice_cross_fades_do_not_jump(tile):
    k, n = 20, 3000
    pos = _walk(k, n, 0.01)  # 30 m in 1 cm steps: UMi NLoS cells (15 m) and their cross-fades
    one = _gains(_fading(k, tile=tile), k, np.arange(n), pos)
    f = _fading(k, tile=tile)
    got = np.full((k, n), np.nan)
    for lo, hi in [(380, 600), (0, 200), (150, 400)]:  # out of order, overlapping
        lo, hi = 5 * lo, 5 * hi
        g = _gains(f, k, np.arange(lo, hi), pos[:, lo:hi])
        np.testing.assert_allclose(g, one[:, lo:hi], rtol=1e-9, atol=0)
        got[:, lo:hi] = g
    assert np.isfinite(got).all()


@pytest.mark.parametrize("tile", [8, 1])
def test_no_jump_where_lattice_cells_meet(tile):
    """1 mm across a cell edge (7.5 m: UMi NLoS nodes are 15 m apart) the amplitude changes no
    more than 1 mm does at a node (a switch of ray sets would change it by about 1)."""
    k = 200
    f = _fading(k, tile=tile)
    y = np.random.default_rng(0).uniform(100.0, 160.0, k)

    def change(x):
        pos = np.stack([np.stack([x - 5e-4, y, np.full(k, 1.5)], 1)] * 2, 1)
        pos[:, 1, 0] += 1e-3
        return np.abs(np.diff(np.sqrt(_gains(f, k, [0, 1], pos)), axis=1))[:, 0]

    edge, node = change(np.full(k, 7.5)), change(np.full(k, 0.0))
    print(
        f"largest 1 mm amplitude change: {edge.max():.4f} at cell edges, {node.max():.4f} at nodes"
    )
    assert edge.max() < 2 * node.max() + 1e-3


def test_clients_at_one_place_fade_independently_but_share_rays():
    """A node's rays (powers, angles) are shared, each client's ray phases are its own."""
    f = _fading()
    k = 400
    pos = np.repeat(_walk(1, 1, 0.0), k, axis=0)  # everyone at one spot
    g = _gains(f, k, [0], pos)[:, 0]
    assert len(np.unique(g)) == k
    assert abs(g.mean() - 1.0) < Z * g.std() / np.sqrt(k)
    assert len(f._tiles) == 1


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


def test_runs_of_one_seed_in_one_process_share_tiles_and_give_the_same_bytes(tmp_path, monkeypatch):
    """A study's worker runs many points of one seed: the second run takes the first one's
    tiles from the process-wide store, and writes what a run that drew them itself writes."""
    from conftest import ROOT

    from channels.ray_tiles import clear_shared_tiles
    from cosim import load_scenario, run

    draws = []
    real = SionnaRayFading.draw_tiles
    monkeypatch.setattr(
        SionnaRayFading,
        "draw_tiles",
        lambda self, state, keys: draws.extend(keys) or real(self, state, keys),
    )

    def scenario(allocator):
        sets = ["fl.mode=surrogate", "run.rounds=3", f"allocation.name={allocator}"]
        return load_scenario(ROOT / "scenarios" / "default.toml", sets)

    clear_shared_tiles()
    run(scenario("equal"), tmp_path / "first", progress=False)
    first = len(draws)
    run(scenario("minmax"), tmp_path / "shared", progress=False)
    second = len(draws) - first
    clear_shared_tiles()
    run(scenario("minmax"), tmp_path / "fresh", progress=False)
    assert second < first / 2 < len(draws) - first - second  # the shared run reused tiles
    for name in ("events.jsonl", "rounds.csv", "clients.csv", "channel.npz"):
        shared, fresh = tmp_path / "shared" / name, tmp_path / "fresh" / name
        assert shared.read_bytes() == fresh.read_bytes(), name


@pytest.mark.parametrize(("cell", "tile"), [("umi", 8), ("rma", 8), ("uma", 1)])
def test_a_tile_drawn_in_a_batch_is_the_tile_drawn_alone(cell, tile):
    """One batched Sionna call for several tiles, each from its own seeded stream, gives every
    tile bit for bit what a call of that tile alone gives (LoS, NLoS and O2I); tiles of one
    node need the padding to 64 UTs for that (without it 21 of 73 differed)."""
    keys = [(2, -1), (0, 0), (-3, 1), (5, 4), (-1, -6)]
    for state in (0, 1, 2):
        batch = _fading(cell=cell, tile=tile).draw_tiles(state, keys)
        for key, got in zip(keys, batch, strict=True):
            alone = _fading(cell=cell, tile=tile).draw_tiles(state, [key])[0]
            for name in ("node_pos", "turns", "amp_re", "amp_im", "k_factor", "delays_s"):
                np.testing.assert_array_equal(getattr(got, name), getattr(alone, name))


def test_a_draw_the_batch_cannot_split_is_an_error():
    import torch

    from channels.sionna_batch import _split

    gens = [torch.Generator().manual_seed(i) for i in (1, 2)]
    draw = _split(torch.rand, gens, 0)
    got = draw((2, 3), generator=None)
    np.testing.assert_array_equal(
        got[1], torch.rand((1, 3), generator=torch.Generator().manual_seed(2))[0]
    )
    with pytest.raises(RuntimeError, match="not batch-major over 2 elements"):
        draw((3, 3))


def test_tiles_of_one_node_draw_only_the_nodes_clients_come_near():
    """channel.ray_tile = 1: every node is its own tile, so a client standing still needs the
    nodes its cross-fade reads and no others; another realisation than tiles of 8."""
    pos = _walk(1, 1, 0.0)
    one, eight = _fading(tile=1), _fading(tile=8)
    g1, g8 = _gains(one, 1, [0], pos), _gains(eight, 1, [0], pos)
    assert 1 <= len(one._tiles) <= 4 and len(eight._tiles) == 1
    assert one.tile(1, 10, 0).node_pos.shape == (1, 3) and g1[0, 0] != g8[0, 0]
