"""The World: every part of a run, built from a scenario, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channels import ChannelModel, LinkBudget, RateModel
from cosim.mobility.paths import Paths
from cosim.scenario.schema import Scenario
from cosim.world.compute import ComputeModel
from cosim.world.seeding import SeedBank
from cosim.world.stage1 import Stage1Result
from fl import State, Strategy, Surrogate, Trainer
from fl.allocators import Allocator
from fl.backends import TrainingBackend


@dataclass
class World:
    """Everything a run is made of, built from a scenario (see cosim.world.build); the parts
    the engine plays and checkpoints walk."""

    scenario: Scenario
    seeds: SeedBank
    mobility: Paths
    channel: ChannelModel
    link: LinkBudget
    rate: RateModel
    compute: ComputeModel
    trainer: Trainer | None  # None in a learning-free run; evaluates the global model
    surrogate: Surrogate | None  # set in a learning-free run only
    initial_state: State
    strategy: Strategy
    allocator: Allocator
    shards: list[np.ndarray]
    eval_indices: np.ndarray
    step_flops: float
    stage1: Stage1Result | None = None  # when allocation.stage1 is on
    training: TrainingBackend | None = None  # None in a learning-free run
    lora_targets: tuple[str, ...] = ()  # the adapted modules ("auto" resolved)
    record: dict[str, Any] = field(default_factory=dict)  # model and data used (run_start)

    @property
    def learning_free(self) -> bool:
        """True when updates are drawn from a profile instead of trained (fl.mode)."""
        return self.surrogate is not None
