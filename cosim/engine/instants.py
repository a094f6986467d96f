"""Events processed at exact instants: a timeout's delay added to ``now`` can round the instant
off by one ulp, which a wake computed for an exact instant (a delivery, a restored wait) must
not."""

from __future__ import annotations

import heapq

import simpy
from simpy.events import NORMAL


def at(env: simpy.Environment, t: float) -> simpy.Event:
    """An event processed at exactly ``t`` (≥ now), after the events already queued for ``t``."""
    event = env.event()
    event._ok, event._value = True, None  # triggered; processed when the clock reaches t
    heapq.heappush(env._queue, (t, NORMAL, next(env._eid), event))
    return event


def queued(env: simpy.Environment) -> dict[int, tuple[float, int]]:
    """id(event) -> (instant, order) of every event waiting in the queue."""
    return {id(ev): (t, eid) for t, _, eid, ev in env._queue}
