"""The learning parts of a run: data split and tokens, the model with its LoRA adapter, the
trainer and training backend; or, learning-free, the adapter's skeleton and the profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosim.scenario.schema import Scenario
from cosim.world.seeding import SeedBank
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


def split_data(s: Scenario, seeds: SeedBank, dataset: TextDataset) -> _Data:
    """Train/test split, client shards and the evaluation set; the tokenised corpus."""
    train_idx, test_idx = stratified_split(dataset.labels, s.data.test_fraction, seeds.rng("split"))
    client_shards = _partition(s, dataset.labels[train_idx], seeds)
    eval_idx = test_idx
    if 0 < s.server.eval_samples < len(test_idx):
        eval_idx = np.sort(seeds.rng("eval").choice(test_idx, s.server.eval_samples, False))
    tokens = tokenise(load_tokenizer(), dataset, s.model.max_seq_len)
    return _Data(tokens, [train_idx[p] for p in client_shards], eval_idx)


def pilot(
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


def learning_free_parts(
    s: Scenario, seeds: SeedBank, num_classes: int, lora: LoraSpec
) -> dict[str, Any]:
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
    return dict(
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


def trained_parts(
    s: Scenario, seeds: SeedBank, data: _Data, num_classes: int, strategy: Strategy
) -> dict[str, Any]:
    """fl.mode = "train": the model with its adapter (seeded), the trainer that evaluates the
    global model, and the backend that trains the clients (here or on Ray)."""
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
    return dict(
        training=training,
        trainer=trainer,
        surrogate=None,
        initial_state=trainer.initial_state(),
        shards=data.shards,
        eval_indices=data.eval_indices,
        step_flops=training_flops(model, s.train.batch_size, s.model.max_seq_len),
    )
