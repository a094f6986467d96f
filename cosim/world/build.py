"""Builds a run's World from a scenario: placement and mobility, radio, devices, data, TSFA's
stage 1 when asked, strategy and allocator, learning parts — in this order (seeded)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.mobility import place_uniform_disc
from cosim.mobility.paths import Paths
from cosim.scenario.schema import Scenario
from cosim.world.cells import layout_of, placement_over_layout
from cosim.world.components import build_allocator, build_mobility, build_strategy, check_pair
from cosim.world.compute import ComputeModel
from cosim.world.learning import (
    learning_free_parts,
    learning_record,
    load_data,
    lora_spec,
    pilot,
    split_data,
    trained_parts,
)
from cosim.world.radio import Radio, build_radio
from cosim.world.seeding import SeedBank
from cosim.world.stage1 import run_stage1
from cosim.world.world import World


@dataclass(frozen=True)
class Air:
    """What the channel alone needs: seeds, base station, clients' paths and the radio (a
    run's world has these; `wfl-cosim trace` builds only them)."""

    seeds: SeedBank
    bs_position: np.ndarray  # [3] m
    mobility: Paths
    radio: Radio


def build_air(s: Scenario) -> Air:
    """Placement, mobility and radio of ``s``, each from its own named stream."""
    seeds = SeedBank(s.run.seed)
    bs_position = np.array([0.0, 0.0, s.channel.bs_height_m])
    if s.cells.multi:
        placement = placement_over_layout(s, seeds.rng("placement"))
    else:
        placement = place_uniform_disc(
            s.clients.count,
            s.clients.area_radius_m,
            s.clients.min_distance_m,
            s.clients.height_m,
            seeds.rng("placement"),
        )
    mobility = build_mobility(s, placement, seeds)
    if s.cells.multi and s.cells.wraparound:
        mobility.fold = layout_of(s).wrap  # walkers leaving the layout re-enter on its far side
    return Air(seeds, bs_position, mobility, build_radio(s, seeds, bs_position))


def build_world(s: Scenario) -> World:
    """Every component of the run, each seeded from its own named stream. With
    allocation.stage1 on, TSFA's offline stage first chooses the rank (and λ): the world, and
    the scenario it carries, use the choice."""
    air = build_air(s)
    seeds, bs_position, mobility, radio = air.seeds, air.bs_position, air.mobility, air.radio
    start = mobility.positions(np.zeros(1))[:, 0]
    compute = ComputeModel.draw(
        s.clients.count, s.compute.min_tflops, s.compute.max_tflops, seeds.rng("compute")
    )
    dataset = load_data(s)
    num_classes = len(dataset.label_names)
    data = None if s.fl.mode == "surrogate" else split_data(s, seeds, dataset)
    stage1 = None
    if s.allocation.stage1:
        pilot_round = None if data is None else pilot(s, seeds, data, num_classes)
        stage1 = run_stage1(s, seeds, start, bs_position, compute, radio, num_classes, pilot_round)
        s = stage1.scenario
    strategy, allocator = build_strategy(s), build_allocator(s)
    check_pair(s, strategy, allocator)
    learning = (
        learning_free_parts(s, seeds, num_classes, lora_spec(s))
        if data is None
        else trained_parts(s, seeds, data, num_classes, strategy)
    )
    return World(
        scenario=s,
        seeds=seeds,
        mobility=mobility,
        channel=radio.channel,
        link=radio.link,
        rate=radio.rate,
        compute=compute,
        strategy=strategy,
        allocator=allocator,
        stage1=stage1,
        record=learning_record(s, dataset, learning["lora_targets"]),
        **learning,
    )
