"""Your own model: tiny random checkpoints of six architectures through the loader, LoRA
targets, pooling, every strategy, the FLOP counter and the meta skeleton."""

import numpy as np
import pytest
import torch
from model_zoo import AUTO_TARGETS, CONFIGS, DECODERS

from cosim import Scenario
from cosim.world.components import build_strategy
from fl import (
    STRATEGIES,
    LoraSpec,
    LoraTargetError,
    ModelSource,
    ModelSourceError,
    TextDataset,
    Trainer,
    TrainSettings,
    build_model,
    load_tokenizer,
    model_skeleton,
    relative_error,
    step_flops,
    tokenise,
)
from fl.model import get_trainable_state

TEXTS = ["the cat sat on the mat", "stocks fell sharply today", "a goal in the last minute"] * 8


def tiny_data(source: ModelSource, task: str = "classify"):
    labels = np.arange(len(TEXTS)) % 3
    data = TextDataset(TEXTS, labels, ("a", "b", "c"))
    return tokenise(load_tokenizer(source), data, 16, task)


def strategy(name: str):
    budget = 1.0 if STRATEGIES[name].dense_only else 0.5
    return build_strategy(Scenario().updated({"strategy.name": name, "strategy.budget": budget}))


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_every_architecture_trains_with_every_strategy(zoo, kind):
    source = ModelSource(path=str(zoo[kind]))
    torch.manual_seed(0)
    model = build_model(source, 3, LoraSpec(4, 8.0, ("auto",)))
    assert model.lora_targets == AUTO_TARGETS[kind]
    assert model.pooling == ("last" if kind in DECODERS else "mean")
    trainer = Trainer(model, tiny_data(source))
    start = trainer.initial_state()
    assert any("lora_A" in n for n in start) and {"head.weight", "head.bias"} <= set(start)
    idx = np.arange(len(TEXTS))
    for name in STRATEGIES:
        st = strategy(name)
        torch.manual_seed(1)
        res = trainer.train(
            start, idx, TrainSettings(3, 4, 1e-2), extra_loss=st.extra_loss(), frozen=st.frozen
        )
        assert np.isfinite(res.loss), name
        payload = st.compress(
            res.state, start, 0.5 if not st.dense_only else 1.0, np.random.default_rng(0)
        )
        new = st.aggregate(start, [payload, payload], [0.5, 0.5])
        assert set(new) == set(start)
        assert np.isfinite(relative_error(res.state, new)) or name == "ffa-lora", name
        acc, loss = trainer.evaluate(new, idx)
        assert 0.0 <= acc <= 1.0 and np.isfinite(loss), name


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_layers_are_cut_from_the_config_and_the_skeleton_matches(zoo, kind):
    spec = LoraSpec(2, 4.0, ("auto",))
    source = ModelSource(path=str(zoo[kind]), layers=2)
    real = get_trainable_state(build_model(source, 3, spec))
    skeleton = model_skeleton(source, 3, spec)
    shapes = {n: tuple(p.shape) for n, p in skeleton.named_parameters() if p.requires_grad}
    assert shapes == {n: tuple(t.shape) for n, t in real.items()}
    # two layers, one adapter per target per layer
    assert sum("lora_A" in n for n in real) == 2 * len(AUTO_TARGETS[kind])
    with pytest.raises(
        ModelSourceError, match=r"has 3 layers; model.layers = 4 must be 0 \(all\) or 1..3"
    ):
        build_model(ModelSource(path=str(zoo[kind]), layers=4), 3, spec)


@pytest.mark.parametrize("kind", DECODERS)
def test_causal_lm_trains_on_next_tokens_and_counts_flops(zoo, kind):
    source = ModelSource(path=str(zoo[kind]), task="causal-lm")
    torch.manual_seed(0)
    model = build_model(source, 1, LoraSpec(4, 8.0, ("auto",)))
    assert not any("head" in n for n, p in model.named_parameters() if p.requires_grad)
    data = tiny_data(source, "causal-lm")
    assert (
        data.token_labels is not None
        and (data.token_labels[data.attention_mask == 0] == -100).all()
    )
    trainer = Trainer(model, data)
    idx = np.arange(len(TEXTS))
    start = trainer.initial_state()
    _, before = trainer.evaluate(start, idx)
    torch.manual_seed(1)
    res = trainer.train(start, idx, TrainSettings(30, 8, 2e-2))
    _, after = trainer.evaluate(res.state, idx)
    assert after < before - 0.1
    cls = step_flops(ModelSource(path=str(zoo[kind])), 3, LoraSpec(4, 8.0, ("auto",)), 4, 16)
    lm = step_flops(source, 3, LoraSpec(4, 8.0, ("auto",)), 4, 16)
    assert lm > cls > 0  # the LM head over the vocabulary costs more than a 3-class head


def test_causal_lm_on_an_encoder_and_bad_targets_are_refused(zoo):
    with pytest.raises(ModelSourceError, match=r"needs a decoder-only model.*'bert' encoder"):
        build_model(
            ModelSource(path=str(zoo["bert"]), task="causal-lm"), 1, LoraSpec(2, 4.0, ("auto",))
        )
    with pytest.raises(LoraTargetError, match=r"'bias' match no module.*can wrap: .*c_attn"):
        build_model(ModelSource(path=str(zoo["gpt2"])), 3, LoraSpec(2, 4.0, ("bias",)))
    # an explicit module name other than the default is accepted
    model = build_model(
        ModelSource(path=str(zoo["llama"])), 3, LoraSpec(2, 4.0, ("k_proj", "auto"))
    )
    assert model.lora_targets == ("k_proj", "q_proj", "v_proj")


def test_checkpoint_folders_are_checked(tmp_path, zoo):
    with pytest.raises(ModelSourceError, match="no such folder"):
        ModelSource(path=str(tmp_path / "nope")).directory()
    with pytest.raises(ModelSourceError, match=r"no config\.json"):
        ModelSource(path=str(tmp_path)).directory()
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((zoo["gpt2"] / "config.json").read_text())
    with pytest.raises(ModelSourceError, match="has no weights"):
        ModelSource(path=str(partial)).directory()
    (partial / "model.safetensors").write_bytes((zoo["gpt2"] / "model.safetensors").read_bytes())
    with pytest.raises(ModelSourceError, match="has no tokenizer"):
        ModelSource(path=str(partial)).directory()
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in zoo["gpt2"].iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(ModelSourceError, match=r"transformers cannot load this config"):
        build_model(ModelSource(path=str(broken)), 3, LoraSpec(2, 4.0, ("auto",)))


def test_bfloat16_model_trains_with_float32_adapters(zoo):
    source = ModelSource(path=str(zoo["llama"]), dtype="bfloat16")
    torch.manual_seed(0)
    model = build_model(source, 3, LoraSpec(4, 8.0, ("auto",)))
    frozen = [p.dtype for n, p in model.named_parameters() if not p.requires_grad]
    assert set(frozen) == {torch.bfloat16}
    trainer = Trainer(model, tiny_data(source))
    res = trainer.train(trainer.initial_state(), np.arange(8), TrainSettings(2, 4, 1e-2))
    assert np.isfinite(res.loss)
    assert {t.dtype for t in res.state.values()} == {torch.float32}
