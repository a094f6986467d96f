"""The radio parts of a run: channel model, link budget, rate model and the efficiency the
allocators predict with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channels import (
    Cell38901,
    ChannelModel,
    LinkBudget,
    PathlossChannel,
    PhyAbstraction,
    RateModel,
    Shannon,
    SionnaRayFading,
    SumOfSinusoids,
)
from cosim.scenario.schema import Scenario
from cosim.world.cells import build_multicell
from cosim.world.seeding import SeedBank
from fl.allocators import Efficiency, shannon_least_bandwidth


def efficiency_of(rate: RateModel) -> Efficiency:
    """The link's bit/s/Hz at a linear SNR (what allocators predict with); for Shannon it
    carries the closed-form least bandwidth for a rate, which the allocators then use."""

    def efficiency(snr_linear: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return rate.efficiency(10.0 * np.log10(np.asarray(snr_linear, dtype=float)))

    return Efficiency(efficiency, shannon_least_bandwidth if isinstance(rate, Shannon) else None)


@dataclass(frozen=True)
class Radio:
    """The scenario's channel model, link budget and rate model."""

    channel: ChannelModel
    link: LinkBudget
    rate: RateModel


def build_radio(s: Scenario, seeds: SeedBank, bs_position: np.ndarray) -> Radio:
    """Channel (``channel.model``), link budget and rate model (``channel.link``)."""
    channel = build_channel(s, seeds, bs_position)
    link = LinkBudget(s.channel.tx_power_dbm, s.channel.noise_figure_db, s.channel.bs_antennas)
    rate = PhyAbstraction(s.channel.bler_target) if s.channel.link == "phy" else Shannon()
    return Radio(channel, link, rate)


def build_channel(s: Scenario, seeds: SeedBank, bs_position: np.ndarray) -> ChannelModel:
    """The scenario's channel model (``channel.model``)."""
    c, k = s.channel, s.clients.count
    if s.cells.multi:
        return build_multicell(s, seeds)
    if c.model in ("umi", "uma", "rma"):
        fading = SionnaRayFading(
            c.model,
            c.carrier_hz,
            bs_position,
            c.bs_antennas,
            s.clients.height_m,
            reseed=seeds.seed_sionna,
            phase_rng=lambda *key: seeds.rng("ray_phases", *key),
            shared_key=("seed", seeds.seed),
            tile=c.ray_tile,
        )
        return Cell38901(
            c.model,
            bs_position,
            c.carrier_hz,
            c.dt,
            k,
            rng=seeds.rng,
            indoor_ratio=c.indoor_ratio,
            in_car_ratio=c.in_car_ratio,
            o2i_model=c.o2i_model,
            fading=fading,
        )
    fading = None
    if c.model in ("rayleigh", "rician"):
        fading = SumOfSinusoids(
            k,
            c.carrier_hz,
            seeds.rng("fading"),
            bs_position,
            num_paths=c.fading_paths,
            k_factor=10 ** (c.rician_k_db / 10) if c.model == "rician" else 0.0,
            antennas=c.bs_antennas,
            delay_spread_s=c.delay_spread_s,
        )
    return PathlossChannel(bs_position, c.carrier_hz, k, seeds.rng("los"), fading, c.model)
