"""What a run shows while it goes: the progress bar (simulated time, on-time share, latest
accuracy) and one log line per round; and a sweep's or study's bar with a line per point."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from tqdm import tqdm

from cosim.outputs.tables import RoundRow, number

logger = logging.getLogger(__name__)


class Progress:
    """The bar and the per-round log line; starts from the rows a resumed run already has."""

    def __init__(self, rounds: int, done_rows: list[dict[str, Any]], show: bool) -> None:
        self.rounds = rounds
        self.bar = tqdm(
            total=rounds,
            initial=len(done_rows),
            file=sys.stderr,
            disable=not show,
            desc="rounds",
            unit="round",
            dynamic_ncols=True,
        )
        self.scheduled = sum(int(r["scheduled"]) for r in done_rows)
        self.on_time = sum(int(r["on_time"]) for r in done_rows)
        evaluated = [a for a in (number(r["accuracy"]) for r in done_rows) if not math.isnan(a)]
        self.latest = evaluated[-1] if evaluated else float("nan")  # the bar shows the latest

    def update(self, row: RoundRow) -> None:
        """One round ended."""
        self.scheduled += row.scheduled
        self.on_time += row.on_time
        if not math.isnan(row.accuracy):
            self.latest = row.accuracy
        self.bar.set_postfix(
            t=f"{row.t_end:.2f}s",
            on_time=f"{self.on_time / self.scheduled:.0%}",
            acc="learning-free" if row.mode == "surrogate" else f"{self.latest:.3f}",
        )
        self.bar.update(1)
        logger.info(
            "round %d/%d ended at %.3f s simulated: %d of %d on time, %.3f Mbit up, "
            "%d reallocations, accuracy %s",
            row.round,
            self.rounds,
            row.t_end,
            row.on_time,
            row.scheduled,
            row.bits_up / 1e6,
            row.reallocations,
            _accuracy(row),
        )

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


def _accuracy(row: RoundRow) -> str:
    if row.mode == "surrogate":
        return "n/a (learning-free)"
    return "not evaluated" if math.isnan(row.accuracy) else f"{row.accuracy:.3f}"


class PointProgress:
    """A sweep's or study's bar over its points (stderr), and one line per finished point
    (point, status, seconds, what is left; stdout, above the bar); silent when ``show`` is
    off. Call it with each row."""

    def __init__(self, total: int, show: bool) -> None:
        self.show = show
        self.bar = tqdm(total=total, desc="points", unit="point", file=sys.stderr, disable=not show)

    def __call__(self, row: dict[str, Any]) -> None:
        self.bar.update(1)
        if self.show:
            left = self.bar.total - self.bar.n
            extra = f"  {row['error']}" if row.get("error") else ""
            self.bar.write(
                f"{row['point']}  {row['status']}  {row['seconds']:.1f} s  {left} left{extra}"
            )

    def close(self) -> None:
        """Take the bar off the terminal."""
        self.bar.close()
