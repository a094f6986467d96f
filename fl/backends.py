"""Where clients' local training runs: in this process (`local`) or on Ray workers (`ray`).

The engine submits a client's training when it starts (in simulated time) and collects the
result when the simulated training ends. Each training is seeded by its (round, client), so
the result is the same wherever and in whatever order it is computed; simulated durations
never come from the host, so both backends give the same events and metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from fl.data_files import DataSource
from fl.lora_ops import State
from fl.model import LoraSpec
from fl.pretrained import ModelSource
from fl.strategies import Strategy
from fl.train import LocalResult, Trainer, TrainSettings

logger = logging.getLogger(__name__)
RAY_HINT = "pip install -c constraints.txt -e '.[ray]'"


class BackendUnavailable(RuntimeError):
    """The scenario's training backend cannot be used here (e.g. Ray is not installed)."""


class TrainingBackend(Protocol):
    """Runs local training jobs keyed by (round, client)."""

    def submit(self, key: tuple[int, int], state: State, indices: np.ndarray, seed: int) -> None:
        """Start (or queue) one client's local training.

        In: ``key`` = (round, client); ``state``: the global State (name -> float32 torch
        tensor) to start from; ``indices`` [m] int64, the client's training samples; ``seed``:
        the torch seed of this (round, client), so the result does not depend on where or when
        it runs. The engine calls it at the simulated train start and ``collect(key)`` at the
        train end; host time never enters simulated time."""
        ...

    def collect(self, key: tuple[int, int]) -> LocalResult:
        """The finished training of ``key`` (waits for it)."""
        ...

    def discard(self, key: tuple[int, int]) -> None:
        """Forget the job of ``key`` (its client was stopped before its training ended); a
        key with no job is ignored."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


def train_seeded(
    trainer: Trainer, strategy: Strategy, settings: TrainSettings, job: tuple
) -> LocalResult:
    """One client's local training exactly as every backend runs it."""
    state, indices, seed = job
    torch.manual_seed(seed)
    return trainer.train(
        state, indices, settings, extra_loss=strategy.extra_loss(), frozen=strategy.frozen
    )


class LocalTraining:
    """Trains in this process, on the run's one model, when the result is collected."""

    def __init__(self, trainer: Trainer, strategy: Strategy, settings: TrainSettings) -> None:
        self.trainer, self.strategy, self.settings = trainer, strategy, settings
        self._jobs: dict[tuple[int, int], tuple] = {}
        self.busy_s = 0.0

    def submit(self, key: tuple[int, int], state: State, indices: np.ndarray, seed: int) -> None:
        """Remember the job; it runs at ``collect`` (one model, one job at a time)."""
        self._jobs[key] = (state, indices, seed)

    def collect(self, key: tuple[int, int]) -> LocalResult:
        """Train now."""
        start = time.perf_counter()
        result = train_seeded(self.trainer, self.strategy, self.settings, self._jobs.pop(key))
        self.busy_s += time.perf_counter() - start
        return result

    def discard(self, key: tuple[int, int]) -> None:
        """Drop the job unrun."""
        self._jobs.pop(key, None)

    def close(self) -> None:
        """Nothing to release."""
        self._jobs.clear()


class _Worker:
    """A Ray actor: its own copy of the model and the tokenised data."""

    def __init__(
        self,
        make_trainer: Callable[[], Trainer],
        strategy: Strategy,
        settings: TrainSettings,
        threads: int,
    ) -> None:
        torch.set_num_threads(threads)  # as the driver: the same arithmetic, the same bits
        self.trainer, self.strategy, self.settings = make_trainer(), strategy, settings

    def train(self, job: tuple) -> LocalResult:
        return train_seeded(self.trainer, self.strategy, self.settings, job)


class RayTraining:
    """Trains on ``workers`` Ray actors (started on ``ray.init(address)``; a local Ray
    instance when ``address`` is empty); jobs go to the actors in turn as they are submitted."""

    def __init__(
        self,
        make_trainer: Callable[[], Trainer],
        strategy: Strategy,
        settings: TrainSettings,
        workers: int,
        address: str = "",
    ) -> None:
        try:
            import ray
        except ImportError:
            raise BackendUnavailable(
                f"train.backend = 'ray' needs Ray, which is not installed: {RAY_HINT}"
            ) from None
        self.ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False)
            if address:
                kwargs["address"] = address
            ray.init(**kwargs)
        logger.info("Ray: %d training workers (%s)", workers, address or "local instance")
        actor = ray.remote(num_cpus=1)(_Worker)
        threads = torch.get_num_threads()
        self.actors = [
            actor.remote(make_trainer, strategy, settings, threads) for _ in range(workers)
        ]
        self._pending: dict[tuple[int, int], Any] = {}
        self._next = 0
        self.busy_s = 0.0

    def submit(self, key: tuple[int, int], state: State, indices: np.ndarray, seed: int) -> None:
        """Send the job to the next actor; it starts as soon as that actor is free."""
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        self._pending[key] = actor.train.remote((state, indices, seed))

    def collect(self, key: tuple[int, int]) -> LocalResult:
        """Wait for the job's result (the host time waited is counted as training time)."""
        start = time.perf_counter()
        result = self.ray.get(self._pending.pop(key))
        self.busy_s += time.perf_counter() - start
        return result

    def discard(self, key: tuple[int, int]) -> None:
        """Drop the job's result: the actor still runs it (host time only; cancelling a
        sync actor's task is not reliable across Ray versions), nobody reads it."""
        self._pending.pop(key, None)

    def close(self) -> None:
        """Stop the actors, and Ray itself when this run started it."""
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self._started:
            self.ray.shutdown()


@dataclass(frozen=True)
class TrainerFactory:
    """Builds the model and data a worker trains on: picklable, so Ray can ship it."""

    source: ModelSource
    num_classes: int
    lora: LoraSpec
    max_seq_len: int
    data_name: str  # a packaged dataset, used when data_file is None
    data_file: DataSource | None
    device: str  # train.device, resolved on the worker's own machine

    def __call__(self) -> Trainer:
        from fl import build_model, load_tokenizer, tokenise
        from fl.data_files import load_examples
        from fl.train import pick_device

        model = build_model(self.source, self.num_classes, self.lora)
        task = self.source.task
        data = load_examples(self.data_name, self.data_file, task)
        tokens = tokenise(load_tokenizer(self.source), data, self.max_seq_len, task)
        return Trainer(model, tokens, pick_device(self.device))
