"""The learning parts of a run: data split and tokens, the model with its LoRA adapter, the
trainer and training backend; or, learning-free, the adapter's skeleton and the profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cosim.scenario.schema import Scenario
from cosim.world.seeding import SeedBank
from fl import (
    LoraSpec,
    ModelSource,
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
    step_flops,
    stratified_split,
    surrogate_template,
    tokenise,
)
from fl.backends import LocalTraining, RayTraining, TrainerFactory
from fl.data import packaged_dataset_version
from fl.data_files import DataSource, data_digest, load_examples
from fl.pretrained import checkpoint_digest, load_config, packaged_model_version
from fl.train import pick_device


def train_settings(s: Scenario) -> TrainSettings:
    """The scenario's local optimisation settings."""
    return TrainSettings(s.train.local_steps, s.train.batch_size, s.train.lr, s.train.weight_decay)


def model_source(s: Scenario) -> ModelSource:
    """The scenario's checkpoint, kept layers, dtype and task."""
    m = s.model
    return ModelSource(path=m.path, layers=m.layers, dtype=m.dtype, task=m.task)


def data_source(s: Scenario) -> DataSource | None:
    """The scenario's own data file and fields (None: a packaged dataset, data.name)."""
    d = s.data
    if not d.path:
        return None
    return DataSource(
        d.path, d.text_field, d.label_field, d.prompt_field, d.response_field, d.group_field
    )


def load_data(s: Scenario) -> TextDataset:
    """The examples the run learns from: data.path read by its fields, else data.name."""
    return load_examples(s.data.name, data_source(s), s.model.task)


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
    tokens = tokenise(load_tokenizer(model_source(s)), dataset, s.model.max_seq_len, s.model.task)
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
        model = build_model(model_source(sc), num_classes, lora_spec(sc))
        trainer = Trainer(model, data.tokens, pick_device(sc.train.device))
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
    skeleton = model_skeleton(model_source(s), num_classes, lora)
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
        step_flops=step_flops(
            model_source(s), num_classes, lora, s.train.batch_size, s.model.max_seq_len
        ),
        lora_targets=skeleton.lora_targets,
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
    model = build_model(model_source(s), num_classes, lora_spec(s))
    device = pick_device(s.train.device)
    trainer = Trainer(model, data.tokens, device)
    if s.train.backend == "ray":
        factory = TrainerFactory(
            model_source(s),
            num_classes,
            lora_spec(s),
            s.model.max_seq_len,
            s.data.name,
            data_source(s),
            s.train.device,
        )
        training = RayTraining(
            factory,
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
        step_flops=step_flops(
            model_source(s), num_classes, lora_spec(s), s.train.batch_size, s.model.max_seq_len
        ),
        lora_targets=model.lora_targets,
    )


def learning_record(s: Scenario, dataset: TextDataset, targets: tuple[str, ...]) -> dict[str, Any]:
    """The model and data a run uses, for its run_start event: absolute paths and content
    hashes (config.json, the data file), so a re-run can tell a changed file."""
    source = model_source(s)
    config = load_config(source)
    model = {
        # the packaged model by its distribution (its folder differs between installs)
        "path": str(Path(source.path).resolve()) if source.path else "",
        "packaged": packaged_model_version() if not source.path else False,
        "config_sha256": checkpoint_digest(source),
        "model_type": config.model_type,
        "layers": config.num_hidden_layers,
        "task": source.task,
        "dtype": source.dtype,
        "lora_targets": list(targets),
    }
    own = data_source(s)
    data: dict[str, Any] = {"examples": len(dataset.texts), "classes": len(dataset.label_names)}
    if own is None:
        data.update(name=s.data.name, package=packaged_dataset_version(s.data.name))
    else:
        data.update(path=str(Path(own.path).resolve()), sha256=data_digest(own.path))
    return {"model": model, "data": data}
