"""The trained model: a pretrained transformer (fl.pretrained) with peft LoRA adapters, as a
classifier (pooled linear head) or as a causal language model; the adapter's tensors by name."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from fl.pretrained import ModelSource, is_decoder_only, load_config, quiet_transformers
from fl.targets import fan_in_fan_out, resolve_targets
from fl.types import IGNORE


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapter settings: rank, scaling alpha, target module names ("auto" = the
    architecture's attention projections) and dropout."""

    rank: int
    alpha: float
    targets: tuple[str, ...]
    dropout: float = 0.0
    orthonormal_init: bool = True


class LoraClassifier(nn.Module):
    """Frozen transformer with LoRA adapters, a pooled representation and a linear head:
    mean pooling over real tokens for encoders, the last real token for decoder-only models
    (which see only what came before, so only their last token has read the whole text)."""

    def __init__(self, encoder: nn.Module, hidden: int, num_classes: int, pooling: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, num_classes)
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Class logits [batch, classes] (``attention_mask`` None: every token is real)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if attention_mask is None:
            pooled = hidden[:, -1] if self.pooling == "last" else hidden.mean(1)
        elif self.pooling == "last":
            last = attention_mask.sum(1).clamp_min(1) - 1  # right padding: last real token
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(pooled.to(self.head.weight.dtype))

    def loss(self, input_ids, attention_mask, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the class logits against labels ``target`` [batch]."""
        return F.cross_entropy(self(input_ids, attention_mask), target)

    def score(self, input_ids, attention_mask, target) -> tuple[float, int, int]:
        """(summed cross-entropy, correct predictions, samples scored) of one batch."""
        logits = self(input_ids, attention_mask)
        loss = float(F.cross_entropy(logits, target, reduction="sum"))
        return loss, int((logits.argmax(-1) == target).sum()), len(target)


class LoraCausalLM(nn.Module):
    """Frozen decoder-only language model with LoRA adapters, trained on next-token loss over
    the tokens whose label is not IGNORE (all real tokens, or an instruction's response)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def _shifted(self, input_ids, attention_mask, target):
        logits = self.lm(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits[:, :-1].float().flatten(0, 1), target[:, 1:].flatten()

    def loss(self, input_ids, attention_mask, target: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy over scored tokens; ``target`` [batch, seq] token ids."""
        logits, labels = self._shifted(input_ids, attention_mask, target)
        return F.cross_entropy(logits, labels, ignore_index=IGNORE)

    def score(self, input_ids, attention_mask, target) -> tuple[float, int, int]:
        """(summed token cross-entropy, correct next-token predictions, tokens scored)."""
        logits, labels = self._shifted(input_ids, attention_mask, target)
        loss = float(F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum"))
        keep = labels != IGNORE
        correct = int((logits.argmax(-1)[keep] == labels[keep]).sum())
        return loss, correct, int(keep.sum())


AdaptedModel = LoraClassifier | LoraCausalLM


def build_model(source: ModelSource, num_classes: int, lora: LoraSpec) -> AdaptedModel:
    """Load the checkpoint (only its first ``source.layers`` layers), add LoRA (and, to
    classify, a head). Initial LoRA and head weights come from torch's global RNG: the caller
    seeds it."""
    quiet_transformers()
    from transformers import AutoModel, AutoModelForCausalLM

    config = load_config(source)
    auto = AutoModelForCausalLM if source.task == "causal-lm" else AutoModel
    base = auto.from_pretrained(
        source.directory(), config=config, dtype=_dtype(source), local_files_only=True
    )
    return _adapt(base, config, source, num_classes, lora, init=True)


def model_skeleton(source: ModelSource, num_classes: int, lora: LoraSpec) -> AdaptedModel:
    """The same architecture as ``build_model`` on torch's meta device: names, shapes and FLOPs
    without loading or allocating a single weight (for learning-free runs)."""
    quiet_transformers()
    from transformers import AutoModel, AutoModelForCausalLM

    config = load_config(source)
    auto = AutoModelForCausalLM if source.task == "causal-lm" else AutoModel
    with torch.device("meta"):
        base = auto.from_config(config, dtype=_dtype(source))
        return _adapt(base, config, source, num_classes, lora, init=False)


def _dtype(source: ModelSource) -> torch.dtype:
    return torch.bfloat16 if source.dtype == "bfloat16" else torch.float32


def _adapt(base, config, source, num_classes, lora, init: bool) -> AdaptedModel:
    from peft import LoraConfig, get_peft_model

    targets = resolve_targets(base, config.model_type, lora.targets)
    peft_config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        target_modules=list(targets),
        lora_dropout=lora.dropout,
        bias="none",
        fan_in_fan_out=fan_in_fan_out(base, targets),
    )
    adapted = get_peft_model(base, peft_config)
    if init and lora.orthonormal_init:
        orthonormalise_lora_a(adapted)
    if source.task == "causal-lm":
        model: AdaptedModel = LoraCausalLM(adapted)
    else:
        pooling = "last" if is_decoder_only(config) else "mean"
        model = LoraClassifier(adapted, config.hidden_size, num_classes, pooling)
    model.lora_targets = targets  # what "auto" became (recorded by the run)
    return model


def orthonormalise_lora_a(model: nn.Module) -> None:
    """Give every LoRA A orthonormal rows (QR of a Gaussian draw from torch's global RNG).

    Ours: with B = 0 at the start and A's rows orthonormal, per-rank norms rank the components
    from the first round on (SOFT's premise); the same start is used for every strategy.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name and p.requires_grad:
                r, d_in = p.shape
                q, _ = torch.linalg.qr(torch.randn(d_in, r, dtype=torch.float64))
                p.copy_(q.T.to(p.dtype))


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters that are trained and exchanged (LoRA factors and head)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def get_trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable tensors on the CPU: what a client holds and sends."""
    return {
        n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad
    }


def set_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load trainable tensors into the one shared model (shapes must match)."""
    params = dict(model.named_parameters())
    missing = set(trainable_names(model)) - set(state)
    if missing:
        raise KeyError(f"state lacks {sorted(missing)[:3]}...")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)
