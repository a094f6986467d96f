"""The run tables (rounds.csv, clients.csv): their rows as types, written row by row, read
back, summarised."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cosim.outputs.events import plain, synced_offset


@dataclass
class RoundRow:
    """One row of rounds.csv (docs/OUTPUTS.md); the fields are the columns, in order."""

    mode: str
    round: int
    t_start: float
    t_end: float
    scheduled: int
    on_time: int
    late: int
    bits_up: float
    accuracy: float
    loss: float
    rejected: int
    reallocations: int
    sep_agg_error: float
    sparsification_error: float
    orth_defect_a: float
    orth_defect_b: float
    perplexity: float | None = None  # exp(loss): a column of causal-lm runs only
    staleness_mean: float | None = None  # a column of fedasync/fedbuff runs only


@dataclass
class ClientRow:
    """One row of clients.csv: a scheduled client in a round; the fields are the columns."""

    mode: str
    round: int
    client: int
    x_m: float
    y_m: float
    z_m: float
    distance_m: float
    snr_db_mean: float
    bandwidth_hz: float
    budget: float
    download_s: float | None  # a column of downlink.model = "channel" runs only
    train_s: float
    upload_s: float
    bits: float
    payload_bits: int
    on_time: bool
    miss: str
    train_loss: float | None
    energy_j: float
    version: int | None = None  # fedasync/fedbuff: the global version it started from
    staleness: int | None = None  # fedasync/fedbuff: versions made meanwhile (delivered only)
    cell: int | None = None  # cells.layout = hex: the cell serving it at its job's end
    handovers: int | None = None  # cells.layout = hex: its handovers during the job


ROUND_COLUMNS = tuple(
    f.name for f in fields(RoundRow) if f.name not in ("perplexity", "staleness_mean")
)
CLIENT_COLUMNS = tuple(
    f.name
    for f in fields(ClientRow)
    if f.name not in ("download_s", "version", "staleness", "cell", "handovers")
)


def round_columns(task: str, overlapping: bool = False) -> tuple[str, ...]:
    """rounds.csv's columns for model.task ``task``: causal-lm adds perplexity after loss;
    ``overlapping`` rounds (fedasync/fedbuff: a row per global version) add staleness_mean."""
    cols = ROUND_COLUMNS
    if task == "causal-lm":
        i = cols.index("loss") + 1
        cols = (*cols[:i], "perplexity", *cols[i:])
    return (*cols, "staleness_mean") if overlapping else cols


def client_columns(
    downlink: str, overlapping: bool = False, cells: bool = False
) -> tuple[str, ...]:
    """clients.csv's columns for downlink.model ``downlink``: "channel" adds download_s
    before train_s; ``overlapping`` rounds (fedasync/fedbuff) add version and staleness;
    several ``cells`` (cells.layout = hex) add cell and handovers."""
    cols = CLIENT_COLUMNS
    if downlink == "channel":
        i = cols.index("train_s")
        cols = (*cols[:i], "download_s", *cols[i:])
    if overlapping:
        cols = (*cols, "version", "staleness")
    return (*cols, "cell", "handovers") if cells else cols


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run table (rounds.csv, clients.csv) as written."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def number(x: Any) -> float:
    """A table cell as a float; empty (not defined, e.g. accuracy of a learning-free run) is
    NaN."""
    return float(x) if x not in ("", None, "nan", "None") else float("nan")


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
        """Bytes written so far, synced (see ``synced_offset``)."""
        return synced_offset(self._file)

    def append(self, row: RoundRow | ClientRow | dict[str, Any]) -> None:
        """Add one row (a row type, or a dict whose keys are exactly the columns)."""
        if not isinstance(row, dict):  # a row type: its optional columns only where in use
            row = {k: v for k, v in vars(row).items() if k in self.columns or v is not None}
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
