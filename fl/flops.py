"""FLOPs of one local training step for any model, counted by torch's FlopCounterMode on the
meta device (no weights allocated, nothing computed), once per shape."""

from __future__ import annotations

import functools

import torch
from torch.utils.flop_counter import FlopCounterMode

from fl.model import LoraSpec, model_skeleton
from fl.pretrained import ModelSource


@functools.lru_cache(maxsize=64)
def step_flops(
    source: ModelSource, num_classes: int, lora: LoraSpec, batch: int, seq_len: int
) -> float:
    """FLOPs of a forward and backward pass over ``batch`` sequences of ``seq_len`` tokens
    (the optimiser's element-wise update is not counted: it is O(adapter size))."""
    model = model_skeleton(source, num_classes, lora)
    model.train()
    with torch.device("meta"):
        ids = torch.zeros(batch, seq_len, dtype=torch.long)
        target = (
            torch.zeros(batch, seq_len, dtype=torch.long)
            if source.task == "causal-lm"
            else torch.zeros(batch, dtype=torch.long)
        )
    counter = FlopCounterMode(display=False)
    with counter:
        # no mask: transformers inspects a mask's values, which meta tensors do not have
        model.loss(ids, None, target).backward()
    return float(counter.get_total_flops())
