"""Mobility from a trace file: positions read from a CSV (t, client, x, y[, z]), linear in
between, held after the end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cosim.mobility.paths import Paths
from cosim.scenario.files import InputFileError, check_input_file, excerpt


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


TRACE_MAX_BYTES = 256 * 2**20
# bounds that keep every difference, speed and step of a path finite and representable
MAX_COORD_M, MAX_T_S, MIN_STEP_S = 1e6, 1e9, 1e-6


def read_trace(path: Path, num_clients: int, height_m: float) -> list[np.ndarray]:
    """Per client an array [n, 4] of (t, x, y, z) sorted by t; every client must appear.
    A regular UTF-8 CSV file (a byte-order mark is fine) of at most 256 MiB; coordinates
    within ±1,000 km, times in [0, 1e9] s, a client's rows at least 1 µs apart."""
    try:
        path = check_input_file(path, "mobility trace file", TRACE_MAX_BYTES)
    except InputFileError as exc:
        raise TraceFileError(str(exc)) from None
    try:
        rows = _rows(path, num_clients, height_m)
    except UnicodeDecodeError as exc:
        raise TraceFileError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except csv.Error as exc:
        raise TraceFileError(f"{path}: not a readable CSV file ({excerpt(exc, 80)})") from None
    missing = sorted(set(range(num_clients)) - set(rows))
    if missing:
        raise TraceFileError(f"{path}: no rows for clients {missing[:10]}")
    out = []
    for c in range(num_clients):
        arr = np.array(sorted(rows[c]))
        if np.any(np.diff(arr[:, 0]) < MIN_STEP_S):
            raise TraceFileError(
                f"{path}: client {c} has two rows less than {MIN_STEP_S} s apart (or at the same t)"
            )
        out.append(arr)
    return out


def _rows(path: Path, num_clients: int, height_m: float) -> dict[int, list[tuple]]:
    rows: dict[int, list[tuple[float, float, float, float]]] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if not {"t", "client", "x", "y"} <= cols:
            shown = ", ".join(excerpt(c, 20) for c in sorted(cols)[:6])
            raise TraceFileError(
                f"{path}: header must have columns t, client, x, y[, z]; got {shown or 'none'}"
            )
        for line, row in enumerate(reader, start=2):
            sample, c = _values(path, line, row, height_m)
            if not 0 <= c < num_clients:
                raise TraceFileError(
                    f"{path}: row {line}: client {c} outside 0..{num_clients - 1} "
                    f"(clients.count = {num_clients})"
                )
            rows.setdefault(c, []).append(sample)
    return rows


def _values(
    path: Path, line: int, row: dict, height_m: float
) -> tuple[tuple[float, float, float, float], int]:
    """((t, x, y, z), client) of one row, checked; messages quote a cell only as an excerpt."""
    parsed: dict[str, float] = {}
    for column, parse in (("t", float), ("client", int), ("x", float), ("y", float), ("z", float)):
        cell = row.get(column)
        if column == "z" and cell in (None, ""):
            parsed["z"] = height_m
            continue
        try:
            parsed[column] = parse(cell)
        except (TypeError, ValueError):
            raise TraceFileError(
                f"{path}: row {line}: column {column} = {excerpt(cell)} is not a number"
            ) from None
    t, x, y, z = (parsed[k] for k in ("t", "x", "y", "z"))
    if not (np.isfinite([t, x, y, z]).all() and 0 <= t <= MAX_T_S):
        raise TraceFileError(f"{path}: row {line}: t must be in [0, {MAX_T_S:g}] s, all finite")
    if max(abs(x), abs(y), abs(z)) > MAX_COORD_M:
        raise TraceFileError(
            f"{path}: row {line}: coordinates must be within ±{MAX_COORD_M:g} m of the base station"
        )
    return (t, x, y, z), int(parsed["client"])
