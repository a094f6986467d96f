"""A3 handover (channels/handover.py) on scripted RSRP traces: exact trigger instants, the
hysteresis, timers that restart, and the first association."""

import numpy as np
import pytest

from channels.handover import A3, handovers

DT = 0.005


def _trace(seconds, *cells):
    t = np.arange(0.0, seconds, DT)
    return t, np.stack([f(t) for f in cells], axis=-1)[None]  # [1, n, C]


def test_a3_fires_exactly_time_to_trigger_after_the_neighbour_enters():
    # cell 1 rises through cell 0 at 10 dB/s: it is 3 dB better (the hysteresis) after 0.3 s
    t, rsrp = _trace(2.0, lambda t: np.full_like(t, -90.0), lambda t: -93.0 + 10.0 * t)
    serving, hos = handovers(rsrp, t, A3())
    first = t[np.argmax(rsrp[0, :, 1] > rsrp[0, :, 0] + 3.0)]  # first instant it is entered
    assert len(hos) == 1
    h = hos[0]
    assert (h.source, h.target) == (0, 1)
    assert h.t == pytest.approx(first + 0.256, abs=1e-12)  # not rounded to the 5 ms grid
    assert h.interrupt_s == 0.050
    assert np.all(serving[0, t < h.t] == 0) and np.all(serving[0, t >= h.t] == 1)


def test_no_handover_below_the_hysteresis_and_offset():
    t, rsrp = _trace(3.0, lambda t: np.full_like(t, -90.0), lambda t: np.full_like(t, -87.05))
    on0 = np.array([0])  # served by the weaker cell 0 (say, after moving)
    assert handovers(rsrp, t, A3(), on0)[1] == []  # 2.95 dB better: below Hys = 3 dB
    assert len(handovers(rsrp, t, A3(hysteresis_db=2.0), on0)[1]) == 1
    assert handovers(rsrp, t, A3(hysteresis_db=2.0, a3_offset_db=1.0), on0)[1] == []


def test_a_neighbour_that_leaves_before_time_to_trigger_starts_again():
    # 5 dB better on [0.1, 0.3), worse on [0.3, 0.4), better again from 0.4 s
    def neighbour(t):
        return np.where(((t >= 0.1) & (t < 0.3)) | (t >= 0.4), -85.0, -95.0)

    t, rsrp = _trace(1.0, lambda t: np.full_like(t, -90.0), neighbour)
    _, hos = handovers(rsrp, t, A3())
    assert len(hos) == 1 and hos[0].t == pytest.approx(0.4 + 0.256, abs=1e-9)


def test_first_association_is_the_strongest_and_handovers_do_not_ping_pong():
    # cell 2 strongest at first; cell 0 overtakes it by 4 dB, then they swap back by 1 dB only
    def c0(t):
        return np.where(t < 0.5, -95.0, np.where(t < 1.5, -86.0, -90.5))

    t, rsrp = _trace(3.0, c0, lambda t: np.full_like(t, -120.0), lambda t: np.full_like(t, -90.0))
    serving, hos = handovers(rsrp, t, A3())
    assert serving[0, 0] == 2
    assert [(h.source, h.target) for h in hos] == [(2, 0)]  # no way back for 0.5 dB
    assert hos[0].rsrp_source_dbm == -90.0 and hos[0].rsrp_target_dbm == -86.0


def test_bad_a3_parameters_are_refused():
    with pytest.raises(ValueError, match="hysteresis_db"):
        A3(hysteresis_db=-1.0)
