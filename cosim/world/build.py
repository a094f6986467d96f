"""Builds a run's World (channel, mobility, devices, model, data, strategy) from a scenario."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from channels import (
    Cell38901,
    ChannelModel,
    LinkBudget,
    PathlossChannel,
    PhyAbstraction,
    Shannon,
    SionnaRayFading,
    SumOfSinusoids,
)
from cosim.mobility import (
    place_uniform_disc,
)
from cosim.scenario.schema import Scenario
from cosim.world.components import (
    build_allocator,
    build_mobility,
    build_strategy,
    check_pair,
)
from cosim.world.compute import ComputeModel
from cosim.world.radio import efficiency_of
from cosim.world.seeding import SeedBank
from cosim.world.stage1 import run_stage1
from cosim.world.world import World
from fl import (
    LoraSpec,
    Strategy,
    Surrogate,
    SurrogateProfile,
    TextDataset,
    TokenisedData,
    Trainer,
    TrainSettings,
    build_model,
    dirichlet,
    iid,
    load_bbc_news,
    load_tokenizer,
    lora_layers,
    model_skeleton,
    shards,
    stratified_split,
    surrogate_template,
    tokenise,
    training_flops,
)
from fl.backends import LocalTraining, RayTraining, TrainerFactory


def build_world(s: Scenario) -> World:
    """Every component of the run, each seeded from its own named stream. With
    allocation.stage1 on, TSFA's offline stage first chooses the rank (and λ): the world, and
    the scenario it carries, use the choice."""
    seeds = SeedBank(s.run.seed)
    bs_position = np.array([0.0, 0.0, s.channel.bs_height_m])
    placement = place_uniform_disc(
        s.clients.count,
        s.clients.area_radius_m,
        s.clients.min_distance_m,
        s.clients.height_m,
        seeds.rng("placement"),
    )
    mobility = build_mobility(s, placement, seeds)
    start = mobility.positions(np.zeros(1))[:, 0]
    channel = build_channel(s, seeds, bs_position, start)
    link = LinkBudget(s.channel.tx_power_dbm, s.channel.noise_figure_db, s.channel.bs_antennas)
    rate = PhyAbstraction(s.channel.bler_target) if s.channel.link == "phy" else Shannon()
    compute = ComputeModel.draw(
        s.clients.count, s.compute.min_tflops, s.compute.max_tflops, seeds.rng("compute")
    )
    dataset = load_bbc_news()
    num_classes = len(dataset.label_names)
    data = None if s.fl.mode == "surrogate" else _data(s, seeds, dataset)
    stage1 = None
    if s.allocation.stage1:
        stage1 = run_stage1(
            s,
            seeds,
            start,
            bs_position,
            compute,
            link,
            efficiency_of(rate),
            num_classes,
            build_strategy,
            None if data is None else _pilot(s, seeds, data, num_classes),
        )
        s = stage1.scenario
    strategy, allocator = build_strategy(s), build_allocator(s)
    check_pair(s, strategy, allocator)
    common = dict(
        scenario=s,
        seeds=seeds,
        mobility=mobility,
        channel=channel,
        link=link,
        rate=rate,
        compute=compute,
        strategy=strategy,
        allocator=allocator,
        stage1=stage1,
    )
    if data is None:
        return _learning_free(s, seeds, common, num_classes, lora_spec(s))
    seeds.seed_torch("model_init")
    model = build_model(num_classes=num_classes, layers=s.model.layers, lora=lora_spec(s))
    trainer = Trainer(model, data.tokens)
    if s.train.backend == "ray":
        training = RayTraining(
            TrainerFactory(num_classes, s.model.layers, lora_spec(s), s.model.max_seq_len),
            strategy,
            train_settings(s),
            s.train.ray_workers,
            s.train.ray_address,
        )
    else:
        training = LocalTraining(trainer, strategy, train_settings(s))
    return World(
        **common,
        training=training,
        trainer=trainer,
        surrogate=None,
        initial_state=trainer.initial_state(),
        shards=data.shards,
        eval_indices=data.eval_indices,
        step_flops=training_flops(model, s.train.batch_size, s.model.max_seq_len),
    )


def train_settings(s: Scenario) -> TrainSettings:
    """The scenario's local optimisation settings."""
    return TrainSettings(s.train.local_steps, s.train.batch_size, s.train.lr, s.train.weight_decay)


def lora_spec(s: Scenario) -> LoraSpec:
    """The scenario's adapter settings."""
    return LoraSpec(
        rank=s.model.lora_rank,
        alpha=s.model.lora_alpha,
        targets=s.model.lora_targets,
        dropout=s.model.lora_dropout,
        orthonormal_init=s.model.lora_init == "orthonormal",
    )


