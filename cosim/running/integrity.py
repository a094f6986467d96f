"""What a checkpoint vouches for, and the checks resume makes before it continues: each output
file's length and the SHA-256 of that prefix, the hashes of the resolved scenario and of the
files the run reads, and the checkpoint's own checksum."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from fl.data_files import data_digest

CHUNK = 1 << 20


class IntegrityError(ValueError):
    """A run folder or checkpoint that does not match what was recorded; names the file."""


def regular_file(path: Path) -> None:
    """Refuse a path that is missing, a symbolic link, or not a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing") from None
    if stat.S_ISLNK(mode):
        raise IntegrityError(f"{path}: is a symbolic link; a run folder holds its own files")
    if not stat.S_ISREG(mode):
        raise IntegrityError(f"{path}: not a regular file")


def digest(path: Path, length: int | None = None) -> str:
    """SHA-256 (hex) of ``path``'s first ``length`` bytes (all of it when None)."""
    h, left = hashlib.sha256(), length
    with path.open("rb") as f:
        while left is None or left > 0:
            block = f.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h.hexdigest()


def prefix(path: Path, length: int) -> dict[str, Any]:
    """The record of an output file written up to ``length`` bytes."""
    return {"length": int(length), "sha256": digest(path, length)}


def check_prefix(path: Path, record: dict[str, Any]) -> None:
    """``path`` is a regular file at least as long as recorded, with the recorded prefix."""
    regular_file(path)
    size = path.stat().st_size
    if size < record["length"]:
        raise IntegrityError(
            f"{path}: {size} bytes, shorter than the {record['length']} the checkpoint "
            "recorded; the folder was changed after the run stopped: it cannot be resumed"
        )
    if digest(path, record["length"]) != record["sha256"]:
        raise IntegrityError(
            f"{path}: its first {record['length']} bytes differ from what the checkpoint "
            "recorded; the folder was changed after the run stopped: it cannot be resumed"
        )


def file_hash(path: Path) -> str:
    """SHA-256 of a file, of a saved dataset folder's files, or "missing"."""
    if path.is_dir():  # a saved dataset folder: its files' names and contents
        return data_digest(path)
    return digest(path) if path.is_file() else "missing"


def inputs(run_dir: Path, files: dict[str, str]) -> dict[str, dict[str, str]]:
    """What a run depends on, each with its path and hash: the folder's scenario.toml (path
    relative to the folder, so a moved folder still resumes) and the files it reads
    (``files``: field or plugin -> absolute path)."""
    out = {"scenario.toml": {"path": "scenario.toml"}}
    out.update({name: {"path": str(path)} for name, path in files.items()})
    for rec in out.values():
        rec["sha256"] = file_hash(run_dir / rec["path"])
    return out


def check_inputs(recorded: dict[str, dict[str, str]], run_dir: Path) -> None:
    """Resume continues the run that was started: every recorded input, read again where it
    was, must hash as it did."""
    changed = [
        name for name, rec in recorded.items() if file_hash(run_dir / rec["path"]) != rec["sha256"]
    ]
    if changed:
        raise IntegrityError(
            f"{run_dir}: changed since the checkpoint: {', '.join(changed)}; resume continues "
            "the run that was started (restore them, or start a new run)"
        )
