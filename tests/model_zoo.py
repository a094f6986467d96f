"""Tiny randomly initialised Hugging Face checkpoints of several architectures, built from
configs and saved with the packaged MiniLM tokenizer (vocabulary 30,522): no network."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 30_522
_SMALL = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
CONFIGS = {  # model_type -> config fields (3 layers, width 32)
    "bert": dict(_SMALL, max_position_embeddings=128),
    "roberta": dict(_SMALL, max_position_embeddings=130),
    "distilbert": dict(dim=32, n_layers=3, n_heads=4, hidden_dim=64, max_position_embeddings=128),
    "gpt2": dict(n_embd=32, n_layer=3, n_head=4, n_positions=128),
    "llama": dict(_SMALL, num_key_value_heads=2, max_position_embeddings=128),
    "qwen2": dict(_SMALL, num_key_value_heads=2, max_position_embeddings=128),
}
DECODERS = ("gpt2", "llama", "qwen2")
# what model.lora_targets = ["auto"] resolves to (peft's table; DistilBERT from ours)
AUTO_TARGETS = {
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "distilbert": ("q_lin", "v_lin"),
    "gpt2": ("c_attn",),
    "llama": ("q_proj", "v_proj"),
    "qwen2": ("q_proj", "v_proj"),
}


def build_checkpoint(model_type: str, folder: Path) -> Path:
    """Save a seeded random ``model_type`` checkpoint and the MiniLM tokenizer in ``folder``."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    from fl import pretrained_model_dir
    from fl.pretrained import quiet_transformers

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(pretrained_model_dir())
    ids = {}
    if model_type in DECODERS:  # the tokenizer's own special tokens, inside the vocabulary
        ids = dict(bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    config = AutoConfig.for_model(model_type, vocab_size=VOCAB, **ids, **CONFIGS[model_type])
    config.initializer_range = 0.3  # logits of some scale, so that a loss can fall fast
    torch.manual_seed(0)
    auto = AutoModelForCausalLM if model_type in DECODERS else AutoModel
    auto.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
