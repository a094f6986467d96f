"""Mobility from a trace file: positions read from a CSV (t, client, x, y[, z]), linear in
between, held after the end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cosim.mobility.paths import Paths


class TraceFile(Paths):
    """Positions read from a CSV (t, client, x, y[, z]); linear in between, held after the end."""

    name = "trace"

    def __init__(self, path: Path, num_clients: int, height_m: float) -> None:
        samples = read_trace(path, num_clients, height_m)
        k = num_clients
        lens = [len(s) for s in samples]
        cap = max(lens) + 1
        super().__init__(np.array([s[0, 1:] for s in samples]))
        self.t0 = np.full((k, cap), np.inf)
        self.p0 = np.zeros((k, cap, 3))
        self.v = np.zeros((k, cap, 3))
        self.odo0 = np.zeros((k, cap))
        for c, s in enumerate(samples):
            t, p = s[:, 0], s[:, 1:]
            dt = np.diff(t)
            n = len(t)
            self.t0[c, 0] = 0.0
            self.p0[c, 0] = p[0]
            self.t0[c, 1 : n + 1] = t
            self.p0[c, 1 : n + 1] = p
            self.v[c, 1:n] = np.diff(p, axis=0) / dt[:, None]
            step = np.linalg.norm(np.diff(p, axis=0), axis=1)
            self.odo0[c, 1 : n + 1] = np.concatenate([[0.0], np.cumsum(step)])
            self.n[c] = n + 1
        self.end[:] = np.inf


class TraceFileError(ValueError):
    """A mobility trace that cannot be used; the message names the file and the row."""


def read_trace(path: Path, num_clients: int, height_m: float) -> list[np.ndarray]:
    """Per client an array [n, 4] of (t, x, y, z) sorted by t; every client must appear."""
    path = Path(path)
    if not path.is_file():
        raise TraceFileError(f"{path}: mobility trace file not found")
    rows: dict[int, list[tuple[float, float, float, float]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if not {"t", "client", "x", "y"} <= cols:
            raise TraceFileError(
                f"{path}: header must have columns t, client, x, y[, z]; got {sorted(cols)}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                t, c = float(row["t"]), int(row["client"])
                x, y = float(row["x"]), float(row["y"])
                z = float(row["z"]) if row.get("z") not in (None, "") else height_m
            except (TypeError, ValueError) as exc:
                raise TraceFileError(f"{path}: row {line}: {exc}") from None
            if not (np.isfinite([t, x, y, z]).all() and t >= 0):
                raise TraceFileError(f"{path}: row {line}: t must be >= 0 and values finite")
            if not 0 <= c < num_clients:
                raise TraceFileError(
                    f"{path}: row {line}: client {c} outside 0..{num_clients - 1} "
                    f"(clients.count = {num_clients})"
                )
            rows.setdefault(c, []).append((t, x, y, z))
    missing = sorted(set(range(num_clients)) - set(rows))
    if missing:
        raise TraceFileError(f"{path}: no rows for clients {missing[:10]}")
    out = []
    for c in range(num_clients):
        arr = np.array(sorted(rows[c]))
        if np.any(np.diff(arr[:, 0]) <= 0):
            raise TraceFileError(f"{path}: client {c} has two rows with the same t")
        out.append(arr)
    return out
