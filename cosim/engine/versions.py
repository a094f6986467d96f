"""The server of fedasync/fedbuff: arriving updates weighed by their staleness, mixed into the
global model at once (FedAsync) or buffered and applied buffer_size at a time (FedBuff); each
new global version's `aggregate` event, evaluation and rounds.csv row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cosim.engine import contract
from cosim.engine.client import MISS_REJECTED, MISS_STOPPED, ClientOutcome
from cosim.engine.finish import NAN, Finishing, evaluate, perplexity, surrogate_terms
from cosim.outputs.events import EventLog, Kind
from cosim.outputs.results import HostTime
from cosim.outputs.tables import RoundRow
from cosim.world.world import World
from fl import State
from fl.asynchronous import buffered_step, mix, staleness_weight


@dataclass
class Arrival:
    """An update the server took: its job, client, the version it started from, its staleness,
    its outcome and (trained runs) the model it started from."""

    job: int
    client: int
    version: int
    staleness: int
    outcome: ClientOutcome
    start: State | None


@dataclass
class Interval:
    """What happened since the last global version (one rounds.csv row's counts)."""

    t_start: float = 0.0
    ended: int = 0  # jobs that arrived or missed (not those the run's end stopped)
    missed: int = 0
    rejected: int = 0
    bits: float = 0.0
    reallocations: int = 0  # the band's count when the interval began
    arrivals: list[Arrival] = field(default_factory=list)


class VersionServer:
    """Holds the global model and its version; turns arrivals into versions."""

    def __init__(
        self, world: World, log: EventLog, host: HostTime, finishing: Finishing, state: State
    ) -> None:
        self.w, self.s, self.log, self.host = world, world.scenario, log, host
        self.finishing = finishing
        self.state = state
        self.version = 0
        self.evaluated = 0  # the last version evaluated
        self.interval = Interval()

    def staleness(self, version: int) -> int:
        """Versions made since ``version``."""
        return self.version - version

    def weight(self, tau: int) -> float:
        """s(τ) of the scenario's server.staleness."""
        sv = self.s.server
        return staleness_weight(tau, sv.staleness, sv.staleness_a, sv.staleness_b)

    def too_stale(self, tau: int) -> bool:
        """Whether server.max_staleness drops an update this stale."""
        limit = self.s.server.max_staleness
        return limit >= 0 and tau > limit

    def ended(self, out: ClientOutcome) -> None:
        """Count a job's end in the interval (its bits, a miss or a rejection); a job the
        run's end stopped is in clients.csv only."""
        iv = self.interval
        if out.miss == MISS_STOPPED:
            return
        iv.ended += 1
        iv.bits += out.bits
        if not out.on_time:
            iv.missed += 1
            iv.rejected += out.miss == MISS_REJECTED

    def take(self, a: Arrival, now: float, reallocations: int) -> RoundRow | None:
        """Take arrival ``a``: a new version now (fedasync, or fedbuff's full buffer) and its
        row, or None (buffered)."""
        self.interval.arrivals.append(a)
        size = 1 if self.s.server.protocol == "fedasync" else self.s.buffer_size
        if len(self.interval.arrivals) < size:
            return None
        return self._version(now, reallocations)

    def _version(self, now: float, reallocations: int) -> RoundRow:
        """Apply the interval's arrivals: the next global version, its events and row."""
        w, iv = self.w, self.interval
        taken = iv.arrivals
        self.version += 1
        v = self.version
        shares = self._shares(taken)
        acc = loss = NAN
        if w.learning_free:
            terms = surrogate_terms([a.outcome for a in taken])
        else:
            terms = self.finishing.error_terms(
                [a.outcome for a in taken],
                [a.outcome.payload for a in taken],
                np.asarray(shares),
                [a.start for a in taken],
            )
            self.state = self._apply(taken, shares)
        self.log.emit(
            now,
            Kind.AGGREGATE,
            v,
            clients=[a.client for a in taken],
            jobs=[a.job for a in taken],
            versions=[a.version for a in taken],
            staleness=[a.staleness for a in taken],
            weights=shares,
            step=self.s.server.mixing_rate,
            learning_free=w.learning_free,
            **terms,
        )
        if not w.learning_free and (v % self.s.server.eval_every == 0 or v == self.s.run.rounds):
            acc, loss = evaluate(w, self.host, self.log, self.state, now, v)
            self.evaluated = v
        row = RoundRow(
            mode=self.s.fl.mode,
            round=v,
            t_start=iv.t_start,
            t_end=now,
            scheduled=iv.ended,
            on_time=len(taken),
            late=iv.missed,
            bits_up=iv.bits,
            accuracy=acc,
            loss=loss,
            rejected=iv.rejected,
            reallocations=reallocations - iv.reallocations,
            **terms,
            perplexity=perplexity(self.s, loss),
            staleness_mean=float(np.mean([a.staleness for a in taken])),
        )
        self.interval = Interval(t_start=now, reallocations=reallocations)
        return row

    def _shares(self, taken: list[Arrival]) -> list[float]:
        """Each update's weight: FedAsync's mixing × s(τ) for its one update; FedBuff's data
        share within the buffer × s(τ) (the server step applies on top)."""
        if self.s.server.protocol == "fedasync":
            a = taken[0]
            return [self.s.server.mixing_rate * self.weight(a.staleness)]
        sizes = self.finishing.sizes[[a.client for a in taken]]
        data = sizes / sizes.sum()
        return [float(d) * self.weight(a.staleness) for d, a in zip(data, taken, strict=True)]

    def _apply(self, taken: list[Arrival], shares: list[float]) -> State:
        """The new global model from the updates (each reconstructed against the model its
        client started from, as the strategy aggregates one update)."""
        strategy = self.w.strategy
        clients = [
            contract.state(
                strategy, strategy.aggregate(a.start, [a.outcome.payload], [1.0]), a.start
            )
            for a in taken
        ]
        if self.s.server.protocol == "fedasync":
            return mix(self.state, clients[0], shares[0])
        starts = [a.start for a in taken]
        return buffered_step(self.state, starts, clients, shares, self.s.server.mixing_rate)
