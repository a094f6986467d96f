"""The multi-site geometry (channels/layout.py): hexagonal sites, wrap-around images, and the
38.901 sector element pattern, checked against the standard's numbers and the lattice."""

import itertools

import numpy as np
import pytest

from channels.layout import (
    ISD_DEFAULTS_M,
    element_gain_db,
    hex_sites,
    site_count,
    wrap_shifts,
    wrapped_offsets,
)


@pytest.mark.parametrize("rings, n", [(0, 1), (1, 7), (2, 19), (3, 37)])
def test_rings_hold_the_hexagonal_number_of_sites_at_the_lattice_distances(rings, n):
    isd = ISD_DEFAULTS_M["uma"]
    sites = hex_sites(rings, isd)
    assert len(sites) == site_count(rings) == n
    assert np.allclose(sites[0], 0.0)
    d = np.linalg.norm(sites[:, None] - sites[None], axis=-1)
    off = d[~np.eye(n, dtype=bool)]
    if n > 1:
        assert off.min() == pytest.approx(isd)  # nearest neighbours one ISD apart
    # every distance on a hexagonal lattice is ISD·sqrt(a² + ab + b²) for integers a, b
    norms = {a * a + a * b + b * b for a in range(-8, 9) for b in range(-8, 9)}
    assert all(min(abs((x / isd) ** 2 - m) for m in norms) < 1e-9 for x in off)


@pytest.mark.parametrize("rings", [1, 2])
def test_with_wrap_around_every_site_has_its_full_ring_of_six_neighbours(rings):
    isd = 200.0
    sites = hex_sites(rings, isd)
    shifts = wrap_shifts(rings, isd)
    assert np.linalg.norm(shifts[1:], axis=1) == pytest.approx(np.sqrt(len(sites)) * isd)
    d = np.linalg.norm(wrapped_offsets(sites, sites, shifts), axis=-1)  # [S, S]
    assert np.allclose(np.diag(d), 0.0)
    assert np.allclose(d, d.T)  # the wrapped distance is symmetric
    for i in range(len(sites)):
        assert np.sum(np.isclose(d[i], isd)) == 6  # edge sites too
    plain = np.linalg.norm(wrapped_offsets(sites, sites), axis=-1)
    assert np.all(d <= plain + 1e-9)
    edge = np.argmax(np.linalg.norm(sites, axis=1))
    assert np.sum(np.isclose(plain[edge], isd)) < 6  # without it, an edge site lacks some


def test_every_site_has_an_image_within_the_wrap_lattices_cell_of_any_client():
    isd = 500.0
    sites, shifts = hex_sites(2, isd), wrap_shifts(2, isd)
    rng = np.random.default_rng(3)
    r = 2.0 * isd * np.sqrt(rng.uniform(size=500))  # clients inside the 19-site layout
    a = rng.uniform(0, 2 * np.pi, size=500)
    pts = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    d = np.linalg.norm(wrapped_offsets(pts, sites, shifts), axis=-1)  # [500, 19]
    # a site's images form a hexagonal lattice of spacing √19·ISD, whose cells have the
    # circumradius √(19/3)·ISD: no client is farther than that from a site's nearest image
    assert d.max() <= np.sqrt(19 / 3) * isd + 1e-6
    assert d.max() > 0.9 * np.sqrt(19 / 3) * isd  # and the bound is nearly reached
    # the serving (nearest) site is within one cell radius
    assert d.min(axis=1).max() <= isd / np.sqrt(3) + 1e-6


def test_the_sector_element_pattern_is_table_7_3_1():
    assert element_gain_db(90.0, 0.0) == pytest.approx(8.0)  # boresight: 8 dBi
    assert element_gain_db(90.0, 32.5) == pytest.approx(8.0 - 3.0)  # half the 65° beamwidth
    assert element_gain_db(90.0 + 32.5, 0.0) == pytest.approx(8.0 - 3.0)
    assert element_gain_db(90.0, 180.0) == pytest.approx(8.0 - 30.0)  # front-to-back 30 dB
    assert element_gain_db(90.0, 360.0 + 10.0) == pytest.approx(element_gain_db(90.0, 10.0))
    # the combined attenuation is capped at A_max = 30 dB
    g = element_gain_db(np.array([0.0, 180.0, 150.0]), np.array([170.0, 90.0, 60.0]))
    assert np.all(g >= 8.0 - 30.0 - 1e-12)
    grid = [
        element_gain_db(t, p) for t, p in itertools.product(range(0, 181, 15), range(-180, 181, 15))
    ]
    assert max(grid) == pytest.approx(8.0) and min(grid) == pytest.approx(-22.0)


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="rings"):
        hex_sites(-1, 200.0)
    with pytest.raises(ValueError, match="inter-site distance"):
        hex_sites(1, 0.0)
