"""Local LoRA training and evaluation on the one shared model; clients hold only tensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fl.data import TokenisedData
from fl.model import AdaptedModel, get_trainable_state, set_trainable_state
from fl.types import ExtraLoss, State


class DeviceUnavailable(RuntimeError):
    """train.device names a device this machine does not have."""


def pick_device(name: str) -> str:
    """``auto`` -> "cuda" when torch sees a GPU, else "cpu"; ``cuda`` only where there is one."""
    has_cuda = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if has_cuda else "cpu"
    if name == "cuda" and not has_cuda:
        raise DeviceUnavailable(
            "train.device = 'cuda' but torch sees no CUDA device here (this torch build: "
            f"{torch.__version__}); use 'auto' or 'cpu'"
        )
    return name


@dataclass(frozen=True)
class TrainSettings:
    """Local optimisation settings (AdamW)."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0


@dataclass(frozen=True)
class LocalResult:
    """A client's trained tensors with its mean training loss over the steps."""

    state: State
    loss: float
    steps: int


class Trainer:
    """Trains and evaluates the single in-memory model for whichever client's turn it is.

    Batches and dropout draw from torch's global (CPU) RNG, which the caller seeds per client
    and round, so results do not depend on the order clients are trained in. The model and
    its batches live on ``device``; states come and go on the CPU.
    """

    def __init__(self, model: AdaptedModel, data: TokenisedData, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.data = data

    def _batch(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.data
        on = self.device
        return d.input_ids[b].to(on), d.attention_mask[b].to(on), d.target(b).to(on)

    def initial_state(self) -> State:
        """The global starting point: the adapter and head as built."""
        return get_trainable_state(self.model)

    def train(
        self,
        state: State,
        indices: np.ndarray,
        settings: TrainSettings,
        extra_loss: ExtraLoss | None = None,
        frozen: Callable[[str], bool] | None = None,
    ) -> LocalResult:
        """Run ``settings.steps`` AdamW steps from ``state`` on the samples ``indices``.

        ``extra_loss`` is added to the cross-entropy (a regulariser); tensors for which
        ``frozen(name)`` is true are left out of the optimiser and come back unchanged.
        """
        if len(indices) == 0:
            raise ValueError("a client with no samples cannot train")
        set_trainable_state(self.model, state)
        self.model.train()
        params = [
            p
            for n, p in self.model.named_parameters()
            if p.requires_grad and not (frozen and frozen(n))
        ]
        opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
        idx = torch.as_tensor(indices, dtype=torch.long)
        order = idx[torch.randperm(len(idx))]
        pos, losses = 0, []
        for _ in range(settings.steps):
            if pos + settings.batch_size > len(order):
                order = idx[torch.randperm(len(idx))]
                pos = 0
            batch = order[pos : pos + settings.batch_size]
            pos += settings.batch_size
            loss = self.model.loss(*self._batch(batch))
            total = loss if extra_loss is None else loss + extra_loss(self.model)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return LocalResult(get_trainable_state(self.model), float(np.mean(losses)), settings.steps)

    @torch.no_grad()
    def evaluate(
        self, state: State, indices: np.ndarray, batch_size: int = 128
    ) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of ``state`` on the samples ``indices``: per sample
        to classify; per scored token (next-token top-1 accuracy) for a causal LM."""
        set_trainable_state(self.model, state)
        self.model.eval()
        correct, loss_sum, n = 0, 0.0, 0
        idx = torch.as_tensor(indices, dtype=torch.long)
        for start in range(0, len(idx), batch_size):
            loss, hits, count = self.model.score(*self._batch(idx[start : start + batch_size]))
            loss_sum, correct, n = loss_sum + loss, correct + hits, n + count
        n = max(n, 1)
        return correct / n, loss_sum / n
