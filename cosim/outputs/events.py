"""The event log: one JSON object per event, streamed to events.jsonl and to observers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

Observer = Callable[[dict[str, Any]], None]


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, non-finite floats to None."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # most fields: as they are, at once
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is np.float64 or kind is np.float32:  # numpy scalars: as the checks below make them
        f = float(value)
        return f if math.isfinite(f) else None
    if kind is np.int64:
        return int(value)
    if kind is np.bool_:
        return bool(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return plain(value.item())
    if isinstance(value, np.ndarray) and value.dtype.kind in "iub":
        return value.tolist()  # ints and bools: as the loop below makes them, at once
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.isfinite(value).all():
        return value.tolist()  # finite floats: the same Python floats, at once
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def synced_offset(file: IO[str] | None) -> int:
    """Bytes written to ``file`` so far, flushed and synced to the disk: a checkpoint that
    records this offset never points past data a power loss could take (0 without a file)."""
    if file is None:
        return 0
    file.flush()
    os.fsync(file.fileno())
    return file.tell()


class Kind:
    """The event kinds, defined once: the engine writes them, outputs, plots and results read
    them by these names (docs/OUTPUTS.md says what each one carries)."""

    RUN_START = "run_start"
    STAGE1 = "stage1"
    EVAL = "eval"
    ROUND_START = "round_start"
    CSI = "csi"
    ALLOCATOR = "allocator"
    ALLOCATION = "allocation"
    BROADCAST = "broadcast"
    DOWNLOAD_START = "download_start"  # downlink.model = "channel" only
    DOWNLOAD_END = "download_end"
    TRAIN_START = "train_start"
    TRAIN_END = "train_end"
    UPDATE_REJECTED = "update_rejected"
    UPDATE_DROPPED = "update_dropped"  # fedasync/fedbuff: staler than server.max_staleness
    UPLOAD_START = "upload_start"
    UPLOAD_END = "upload_end"
    DEADLINE_MISS = "deadline_miss"
    STOPPED = "stopped"  # the round ended first (first-k's quorum, run.max_time_s)
    REALLOCATION = "reallocation"
    HANDOVER = "handover"  # several cells: an upload on air moves to another cell
    AGGREGATE = "aggregate"


class EventLog:
    """Writes events in the order they happen; observers see each one as it is logged."""

    def __init__(
        self,
        path: Path | None = None,
        observers: list[Observer] | None = None,
        resume_at: tuple[int, int] | None = None,
    ) -> None:
        """A new log at ``path``, or with ``resume_at`` = (byte offset, event count) the
        existing one cut back to that offset and continued (a resumed run)."""
        self._file: IO[str] | None = None
        self.count = 0
        if path is not None:
            if resume_at is not None:
                os.truncate(path, resume_at[0])
            self._file = path.open("a" if resume_at is not None else "w", encoding="utf-8")
        if resume_at is not None:
            self.count = resume_at[1]
        self.observers = list(observers or [])

    def offset(self) -> int:
        """Bytes written so far, synced (see ``synced_offset``)."""
        return synced_offset(self._file)

    def emit(
        self, t: float, kind: str, round_: int, client: int | None = None, **fields: Any
    ) -> None:
        """Record event ``kind`` at simulated time ``t``."""
        event: dict[str, Any] = {"t": float(t), "kind": kind, "round": int(round_)}
        if client is not None:
            event["client"] = int(client)
        event.update(plain(fields))
        if self._file is not None:
            self._file.write(json.dumps(event) + "\n")
        for obs in self.observers:
            obs(event)
        self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
