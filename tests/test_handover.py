"""A3 handover (channels/handover.py) on scripted RSRP traces: exact trigger instants, the
hysteresis, timers that restart, and the first association."""

import numpy as np
import pytest

from channels.handover import A3, handovers, l3_filter

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


def test_the_l3_filter_is_38331s_first_order_filter_at_the_traces_step():
    """F_n = (1 − a)·F_(n−1) + a·M_n, F_0 = M_0, with a = 1/2^(k/4) at 200 ms and the same
    time constant at any step: a step from −90 to −70 dBm reaches −70 + 20·(1 − a)^(t/0.2)."""
    t = np.arange(0.0, 2.0, 0.01)
    m = np.where(t < 0.5, -90.0, -70.0)[None, :, None]
    got = l3_filter(m, 0.01, 4)[0, :, 0]
    a = 2.0 ** (-4 / 4)
    after = t >= 0.5
    steps = np.round((t[after] - 0.5) / 0.01) + 1  # samples of −70 taken so far
    want = -70.0 - 20.0 * (1.0 - a) ** (steps * 0.01 / 0.2)
    np.testing.assert_allclose(got[after], want, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got[~after], -90.0)
    coarse = l3_filter(np.array([[[-90.0], [-70.0]]]), 0.2, 4)[0, :, 0]
    assert coarse.tolist() == [-90.0, (1 - a) * -90.0 + a * -70.0]
    assert l3_filter(m, 0.01, 0) is m


def test_a_short_excursion_hands_over_unfiltered_but_not_through_the_l3_filter():
    """A neighbour 10 dB above the serving cell for 0.4 s (a LoS flip) outlasts the 256 ms
    time-to-trigger: unfiltered RSRPs hand over and back, filtered with k = 4 (38.331's
    default) they never exceed the serving cell by the hysteresis for long enough."""
    t = np.arange(0.0, 3.0, 0.01)
    serving = np.full(len(t), -80.0)
    neighbour = np.where((t >= 1.0) & (t < 1.4), -70.0, -90.0)
    rsrp = np.stack([serving, neighbour], axis=-1)[None]
    _, hos = handovers(rsrp, t, A3())  # there and back: a ping-pong
    assert [(h.t, h.target) for h in hos] == [(pytest.approx(1.256), 1), (pytest.approx(1.656), 0)]
    _, hos = handovers(rsrp, t, A3(l3_filter_k=4))
    assert hos == []
    _, hos = handovers(rsrp, t, A3(l3_filter_k=1))  # a short filter follows the flip, later
    assert len(hos) == 2 and hos[0].t > 1.256
