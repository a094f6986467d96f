"""A run folder: the checks before it is used, and the lock held while it is written."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

OUTPUT_FILES = (
    "scenario.toml",
    "events.jsonl",
    "rounds.csv",
    "clients.csv",
    "channel.npz",
    "timing.json",
)
LOCK = ".lock"


class RunDirError(ValueError):
    """The run folder cannot be used (exists and not empty without overwrite, or not a folder)."""


@contextlib.contextmanager
def writing(out: Path | None) -> Iterator[None]:
    """Hold the run folder's lock while writing it: a second run, resume or sweep point on
    the same folder (say, a killed sweep's worker still finishing) is refused, not mixed in."""
    if out is None:
        yield
        return
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a folder")
    created = not out.exists()
    lock = out / LOCK
    try:  # the writability check, before anything is built
        out.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise RunDirError(f"{out}: cannot write the run folder here ({exc.strerror})") from None
    ok = False
    with handle as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"{out}: another process is writing this run folder (a run, resume or sweep "
                "point still going); wait for it to end or stop it"
            ) from None
        try:
            yield
            ok = True
        finally:
            lock.unlink(missing_ok=True)
            if created and not ok and not any(out.iterdir()):
                out.rmdir()  # a run that failed before writing anything leaves no folder


def check_run_dir(path: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite``; refuse a path that is a file."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(p.name != LOCK for p in path.iterdir()) and not overwrite:
        raise RunDirError(
            f"{path}: run folder exists and is not empty; pass --overwrite to replace its "
            "outputs, or choose another --out"
        )
