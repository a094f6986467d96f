"""A scenario's multi-site layout (`cells.layout = "hex"`): the layout, where clients start on
it, how far they may roam, and the channel to every site (channels.multicell)."""

from __future__ import annotations

import math

import numpy as np

from channels import SionnaRayFading
from channels.cell import draw_o2i
from channels.handover import A3
from channels.link import LinkBudget
from channels.multicell import MultiCellChannel
from channels.multisite import Layout, MultiSite, O2IState
from cosim.scenario.schema import Scenario
from cosim.world.seeding import SeedBank

SITE_KEY = 1000  # Sionna seeds of site s: (SITE_KEY + s, ...), apart from the single cell's


def layout_of(s: Scenario) -> Layout:
    """The scenario's hexagonal layout (its BS height is channel.bs_height_m)."""
    c = s.cells
    return Layout(
        c.rings, c.isd_for(s.channel.model), c.sectors, c.wraparound, s.channel.bs_height_m
    )


def mobility_radius_m(s: Scenario) -> float:
    """Where the built-in mobility models reflect: the disc of clients.area_radius_m for one
    cell; over a layout with wrap-around nowhere (positions are folded back into it); without,
    the disc around the layout's outer cells."""
    if not s.cells.multi:
        return s.clients.area_radius_m
    if s.cells.wraparound:
        return math.inf
    lay = layout_of(s)
    return float(np.abs(lay.sites).max() + lay.isd_m / math.sqrt(3.0))


def layout_tile(s: Scenario) -> np.ndarray | None:
    """Two vectors [2, 2] m spanning a cell of the lattice a wrap-around layout repeats on (its
    first two wrap-around translations); None for one cell or without wrap-around."""
    if not (s.cells.multi and s.cells.wraparound):
        return None
    return layout_of(s).shifts[1:3]


def placement_over_layout(s: Scenario, rng: np.random.Generator) -> np.ndarray:
    """clients.count positions [K, 3] m over the layout, at least clients.min_distance_m from
    every site, at clients.height_m: uniform over it, or (clients.placement = "per_cell") as
    many in every cell, each uniform over its cell."""
    lay, c = layout_of(s), s.clients
    if c.placement == "per_cell":
        xy = lay.per_cell(rng, c.count, c.min_distance_m)
    else:
        xy = lay.uniform(rng, c.count, c.min_distance_m)
    return np.concatenate([xy, np.full((len(xy), 1), c.height_m)], axis=1)


def build_multicell(s: Scenario, seeds: SeedBank) -> MultiCellChannel:
    """The channel to every site: large scale per site, O2I per client, 38.901 ray fading per
    site (its own lattice and seeds), A3 with the [cells] parameters, RSRP from the base
    station's power downlink.tx_power_dbm."""
    c, lay = s.channel, layout_of(s)
    indoor, _, d2d_in, pen = draw_o2i(
        c.model,
        c.carrier_hz,
        s.clients.count,
        seeds.rng("o2i"),
        c.indoor_ratio,
        c.in_car_ratio,
        c.o2i_model,
    )
    sites = MultiSite(c.model, lay, c.carrier_hz, O2IState(indoor, d2d_in, pen), seeds.rng)
    fadings: dict[int, SionnaRayFading] = {}

    def fading(site: int) -> SionnaRayFading:
        if site not in fadings:
            key = SITE_KEY + site
            fadings[site] = SionnaRayFading(
                c.model,
                c.carrier_hz,
                np.array([*lay.sites[site], lay.bs_height_m]),
                c.bs_antennas,
                s.clients.height_m,
                reseed=lambda *k: seeds.seed_sionna(key, *k),
                phase_rng=lambda *k: seeds.rng("ray_phases", key, *k),
                shared_key=("seed", seeds.seed, "site", site),
                tile=c.ray_tile,
            )
        return fadings[site]

    cl = s.cells
    rule = A3(
        cl.a3_offset_db,
        cl.hysteresis_db,
        cl.time_to_trigger_s,
        cl.handover_interrupt_s,
        cl.l3_filter_k,
    )
    return MultiCellChannel(sites, fading, rule, s.downlink.tx_power_dbm, cl.strongest_sites, c.dt)


def noise_dbm_hz(s: Scenario) -> float:
    """A cell's receiver noise spectral density [dBm/Hz] (k·T times the noise figure)."""
    return float(LinkBudget(s.channel.tx_power_dbm, s.channel.noise_figure_db).noise_dbm(1.0))
