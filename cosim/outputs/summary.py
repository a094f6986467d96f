"""A run's summary metrics (what compare, sweeps and studies report), from its round and client
rows and its delivered uploads; accuracy metrics of a learning-free run are NaN, never 0."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cosim.outputs.tables import number, read_rows

RUN_METRICS = (
    "final_accuracy",  # held-out accuracy after the last round
    "best_accuracy",  # the highest held-out accuracy over the rounds
    "plateau_accuracy",  # mean held-out accuracy of the evaluations in the last quarter
    "time_to_target_s",  # simulated time of the first round end at or above the target
    "mbit_up",  # bits sent up by every client, partial uploads of late ones included [Mbit]
    "miss_rate",  # share of scheduled clients not aggregated (late for any reason, rejected)
    "train_miss_rate",  # share of scheduled clients whose training missed the deadline
    "upload_miss_rate",  # share of started uploads that missed the deadline (stopped: not missed)
    "upload_gap_s",  # mean realised − predicted time of delivered uploads with a prediction [s]
    "energy_per_client_j",  # mean energy a scheduled client spends in a round [J]
    "sim_time_s",  # simulated time at the end of the last round [s]
    "handovers_per_job",  # mean handovers of a scheduled client (cells.layout = hex; else NaN)
)
# clients.csv `miss` of clients that never began an upload
NOT_STARTED = ("download", "train", "rejected")
STOPPED = "stopped"  # first-k stopped it: it began an upload when its upload_s > 0


def cell(value: Any) -> Any:
    """A table cell: a value not defined (NaN: accuracy of a learning-free run, a target never
    reached) is written empty, never as 0 or "nan"."""
    return "" if isinstance(value, float) and math.isnan(value) else value


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def plateau(acc: Sequence[float]) -> float:
    """Mean of the evaluated accuracies ``acc`` [rounds] (NaN: not evaluated) in the last
    quarter of the rounds (rounded up); the last evaluation when none falls there; NaN
    without any. Less noisy than one evaluation, and it shows a decay that a best hides."""
    finite = [a for a in acc if not math.isnan(a)]
    late = [a for a in acc[len(acc) - math.ceil(len(acc) / 4) :] if not math.isnan(a)]
    return _mean(late) if late else finite[-1] if finite else math.nan


def summarise_run(
    rounds: Sequence[dict[str, Any]],
    clients: Sequence[dict[str, Any]],
    upload_gaps_s: Sequence[float] | None = None,
    target_accuracy: float | None = None,
) -> dict[str, float]:
    """RUN_METRICS of a run from its rounds and clients rows (as read back, or in memory),
    the realised − predicted times of its delivered uploads (None: not known, NaN) and the
    accuracy target of ``time_to_target_s`` (None: NaN)."""
    acc = [number(r["accuracy"]) for r in rounds]
    t_end = [number(r["t_end"]) for r in rounds]
    finite = [a for a in acc if not math.isnan(a)]
    scheduled = sum(int(r["scheduled"]) for r in rounds)
    on_time = sum(int(r["on_time"]) for r in rounds)
    misses = [str(c["miss"]) for c in clients]
    started = [
        str(c["miss"])
        for c in clients
        if c["miss"] not in NOT_STARTED
        and not (c["miss"] == STOPPED and number(c["upload_s"]) == 0.0)
    ]
    reached = math.nan
    if target_accuracy is not None:
        reached = next(
            (t for t, a in zip(t_end, acc, strict=True) if a >= target_accuracy), math.nan
        )
    return dict(
        final_accuracy=acc[-1] if acc else math.nan,
        best_accuracy=max(finite) if finite else math.nan,
        plateau_accuracy=plateau(acc),
        time_to_target_s=reached,
        mbit_up=sum(number(r["bits_up"]) for r in rounds) / 1e6,
        miss_rate=1.0 - on_time / scheduled if scheduled else math.nan,
        train_miss_rate=misses.count("train") / scheduled if scheduled else math.nan,
        upload_miss_rate=started.count("upload") / len(started) if started else math.nan,
        upload_gap_s=_mean(list(upload_gaps_s)) if upload_gaps_s is not None else math.nan,
        energy_per_client_j=_mean([number(c["energy_j"]) for c in clients]),
        sim_time_s=t_end[-1] if t_end else math.nan,
        handovers_per_job=(
            _mean([number(c["handovers"]) for c in clients])
            if clients and clients[0].get("handovers") not in (None, "")
            else math.nan
        ),
    )


def upload_gaps(events_path: Path) -> list[float]:
    """Realised − predicted seconds of every delivered upload with a prediction (upload_end
    events; a client TSFA left out at 0 Hz and freed band rescued has none: its predicted
    time was infinite, written as null)."""
    gaps = []
    with events_path.open(encoding="utf-8") as f:
        for line in f:
            if '"upload_end"' in line:
                e = json.loads(line)
                if e["kind"] == "upload_end" and e.get("predicted_s") is not None:
                    gaps.append(float(e["realised_s"]) - float(e["predicted_s"]))
    return gaps


def summarise_folder(folder: Path, target_accuracy: float | None = None) -> dict[str, float]:
    """RUN_METRICS of the run in ``folder`` (rounds.csv, clients.csv, events.jsonl)."""
    events = folder / "events.jsonl"
    return summarise_run(
        read_rows(folder / "rounds.csv"),
        read_rows(folder / "clients.csv"),
        upload_gaps(events) if events.is_file() else None,
        target_accuracy,
    )
