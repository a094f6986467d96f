"""Run tables (rounds.csv, clients.csv) and the optional channel trace (channel.npz)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from cosim.outputs.events import plain

ROUND_COLUMNS = (
    "mode",
    "round",
    "t_start",
    "t_end",
    "scheduled",
    "on_time",
    "late",
    "bits_up",
    "accuracy",
    "loss",
    "rejected",
    "reallocations",
    "sep_agg_error",
    "sparsification_error",
    "orth_defect_a",
    "orth_defect_b",
)
CLIENT_COLUMNS = (
    "mode",
    "round",
    "client",
    "x_m",
    "y_m",
    "z_m",
    "distance_m",
    "snr_db_mean",
    "bandwidth_hz",
    "budget",
    "train_s",
    "upload_s",
    "bits",
    "payload_bits",
    "on_time",
    "miss",
    "train_loss",
    "energy_j",
)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run table (rounds.csv, clients.csv) as written."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def number(x: Any) -> float:
    """A table cell as a float; empty (not defined, e.g. accuracy of a learning-free run) is
    NaN."""
    return float(x) if x not in ("", None, "nan", "None") else float("nan")


def summarise_rounds(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """Final accuracy, Mbit sent up, share of scheduled clients that missed, and simulated
    time of a run, from its round rows (read back, or in memory)."""
    scheduled = sum(int(r["scheduled"]) for r in rounds)
    return dict(
        final_accuracy=number(rounds[-1]["accuracy"]),
        mbit_up=sum(number(r["bits_up"]) for r in rounds) / 1e6,
        miss_rate=1.0 - sum(int(r["on_time"]) for r in rounds) / scheduled,
        sim_time_s=number(rounds[-1]["t_end"]),
    )


class CsvTable:
    """A CSV file written row by row with a fixed header; rows are also kept in memory."""

    def __init__(
        self,
        path: Path | None,
        columns: tuple[str, ...],
        resume_at: tuple[int, list[dict[str, Any]]] | None = None,
    ) -> None:
        """A new table at ``path``, or with ``resume_at`` = (byte offset, rows so far) the
        existing file cut back to that offset and continued (a resumed run)."""
        self.columns = columns
        self.rows: list[dict[str, Any]] = list(resume_at[1]) if resume_at else []
        self._file = None
        if path is not None:
            if resume_at is not None:
                os.truncate(path, resume_at[0])
            self._file = path.open("a" if resume_at else "w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns) if self._file else None
        if self._writer and resume_at is None:
            self._writer.writeheader()

    def offset(self) -> int:
        """Bytes written so far (flushed), for a checkpoint."""
        if self._file is None:
            return 0
        self._file.flush()
        return self._file.tell()

    def append(self, row: dict[str, Any]) -> None:
        """Add one row (keys must be exactly the columns)."""
        if set(row) != set(self.columns):
            raise KeyError(f"row keys {sorted(set(row) ^ set(self.columns))} do not match")
        row = {k: ("" if v is None else v) for k, v in plain(row).items()}
        self.rows.append(row)
        if self._writer:
            self._writer.writerow(row)
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file:
            self._file.close()
            self._file = None


class ChannelRecorder:
    """Collects per-round trace chunks on the global step grid and saves them as channel.npz.

    Positions, speeds and distances are kept for every client; channel terms only for the
    clients scheduled in a round (NaN, or -1 for ``los``, where a channel was not computed).
    """

    def __init__(self, num_clients: int, dt: float) -> None:
        self.num_clients = num_clients
        self.dt = dt
        self._chunks: list[dict[str, np.ndarray]] = []

    def add(self, steps: np.ndarray, clients: np.ndarray, **arrays: np.ndarray) -> None:
        """One round's chunk: ``steps`` [n] global step indices; arrays [K or Ks, n(, 3)]."""
        self._chunks.append({"steps": steps, "clients": clients, **arrays})

    def save(self, path: Path, carrier_hz: float, bs_position: np.ndarray) -> None:
        """Assemble [K, N] arrays (later rounds overwrite shared boundary steps) and save."""
        n_total = max(int(c["steps"][-1]) + 1 for c in self._chunks) if self._chunks else 0
        k = self.num_clients
        per_client = ("positions", "speed", "distance_3d_m")
        scheduled = (
            "pathloss_db",
            "shadowing_db",
            "penetration_db",
            "fading_gain",
            "snr_db",
            "los",
        )
        out = {
            "positions": np.full((k, n_total, 3), np.nan),
            "los": np.full((k, n_total), -1, dtype=np.int8),
        }
        for name in per_client[1:] + scheduled[:-1]:
            out[name] = np.full((k, n_total), np.nan)
        for c in self._chunks:
            s, cl = c["steps"], c["clients"]
            for name in per_client:
                out[name][:, s] = c[name]
            for name in scheduled:
                out[name][np.ix_(cl, s)] = c[name]
        np.savez_compressed(
            path,
            t=np.arange(n_total) * self.dt,
            dt=np.float64(self.dt),
            carrier_hz=np.float64(carrier_hz),
            bs_position=np.asarray(bs_position, dtype=float),
            **out,
        )
