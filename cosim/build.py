"""Builds a run's World (channel, mobility, devices, model, data, strategy) from a scenario."""

from __future__ import annotations

import numpy as np

from channels import LinkBudget, UMiPathloss
from cosim.compute import ComputeModel
from cosim.engine import World
from cosim.mobility import Static, place_uniform_disc
from cosim.scenario import Scenario
from cosim.seeding import SeedBank
from fl import (
    ALLOCATORS,
    STRATEGIES,
    LoraSpec,
    Trainer,
    build_model,
    dirichlet,
    iid,
    load_bbc_news,
    load_tokenizer,
    shards,
    stratified_split,
    tokenise,
    training_flops,
)


def build_world(s: Scenario) -> World:
    """Every component of the run, each seeded from its own named stream."""
    seeds = SeedBank(s.run.seed)
    bs_position = np.array([0.0, 0.0, s.channel.bs_height_m])
    placement = place_uniform_disc(
        s.clients.count,
        s.clients.area_radius_m,
        s.clients.min_distance_m,
        s.clients.height_m,
        seeds.rng("placement"),
    )
    mobility = Static(placement)
    channel = UMiPathloss(bs_position, s.channel.carrier_hz, s.clients.count, seeds.rng("los"))
    link = LinkBudget(s.channel.tx_power_dbm, s.channel.noise_figure_db)
    compute = ComputeModel.draw(
        s.clients.count, s.compute.min_tflops, s.compute.max_tflops, seeds.rng("compute")
    )

    dataset = load_bbc_news()
    train_idx, test_idx = stratified_split(dataset.labels, s.data.test_fraction, seeds.rng("split"))
    client_shards = _partition(s, dataset.labels[train_idx], seeds)
    shards_global = [train_idx[p] for p in client_shards]
    eval_idx = test_idx
    if 0 < s.server.eval_samples < len(test_idx):
        eval_idx = np.sort(seeds.rng("eval").choice(test_idx, s.server.eval_samples, False))

    tokens = tokenise(load_tokenizer(), dataset, s.model.max_seq_len)
    seeds.seed_torch("model_init")
    model = build_model(
        num_classes=len(dataset.label_names),
        layers=s.model.layers,
        lora=LoraSpec(
            rank=s.model.lora_rank,
            alpha=s.model.lora_alpha,
            targets=s.model.lora_targets,
            dropout=s.model.lora_dropout,
        ),
    )
    return World(
        scenario=s,
        seeds=seeds,
        mobility=mobility,
        channel=channel,
        link=link,
        compute=compute,
        trainer=Trainer(model, tokens),
        strategy=STRATEGIES[s.strategy.name](s.strategy.bits_per_value),
        allocator=ALLOCATORS[s.allocation.name](),
        shards=shards_global,
        eval_indices=eval_idx,
        step_flops=training_flops(model, s.train.batch_size, s.model.max_seq_len),
    )


def _partition(s: Scenario, labels: np.ndarray, seeds: SeedBank) -> list[np.ndarray]:
    rng = seeds.rng("partition")
    n = s.clients.count
    if s.data.partition == "iid":
        return iid(labels, n, rng)
    if s.data.partition == "dirichlet":
        return dirichlet(labels, n, s.data.dirichlet_alpha, rng, min_samples=1)
    return shards(labels, n, s.data.shards_per_client, rng)
