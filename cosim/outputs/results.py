"""A run's outcome in Python: its tables as rows or pandas DataFrames, its events, its summary;
from a run just made (``RunResult``) or from a run folder on disk (``read_run``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosim.outputs.summary import summarise_run, upload_gaps
from cosim.outputs.tables import number, read_rows
from cosim.scenario import load_scenario
from cosim.scenario.registry import any_name
from cosim.scenario.schema import Scenario

TABLES = ("rounds", "clients")


@dataclass
class HostTime:
    """Host wall-clock seconds spent in training and evaluation (reported, never simulated)."""

    train_s: float = 0.0
    eval_s: float = 0.0
    trained_updates: int = 0


@dataclass
class RunTables:
    """The rounds and clients tables of a run, one dict per row, as the CSVs hold them
    (an empty string where a value is not defined, e.g. accuracy in a learning-free run)."""

    out_dir: Path | None
    scenario: Scenario
    rounds: list[dict[str, Any]]
    clients: list[dict[str, Any]]

    @property
    def final_accuracy(self) -> float:
        """Accuracy after the last round (NaN in a learning-free run)."""
        return number(self.rounds[-1]["accuracy"])

    @property
    def on_time_share(self) -> float:
        """On-time uploads / scheduled clients over all rounds."""
        sched = sum(int(r["scheduled"]) for r in self.rounds)
        return sum(int(r["on_time"]) for r in self.rounds) / sched if sched else 0.0

    def summary(self, target_accuracy: float | None = None) -> dict[str, float]:
        """The run summary (RUN_METRICS, as compare, sweeps and studies report it); the upload
        gap needs the run folder's events (NaN for a run that wrote none)."""
        events = self.out_dir / "events.jsonl" if self.out_dir is not None else None
        gaps = upload_gaps(events) if events is not None and events.is_file() else None
        return summarise_run(self.rounds, self.clients, gaps, target_accuracy)

    def frame(self, table: str = "rounds"):
        """Table ``rounds`` or ``clients`` as a pandas DataFrame (undefined values as NaN);
        needs pandas (``pip install 'wfl-cosim[analysis]'``)."""
        if table not in TABLES:
            raise ValueError(f"table must be one of {', '.join(TABLES)}; got {table!r}")
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "RunTables.frame needs pandas: pip install -c constraints.txt "
                "-e '.[analysis]' (the rows themselves are in .rounds / .clients)"
            ) from None
        rows = getattr(self, table)
        columns = list(rows[0]) if rows else []
        return pd.DataFrame({c: _column([r[c] for r in rows]) for c in columns}, columns=columns)

    def events(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """The events of events.jsonl in order (only those of ``kind``, when given); a run
        without a folder has none on disk: observe them with ``run(..., observers=[...])``."""
        if self.out_dir is None:
            raise ValueError("this run wrote no folder; pass observers= to run() to see events")
        with (self.out_dir / "events.jsonl").open(encoding="utf-8") as f:
            for line in f:
                event = json.loads(line)
                if kind is None or event["kind"] == kind:
                    yield event


@dataclass
class RunResult(RunTables):
    """What ``run`` produced: the tables in memory, the event count and host timing."""

    event_count: int
    host: HostTime
    build_s: float
    wall_s: float


def _column(values: list[Any]) -> list[Any]:
    """Undefined cells as NaN in a numeric column, None in another."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v != "")
    missing = float("nan") if numeric else None
    return [missing if v == "" else v for v in values]


def typed(cell: str) -> Any:
    """A CSV cell as the engine wrote it: int, float, bool, or the text (empty stays "")."""
    if cell in ("True", "False"):
        return cell == "True"
    for cast in (int, float):
        try:
            return cast(cell)
        except ValueError:
            pass
    return cell


def read_run(run_dir: str | Path) -> RunTables:
    """A run folder's resolved scenario and tables, read back with the types the run wrote
    (custom component names need not be registered: nothing is built from them here)."""
    out = Path(run_dir)
    missing = [f for f in ("scenario.toml", "rounds.csv", "clients.csv") if not (out / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{out}: not a complete run folder (missing {', '.join(missing)})")
    tables = {
        t: [{k: typed(v) for k, v in row.items()} for row in read_rows(out / f"{t}.csv")]
        for t in TABLES
    }
    with any_name():
        scenario = load_scenario(out / "scenario.toml")
    return RunTables(out, scenario, **tables)
