"""Which modules get LoRA adapters: ``auto`` resolved per architecture (peft's own table, plus
the few it lacks), explicit names checked against what the model has."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

# architectures peft's table leaves out: their attention query and value projections
EXTRA_TARGETS: dict[str, tuple[str, ...]] = {"distilbert": ("q_lin", "v_lin")}


class LoraTargetError(ValueError):
    """LoRA target names that match no module of the model; the message lists those it has."""


def wrappable(model: nn.Module) -> list[str]:
    """Last name components of the modules LoRA can wrap (linear, GPT-2's Conv1D, embedding,
    2-D convolution), sorted."""
    from transformers.pytorch_utils import Conv1D

    kinds = (nn.Linear, nn.Embedding, nn.Conv2d, Conv1D)
    return sorted(
        {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, kinds) and n}
    )


def auto_targets(model_type: str) -> tuple[str, ...]:
    """The attention projections adapted for ``model_type`` by default (peft's table)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE

    if model_type in TABLE:
        return tuple(TABLE[model_type])
    if model_type in EXTRA_TARGETS:
        return EXTRA_TARGETS[model_type]
    raise LoraTargetError(
        f"no default LoRA targets are known for a {model_type!r} model; name them in "
        "model.lora_targets"
    )


def resolve_targets(model: nn.Module, model_type: str, targets: Sequence[str]) -> tuple[str, ...]:
    """``targets`` with ``auto`` replaced by the architecture's defaults; LoraTargetError when
    a name matches no wrappable module, listing the names the model has."""
    names: list[str] = []
    for t in targets:
        for name in auto_targets(model_type) if t == "auto" else (t,):
            if name not in names:
                names.append(name)
    have = wrappable(model)
    missing = [n for n in names if n not in have]
    if missing:
        raise LoraTargetError(
            f"{', '.join(repr(n) for n in missing)} match no module of this {model_type!r} "
            f"model; modules LoRA can wrap: {', '.join(have)}"
        )
    return tuple(names)


def fan_in_fan_out(model: nn.Module, targets: Sequence[str]) -> bool:
    """True when the targets are GPT-2-style Conv1D layers (weights stored [in, out])."""
    from transformers.pytorch_utils import Conv1D

    return any(
        isinstance(m, Conv1D) and n.rsplit(".", 1)[-1] in targets for n, m in model.named_modules()
    )
