"""Your own data: a CSV, JSON Lines or Parquet file, or a folder written by
``datasets.Dataset.save_to_disk``, read into a TextDataset by named fields (classes found
from the data)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fl.data import DataFileError, TextDataset, load_dataset

SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class DataSource:
    """Which file and fields: ``text`` (or ``prompt`` + ``response`` for instruction data)
    and ``label`` (classes; for causal-lm, ``group`` groups examples for non-IID splits)."""

    path: str
    text_field: str = "text"
    label_field: str = "label"
    prompt_field: str = ""
    response_field: str = ""
    group_field: str = ""


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every record of the file or saved-dataset folder ``path``, as dicts, in file order."""
    if path.is_dir():
        return _saved_dataset(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as f:
                return list(csv.DictReader(f))
        if suffix in (".jsonl", ".json"):
            return _json_lines(path)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, csv.Error, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"{path}: cannot be read ({str(exc).splitlines()[0][:200]})") from None
    raise DataFileError(
        f"{path}: unknown data format {suffix or '(no suffix)'!r}; use one of "
        f"{', '.join(SUFFIXES)} or a folder written by datasets' save_to_disk"
    )


def _json_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: line {number} is not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataFileError(f"{path}: line {number} is not a JSON object")
            rows.append(row)
    return rows


def _saved_dataset(path: Path) -> list[dict[str, Any]]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataFileError(
            f"{path}: not a folder written by datasets' save_to_disk ({str(exc)[:200]})"
        ) from None
    if isinstance(ds, DatasetDict):
        if "train" not in ds:
            raise DataFileError(f"{path}: a DatasetDict without a 'train' split ({list(ds)})")
        ds = ds["train"]
    return ds.to_list()


def load_examples(name: str, own: DataSource | None, task: str) -> TextDataset:
    """What a run learns from: its own data file ``own`` read for ``task``, else the packaged
    dataset ``name`` (data.path, else data.name) — for the run and for its Ray workers."""
    return load_dataset(name) if own is None else load_data_file(own, task)


def load_data_file(source: DataSource, task: str) -> TextDataset:
    """The examples of ``source`` as a TextDataset: to classify, texts and their classes (two
    at least); for causal-lm, texts (or prompt/response pairs) with their groups (one group
    for all when no group field is named). The last file read is kept while its size and
    modification time stay the same: a run checks it up front and builds from it, one read."""
    path = Path(source.path)
    if not path.exists():
        raise DataFileError(f"{path}: data file not found")
    return _read_examples(source, task, _stamp(path))


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime in ns) of the file, or of each file of a folder: what a changed file
    changes."""
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


@functools.lru_cache(maxsize=1)
def _read_examples(source: DataSource, task: str, stamp: tuple) -> TextDataset:
    del stamp  # part of the cache key only
    path = Path(source.path)
    rows = read_rows(path)
    if not rows:
        raise DataFileError(f"{path}: holds no examples")
    pairs = bool(source.prompt_field or source.response_field)
    if pairs and not (source.prompt_field and source.response_field):
        raise DataFileError(
            f"{path}: data.prompt_field and data.response_field go together (got "
            f"{source.prompt_field!r} and {source.response_field!r})"
        )
    if pairs and task != "causal-lm":
        raise DataFileError(f"{path}: prompt/response pairs are for model.task = 'causal-lm'")
    text_fields = (source.prompt_field, source.response_field) if pairs else (source.text_field,)
    key = source.label_field if task == "classify" else source.group_field
    texts = [_texts(path, rows, f) for f in text_fields]
    if key:
        labels, names = _classes(
            path, rows, key, "data.label_field" if task == "classify" else "data.group_field"
        )
    else:
        labels, names = np.zeros(len(rows), dtype=np.int64), ("all",)
    if task == "classify" and len(names) < 2:
        raise DataFileError(
            f"{path}: data.label_field = {key!r} has a single class ({names[0]!r}); "
            "classifying needs two at least"
        )
    return TextDataset(texts[0], labels, names, texts[1] if pairs else None)


def _texts(path: Path, rows: list[dict[str, Any]], field: str) -> list[str]:
    _check_field(path, rows, field)
    out = []
    for number, row in enumerate(rows, 1):
        value = row.get(field)
        if not isinstance(value, str) or not value.strip():
            raise DataFileError(
                f"{path}: example {number} has no text in field {field!r} (got {str(value)[:40]!r})"
            )
        out.append(value)
    return out


def _classes(path: Path, rows, field: str, what: str) -> tuple[np.ndarray, tuple[str, ...]]:
    _check_field(path, rows, field, what)
    values = []
    for number, row in enumerate(rows, 1):
        v = row.get(field)
        if (
            v is None
            or (isinstance(v, str) and not v.strip())
            or isinstance(v, float | dict | list)
        ):
            raise DataFileError(
                f"{path}: example {number} has no usable {what.split('.')[-1]} in field "
                f"{field!r} (got {str(v)[:40]!r}; strings or integers are accepted)"
            )
        values.append(v)
    kinds = {type(v) for v in values}
    keys = sorted(set(values)) if len(kinds) == 1 else sorted({str(v) for v in values})
    values = values if len(kinds) == 1 else [str(v) for v in values]
    index = {k: i for i, k in enumerate(keys)}
    return np.asarray([index[v] for v in values], dtype=np.int64), tuple(str(k) for k in keys)


def _check_field(path: Path, rows, field: str, what: str = "") -> None:
    if field not in rows[0]:
        fields = ", ".join(repr(k) for k in list(rows[0])[:20])
        name = f"{what} = {field!r}" if what else f"field {field!r}"
        raise DataFileError(f"{path}: has no {name}; its fields: {fields}")


def data_digest(path: str | Path) -> str:
    """SHA-256 of a data file, or of a folder's files (relative names and contents, sorted)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
