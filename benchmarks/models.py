"""Host seconds per local training step and peak memory, per model, measured side by side in
one run; and the counted FLOPs of a step against the old BERT-only hand count.

    .venv/bin/python benchmarks/models.py            # MiniLM + random ~100M decoders (minutes)
    .venv/bin/python benchmarks/models.py --quick    # MiniLM and a small GPT-2 only

Each case runs in a fresh process (peak resident memory is per process): it loads the model
with its LoRA adapter (rank 8, "auto" targets), tokenises 64 texts and times `steps` AdamW
steps of batch 16 at 64 tokens after one warm-up step. The ~100M decoders are randomly
initialised from configs (Llama-style: width 768, 10 layers, tied embeddings; GPT-2 small),
saved with the MiniLM tokenizer to a temporary folder: their step time is what a pretrained
checkpoint of that shape costs, their accuracy means nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG = {
    "llama-100m": (
        "llama",
        dict(
            hidden_size=768,
            num_hidden_layers=10,
            num_attention_heads=12,
            num_key_value_heads=12,
            intermediate_size=2048,
            tie_word_embeddings=True,
        ),
    ),
    "gpt2-small": ("gpt2", dict(n_embd=768, n_layer=12, n_head=12)),
}
SMALL = {"gpt2-tiny": ("gpt2", dict(n_embd=128, n_layer=2, n_head=4))}


def build(kind: str, fields: dict, folder: Path) -> None:
    """A random checkpoint of ``kind`` with ``fields``, saved with the MiniLM tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from fl import pretrained_model_dir
    from fl.pretrained import quiet_transformers

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(pretrained_model_dir())
    special = dict(bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    config = AutoConfig.for_model(kind, vocab_size=30_522, **special, **fields)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def case(path: str, task: str, steps: int) -> dict:
    """One measurement, in this process."""
    import numpy as np
    import torch

    from fl import (
        LoraSpec,
        ModelSource,
        Trainer,
        TrainSettings,
        build_model,
        load_bbc_news,
        load_tokenizer,
        step_flops,
        tokenise,
    )

    torch.manual_seed(0)
    source = ModelSource(path=path, layers=0 if path else 6, task=task)
    lora = LoraSpec(8, 16.0, ("auto",))
    t0 = time.perf_counter()
    model = build_model(source, 5, lora)
    load_s = time.perf_counter() - t0
    bbc = load_bbc_news()
    sub = type(bbc)(bbc.texts[::35][:64], bbc.labels[::35][:64], bbc.label_names)
    trainer = Trainer(model, tokenise(load_tokenizer(source), sub, 64, task))
    state, idx = trainer.initial_state(), np.arange(64)
    trainer.train(state, idx, TrainSettings(1, 16, 1e-3))  # warm-up
    t0 = time.perf_counter()
    trainer.train(state, idx, TrainSettings(steps, 16, 1e-3))
    step_s = (time.perf_counter() - t0) / steps
    params = sum(p.numel() for p in model.parameters())
    flops = step_flops(source, 5, lora, 16, 64)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return dict(
        params_m=params / 1e6, load_s=load_s, step_s=step_s, gflop=flops / 1e9, peak_gib=peak
    )


def flop_check() -> str:
    """Counted FLOPs of MiniLM's step (4 and 6 layers) against the hand count."""
    from fl import LoraSpec, ModelSource, model_skeleton, step_flops

    lines = []
    for layers in (4, 6):
        spec = LoraSpec(8, 16.0, ("query", "value"))
        skeleton = model_skeleton(ModelSource(layers=layers), 5, spec)
        cfg = skeleton.encoder.base_model.model.config
        d, d_ff, tokens = cfg.hidden_size, cfg.intermediate_size, 16 * 64
        per_layer = 2 * tokens * (4 * d * d + 2 * d * d_ff) + 4 * 16 * 64 * 64 * d
        lora = sum(p.numel() for p in skeleton.parameters() if p.requires_grad)
        hand = 2 * (layers * per_layer + 2 * tokens * lora) + 2 * tokens * lora
        counted = step_flops(ModelSource(layers=layers), 5, spec, 16, 64)
        lines.append(
            f"MiniLM {layers} layers, batch 16 x 64 tokens: counted {counted / 1e9:.2f} GFLOP, "
            f"hand count {hand / 1e9:.2f} GFLOP, ratio {counted / hand:.4f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--case", nargs=2, metavar=("PATH", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(
            json.dumps(case(args.case[0] if args.case[0] != "-" else "", args.case[1], args.steps))
        )
        return
    print(flop_check())
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("all-MiniLM-L6-v2 (packaged, 6 layers)", "-", "classify")]
        for name, (kind, fields) in (SMALL if args.quick else BIG).items():
            build(kind, fields, Path(tmp) / name)
            for task in ("classify", "causal-lm"):
                cases.append((f"{name} (random)", str(Path(tmp) / name), task))
        head = ("model", "task", "params", "load s", "step s", "GFLOP", "peak GiB")
        print("{:40s} {:10s} {:>8s} {:>7s} {:>7s} {:>7s} {:>8s}".format(*head))
        for name, path, task in cases:
            out = subprocess.run(
                [sys.executable, __file__, "--case", path, task, "--steps", str(args.steps)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{name:40s} {task:10s} {r['params_m']:7.1f}M {r['load_s']:7.2f} "
                f"{r['step_s']:7.3f} {r['gflop']:7.1f} {r['peak_gib']:8.2f}"
            )


if __name__ == "__main__":
    main()
