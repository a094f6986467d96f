"""The types fl's parts exchange, defined once: an adapter's tensors by name, and a training
regulariser."""

from __future__ import annotations

from collections.abc import Callable

import torch

State = dict[str, torch.Tensor]  # trainable tensors (LoRA factors, head) by parameter name
ExtraLoss = Callable[[torch.nn.Module], torch.Tensor]  # a strategy's term added to the loss
IGNORE = -100  # a token label that is not scored (padding, prompt tokens)
