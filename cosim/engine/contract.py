"""What the engine checks of a strategy's answers at each call: a payload with whole,
non-negative bits, finite bit counts, and an aggregated model with the global model's
tensors. Built-in strategies pass trivially; a registered one's mistake is named (strategy,
method, field) instead of corrupting a run."""

from __future__ import annotations

import math

import numpy as np
import torch

from cosim.scenario.registry import ContractError
from fl import State, Strategy
from fl.strategies import Payload


def payload(strategy: Strategy, made: object) -> Payload:
    """``compress``'s answer, checked."""
    if not isinstance(made, Payload):
        raise ContractError(
            f"strategy {strategy.name!r}: compress() returned {type(made).__name__}, not an "
            "fl.strategies.Payload"
        )
    if isinstance(made.bits, bool) or not isinstance(made.bits, int | np.integer) or made.bits < 0:
        raise ContractError(
            f"strategy {strategy.name!r}: compress() gave bits = {made.bits!r}; it must be a "
            "whole number >= 0"
        )
    return made


def bits(strategy: Strategy, value: object, method: str = "payload_bits") -> float:
    """A bit count the strategy predicts, checked finite and non-negative."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < 0:
        raise ContractError(
            f"strategy {strategy.name!r}: {method}() gave {value!r}; it must be a finite "
            "number of bits >= 0"
        )
    return x


def state(strategy: Strategy, made: object, template: State) -> State:
    """``aggregate``'s answer: the global model's tensor names, each a tensor."""
    if not isinstance(made, dict) or set(made) != set(template):
        raise ContractError(
            f"strategy {strategy.name!r}: aggregate() must return the global model's tensors "
            f"by name ({len(template)} of them); got {type(made).__name__}"
        )
    bad = [n for n, t in made.items() if not isinstance(t, torch.Tensor)]
    if bad:
        raise ContractError(f"strategy {strategy.name!r}: aggregate() gave a non-tensor {bad[0]}")
    return made
