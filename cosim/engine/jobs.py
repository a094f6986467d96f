"""What fedasync/fedbuff keep in flight: a job (one client's update on its way, on its batch's
plan), and a batch's rows seated on the shared band as a ClientProcess sees its round's
uplink."""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from cosim.engine.client import ClientOutcome
from cosim.engine.plan import RoundPlan, RoundWindow
from cosim.engine.shared_band import Member, SharedBand
from fl import State


@dataclass
class Job:
    """One client's update in flight: its id, the batch of starts it belongs to (its plan and
    row there), the version it downloaded and the model it started from (trained runs)."""

    id: int
    client: int
    version: int
    t0: float
    plan: RoundPlan
    row: int
    start: State | None
    out: ClientOutcome
    process: simpy.Process | None = None
    home: int = -1  # clients.per_cell: the cell it was drawn for


class _Held:
    """``Seats.bw``: indexed by row, read from the band when asked."""

    def __init__(self, seats: Seats) -> None:
        self.seats = seats

    def __getitem__(self, i: int) -> float:
        return self.seats.band.held_hz(self.seats.jobs[i])


class Seats:
    """A batch's rows on the shared band, as a ClientProcess sees its round's uplink."""

    def __init__(self, band: SharedBand, window: RoundWindow, jobs: list[int]) -> None:
        self.band, self.window, self.jobs = band, window, jobs

    @property
    def bw(self) -> _Held:
        """The band [Hz] row i's job holds now, as ``bw[i]`` (0 before its upload joins)."""
        return _Held(self)

    def drop(self, i: int, reason: str) -> None:
        """Row i will not upload: it holds no band, so nothing is freed."""

    def start(self, i: int, bits: float, predicted_s: float) -> simpy.Event:
        """Row i's upload joins the band now (the band is re-split)."""
        return self.band.join(self.member(i, float(bits)))

    def member(self, i: int, bits: float) -> Member:
        """Row i's upload of ``bits`` as a member of the band."""
        w = self.window
        return Member(
            job=self.jobs[i],
            client=int(w.clients[i]),
            round=w.round,
            gain_db=w.trace.gain_db[i],
            step0=int(w.grid.steps[0]),
            csi=w.csi,
            row=i,
            deadline=w.deadline,
            bits=bits,
        )

    def stop(self, i: int) -> tuple[float, float]:
        """Row i's job is stopped: (bits delivered, band freed)."""
        return self.band.leave(self.jobs[i])