@dataclass(frozen=True)
class _Data:
    tokens: TokenisedData
    shards: list[np.ndarray]
    eval_indices: np.ndarray


def _data(s: Scenario, seeds: SeedBank, dataset: TextDataset) -> _Data:
    """Train/test split, client shards and the evaluation set; the tokenised corpus."""
    train_idx, test_idx = stratified_split(dataset.labels, s.data.test_fraction, seeds.rng("split"))
    client_shards = _partition(s, dataset.labels[train_idx], seeds)
    eval_idx = test_idx
    if 0 < s.server.eval_samples < len(test_idx):
        eval_idx = np.sort(seeds.rng("eval").choice(test_idx, s.server.eval_samples, False))
    tokens = tokenise(load_tokenizer(), dataset, s.model.max_seq_len)
    return _Data(tokens, [train_idx[p] for p in client_shards], eval_idx)


def _pilot(
    s: Scenario, seeds: SeedBank, data: _Data, num_classes: int
) -> Callable[[Scenario, Strategy], tuple[float, float]]:
    """Stage 1's pilot: one round of real local training by a few seeded clients at the
    candidate's rank and λ, sent dense and aggregated by the strategy; held-out (loss, acc)."""
    pilots = np.sort(
        seeds.rng("stage1_pilot").choice(
            s.clients.count, s.allocation.stage1_pilot_clients, replace=False
        )
    )
    settings = train_settings(s)

    def pilot(sc: Scenario, strategy: Strategy) -> tuple[float, float]:
        seeds.seed_torch("stage1_init")
        trainer = Trainer(build_model(num_classes, sc.model.layers, lora_spec(sc)), data.tokens)
        start = trainer.initial_state()
        payloads, sizes = [], []
        for k in pilots:
            seeds.seed_torch("stage1_train", int(k))
            update = trainer.train(
                start,
                data.shards[k],
                settings,
                extra_loss=strategy.extra_loss(),
                frozen=strategy.frozen,
            )
            payloads.append(strategy.compress(update.state, start, 1.0, seeds.rng("stage1", k)))
            sizes.append(len(data.shards[k]))
        weights = (np.array(sizes) / sum(sizes)).tolist()
        acc, loss = trainer.evaluate(
            strategy.aggregate(start, payloads, weights), data.eval_indices
        )
        return loss, acc

    return pilot


def _learning_free(
    s: Scenario, seeds: SeedBank, common: dict, num_classes: int, lora: LoraSpec
) -> World:
    """fl.mode = "surrogate": the adapter's shapes and FLOPs from the model skeleton (no
    weights), updates drawn from the profile; no data shards, no evaluation."""
    profile = (
        SurrogateProfile.load(s.fl.profile)
        if s.fl.profile
        else SurrogateProfile.synthetic(s.model.lora_rank)
    )
    skeleton = model_skeleton(num_classes, s.model.layers, lora)
    shapes = {n: p for n, p in skeleton.named_parameters() if p.requires_grad}
    template = surrogate_template(
        shapes, profile.at_rank(s.model.lora_rank), seeds.rng("surrogate_template")
    )
    return World(
        **common,
        trainer=None,
        surrogate=Surrogate(profile, len(lora_layers(template)), s.model.lora_rank),
        initial_state=template,
        shards=[],
        eval_indices=np.array([], dtype=int),
        step_flops=training_flops(skeleton, s.train.batch_size, s.model.max_seq_len),
    )


def _partition(s: Scenario, labels: np.ndarray, seeds: SeedBank) -> list[np.ndarray]:
    rng = seeds.rng("partition")
    n = s.clients.count
    if s.data.partition == "iid":
        return iid(labels, n, rng)
    if s.data.partition == "dirichlet":
        return dirichlet(labels, n, s.data.dirichlet_alpha, rng, min_samples=1)
    return shards(labels, n, s.data.shards_per_client, rng)


def build_channel(
    s: Scenario, seeds: SeedBank, bs_position: np.ndarray, start_positions: np.ndarray
) -> ChannelModel:
    """The scenario's channel model (``channel.model``)."""
    c, k = s.channel, s.clients.count
    if c.model in ("umi", "uma", "rma"):
        window = math.ceil((s.deadline.seconds + c.csi_delay_s) / c.dt) + 3
        fading = SionnaRayFading(
            c.model,
            c.carrier_hz,
            bs_position,
            k,
            c.bs_antennas,
            reseed=seeds.seed_sionna,
            phase_rng=lambda drop: seeds.rng("ray_phases", drop),
            window_steps=window,
        )
        return Cell38901(
            c.model,
            bs_position,
            c.carrier_hz,
            c.dt,
            k,
            rng=seeds.rng,
            window_steps=window,
            start_positions=start_positions,
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
        )
    return PathlossChannel(bs_position, c.carrier_hz, k, seeds.rng("los"), fading, c.model)
