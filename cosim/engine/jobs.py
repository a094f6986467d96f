"""What fedasync/fedbuff keep in flight: a job (one client's update on its way, on its batch's
plan), and a batch's rows seated on the shared band as a ClientProcess sees its round's
uplink."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


class Seats:
    """A batch's rows on the shared band, as a ClientProcess sees its round's uplink."""

    def __init__(self, band: SharedBand, window: RoundWindow, jobs: list[int]) -> None:
        self.band, self.window, self.jobs = band, window, jobs

    @property
    def bw(self) -> np.ndarray:
        """The band [Hz] each row's job holds now (0 before its upload joins the band)."""
        return np.array([self.band.held_hz(j) for j in self.jobs])

    def drop(self, i: int, reason: str) -> None:
        """Row i will not upload: it holds no band, so nothing is freed."""

    def start(self, i: int, bits: float, predicted_s: float) -> simpy.Event:
        """Row i's upload joins the band now (the band is re-split)."""
        return self.band.join(self.member(i, float(bits), self.band.env.now))

    def member(self, i: int, bits: float, seg_t: float) -> Member:
        """Row i's upload of ``bits`` as a member of the band, its segment from ``seg_t``."""
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
            sent=0.0,
            seg_t=seg_t,
        )

    def stop(self, i: int) -> tuple[float, float]:
        """Row i's job is stopped: (bits delivered, band freed)."""
        return self.band.leave(self.jobs[i])
