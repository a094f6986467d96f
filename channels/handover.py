"""Association and 3GPP A3 handover over RSRP traces: which cell serves each client at each
instant, and when it hands over.

Event A3 (TS 38.331 §5.5.4.4, offsets of the cells and frequencies zero): a neighbour n enters
when Mn − Hys > Mp + Off, M the RSRP [dBm] of the neighbour and of the serving cell p, Hys
``hysteresis_db`` and Off ``a3_offset_db``; it leaves when that no longer holds. A neighbour
that stays entered for ``time_to_trigger_s`` triggers a handover to it at exactly its entry
instant + time-to-trigger (the strongest such neighbour if several trigger at once); the
client then cannot send for ``interrupt_s``. RSRPs are known at the instants of the trace (the
grid of channel.dt), each holding until the next (the last over one more step): a neighbour
has stayed entered if it was entered at every one of them from its entry to the trigger
instant; nothing triggers after the trace's end. Initial association: the strongest RSRP.
Defaults as ns-3's A3RsrpHandoverAlgorithm (hysteresis 3 dB, time-to-trigger 256 ms, no
offset). Optionally the RSRPs are first L3-filtered as a UE does (TS 38.331 §5.5.3.2:
F_n = (1 − a)·F_(n−1) + a·M_n in dBm, a = 1/2^(k/4) for filterCoefficient k at the 200 ms
sample rate the standard assumes, kept at the trace's step by a_dt = 1 − (1 − a)^(dt/0.2 s);
F_0 = M_0), so that a short excursion of a neighbour (a LoS flip) does not hand over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

L3_PERIOD_S = 0.2  # the sample period TS 38.331's filterCoefficient is defined at


@dataclass(frozen=True)
class A3:
    """Event A3's parameters: Off [dB], Hys [dB], time-to-trigger [s], interruption [s], and
    the L3 filterCoefficient k of the RSRPs it compares (0: unfiltered)."""

    a3_offset_db: float = 0.0
    hysteresis_db: float = 3.0
    time_to_trigger_s: float = 0.256
    interrupt_s: float = 0.050
    l3_filter_k: int = 0

    def __post_init__(self) -> None:
        if self.hysteresis_db < 0 or self.time_to_trigger_s < 0 or self.interrupt_s < 0:
            raise ValueError(
                "hysteresis_db, time_to_trigger_s and interrupt_s must be >= 0, got "
                f"{self.hysteresis_db}, {self.time_to_trigger_s}, {self.interrupt_s}"
            )
        if not 0 <= self.l3_filter_k <= 19:
            raise ValueError(f"l3_filter_k must be in 0..19, got {self.l3_filter_k}")


def l3_filter(rsrp_dbm: np.ndarray, dt: float, k: int) -> np.ndarray:
    """RSRP traces [K, n, C] dBm at a step of ``dt`` s L3-filtered along the steps with
    filterCoefficient ``k`` (module docstring); k = 0 returns them as they are."""
    if k == 0:
        return rsrp_dbm
    a = 1.0 - (1.0 - 2.0 ** (-k / 4.0)) ** (dt / L3_PERIOD_S)
    x = np.asarray(rsrp_dbm, dtype=float)
    y, _ = lfilter([a], [1.0, a - 1.0], x, axis=1, zi=(1.0 - a) * x[:, :1])
    return y


@dataclass(frozen=True)
class Handover:
    """One handover of ``client`` at ``t`` [s] from cell ``source`` to ``target``, with both
    RSRPs [dBm] at the last trace instant before it; the client cannot send until
    ``t + interrupt_s``."""

    client: int
    t: float
    source: int
    target: int
    rsrp_source_dbm: float
    rsrp_target_dbm: float
    interrupt_s: float


def handovers(
    rsrp_dbm: np.ndarray, times: np.ndarray, rule: A3, serving: np.ndarray | None = None
) -> tuple[np.ndarray, list[Handover]]:
    """Serving cell [K, n] of K clients at the trace instants ``times`` [n] s (the cell in
    charge at each instant: a handover at t counts from t on) and their handovers in time order,
    from RSRP traces ``rsrp_dbm`` [K, n, C] (L3-filtered first with ``rule.l3_filter_k``: the
    handovers' RSRPs are then the filtered ones); ``serving`` [K] the cells at the first
    instant (None: the strongest there)."""
    t = np.asarray(times, dtype=float)
    dt = float(t[1] - t[0]) if len(t) > 1 else L3_PERIOD_S
    rsrp = l3_filter(np.asarray(rsrp_dbm, dtype=float), dt, rule.l3_filter_k)
    k, n, c = rsrp.shape
    rows = np.arange(k)
    cell = np.argmax(rsrp[:, 0], axis=1) if serving is None else np.asarray(serving).copy()
    entered = np.full((k, c), np.nan)  # since when each neighbour has stayed entered
    out = np.empty((k, n), dtype=np.int64)
    done: list[Handover] = []
    margin = rule.a3_offset_db + rule.hysteresis_db
    for j in range(n):
        out[:, j] = cell
        m = rsrp[:, j]
        holds = m > m[rows, cell][:, None] + margin
        holds[rows, cell] = False
        entered = np.where(holds, np.where(np.isnan(entered), t[j], entered), np.nan)
        due = entered + rule.time_to_trigger_s
        # the instant's RSRPs hold until the next (the last one's over one more step)
        nxt = t[j + 1] if j + 1 < n else t[j] + (t[j] - t[j - 1] if n > 1 else 0.0)
        fire = holds & (due < nxt)  # it held at every instant up to its trigger
        for i in np.flatnonzero(fire.any(axis=1)):
            cand = np.flatnonzero(fire[i])
            when = due[i, cand].min()
            first = cand[due[i, cand] == when]
            target = int(first[np.argmax(m[i, first])])
            source = int(cell[i])
            done.append(
                Handover(
                    int(i),
                    float(when),
                    source,
                    target,
                    float(m[i, source]),
                    float(m[i, target]),
                    rule.interrupt_s,
                )
            )
            cell[i] = target
            entered[i] = np.nan  # the timers start again toward the new serving cell
            if when <= t[j]:
                out[i, j] = target
    done.sort(key=lambda h: (h.t, h.client))
    return out, done
