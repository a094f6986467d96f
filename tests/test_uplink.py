"""The round's uplink band: segments, dropouts, finished uploads and re-splits in SimPy time."""

import numpy as np
import pytest
import simpy
from conftest import TINY, read_events

from channels import LinkBudget, Shannon
from cosim import load_scenario, run
from cosim.engine.grid import RoundGrid
from cosim.engine.uplink import SplitPolicy, Uplink, UplinkRadio

LINK = LinkBudget(23.0, 5.0)
TOTAL = 1e6
DT = 0.01


def _eff(snr_linear):
    return np.log2(1.0 + np.asarray(snr_linear, dtype=float))


class _Csi:
    def __init__(self, gain_db):
        self.gain_db = gain_db

    def snr_per_hz(self, idx, now):
        return LINK.snr_per_hz(self.gain_db[idx, min(int(now / DT), 999)])


class _Log:
    def __init__(self, events):
        self.events = events

    def emit(self, t, kind, r, k, **f):
        self.events.append(dict(t=t, kind=kind, client=k, **f))


def _uplink(env, gain_db, bw, reallocate=True, threshold=0.3, events=None):
    gain_db = np.asarray(gain_db, dtype=float)
    log = events if events is not None else []
    return Uplink(
        env,
        1,
        np.arange(len(bw)),
        RoundGrid(np.arange(gain_db.shape[1]), DT, 0),
        gain_db,
        _Csi(gain_db),
        10.0,
        np.asarray(bw, dtype=float),
        TOTAL,
        UplinkRadio(LINK, Shannon(), _eff),
        SplitPolicy(reallocate, threshold, 0.05),
        _Log(log),
    )


def _rate(gain_db, bw):
    return bw * np.log2(1.0 + LINK.snr_per_hz(gain_db) / bw)


def test_freed_band_goes_to_the_remaining_upload_and_bits_are_conserved():
    env = simpy.Environment()
    gain = np.full((2, 1000), -100.0)
    up = _uplink(env, gain, [TOTAL / 2, TOTAL / 2])
    small, big = 2e5, 2e6
    results = {}

    def client(i, bits):
        results[i] = yield up.start(i, bits, predicted_s=bits / _rate(-100.0, TOTAL / 2))

    env.process(client(0, small))
    env.process(client(1, big))
    env.run()
    t1 = small / _rate(-100.0, TOTAL / 2)
    assert results[0].delivered and results[0].t_end == pytest.approx(t1)
    # after t1 client 1 holds the whole band for the bits it still has to send
    left = big - _rate(-100.0, TOTAL / 2) * t1
    assert results[1].t_end == pytest.approx(t1 + left / _rate(-100.0, TOTAL), rel=1e-9)
    assert results[1].bits == big and up.reallocations == 1


def test_without_reallocation_the_freed_band_stays_idle():
    env = simpy.Environment()
    gain = np.full((2, 1000), -100.0)
    up = _uplink(env, gain, [TOTAL / 2, TOTAL / 2], reallocate=False)
    results = {}

    def client(i, bits):
        results[i] = yield up.start(i, bits, predicted_s=1.0)

    env.process(client(0, 2e5))
    env.process(client(1, 2e6))
    env.run()
    assert results[1].t_end == pytest.approx(2e6 / _rate(-100.0, TOTAL / 2))
    assert up.reallocations == 0


def test_a_client_behind_its_plan_gets_more_band_and_a_dropout_frees_its_share():
    env = simpy.Environment()
    gain = np.full((3, 1000), -100.0)
    gain[1, 20:] = -130.0  # client 1's channel turns 30 dB worse at 0.2 s
    events = []
    up = _uplink(env, gain, [TOTAL / 3] * 3, events=events)
    planned = 3e6 / _rate(-100.0, TOTAL / 3)

    def client(i, bits):
        yield up.start(i, bits, predicted_s=planned)

    env.process(client(0, 3e6))
    env.process(client(1, 3e6))
    up.drop(2, "test")
    env.run()
    reasons = [e["reason"] for e in events]
    assert "behind plan" in reasons
    behind = next(e for e in events if e["reason"] == "behind plan")
    assert behind["client"] == 1 and behind["t"] > 0.2
    i = list(behind["clients"]).index(1)
    assert behind["after_share"][i] > behind["before_share"][i]
    for e in events:  # never more than the band
        assert e["assigned_hz"] <= TOTAL * (1 + 1e-9)
        assert sum(e["after_share"]) * TOTAL <= e["pool_hz"] * (1 + 1e-9)
    assert up.peak_assigned_hz <= TOTAL * (1 + 1e-9)


def test_reallocation_in_a_moving_run_never_exceeds_the_band_and_can_be_switched_off(tmp_path):
    sets = [
        "fl.mode=surrogate",
        "run.rounds=8",
        "clients.count=8",
        "clients.per_round=6",
        "channel.model=rayleigh",
        "mobility.preset=vehicular",
        "channel.csi_delay_s=0.05",
        "allocation.name=minmax",
        "strategy.name=soft",
        "strategy.budget=0.5",
    ]
    on = run(load_scenario(TINY, sets), tmp_path / "on")
    events = read_events(tmp_path / "on")
    moves = [e for e in events if e["kind"] == "reallocation"]
    assert moves, "a moving channel with stale CSI should call for re-splits"
    total = on.scenario.channel.bandwidth_hz
    for e in moves:
        assert e["assigned_hz"] <= total * (1 + 1e-9)
        assert sum(e["after_share"]) <= e["pool_hz"] / total * (1 + 1e-9)
        assert e["t"] < next(
            x["deadline"] for x in events if x["kind"] == "round_start" and x["round"] == e["round"]
        )
    assert sum(r["reallocations"] for r in on.rounds) == len(moves)
    off = run(load_scenario(TINY, [*sets, "allocation.reallocate=false"]), tmp_path / "off")
    assert not [e for e in read_events(tmp_path / "off") if e["kind"] == "reallocation"]
    assert all(r["reallocations"] == 0 for r in off.rounds)


def test_a_sole_uploader_behind_plan_is_not_counted_as_a_re_split():
    """Alone on the band, an upload that falls behind its plan cannot get more band: no
    `reallocation` event, no count, and it ends when its own segment would have."""
    env = simpy.Environment()
    gain = np.full((1, 1000), -100.0)
    gain[0, 20:] = -130.0  # 30 dB worse at 0.2 s: far behind plan
    events = []
    up = _uplink(env, gain, [TOTAL], events=events)
    bits = 3e6
    result = {}

    def client():
        result["r"] = yield up.start(0, bits, predicted_s=bits / _rate(-100.0, TOTAL))

    env.process(client())
    env.run()
    assert events == [] and up.reallocations == 0
    sent_early = _rate(-100.0, TOTAL) * 0.2
    expected = 0.2 + (bits - sent_early) / _rate(-130.0, TOTAL)
    assert result["r"].delivered == (expected <= 10.0)
    if result["r"].delivered:
        assert result["r"].t_end == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("reallocate", [True, False])
def test_a_client_left_out_at_0_hz_waits_and_freed_band_rescues_it(reallocate):
    """A client the allocator left out (TSFA's admission) still trains and waits at 0 Hz: band
    freed by a finished upload rescues it when reallocation is on; otherwise it sends nothing
    and misses at the deadline."""
    env = simpy.Environment()
    gain = np.full((2, 1000), -100.0)
    events = []
    up = _uplink(env, gain, [TOTAL, 0.0], reallocate=reallocate, events=events)
    results = {}

    def client(i, bits, predicted_s):
        results[i] = yield up.start(i, bits, predicted_s=predicted_s)

    env.process(client(0, 1e6, 1e6 / _rate(-100.0, TOTAL)))
    env.process(client(1, 1e6, float("inf")))
    env.run()
    t0 = 1e6 / _rate(-100.0, TOTAL)
    assert results[0].delivered and results[0].t_end == pytest.approx(t0)
    if reallocate:
        assert [e["reason"] for e in events] == ["upload finished"]
        assert events[0]["clients"] == [1] and events[0]["before_share"][0] == 0.0
        assert results[1].delivered and results[1].t_end == pytest.approx(2 * t0)
    else:
        assert events == [] and not results[1].delivered
        assert results[1].bits == 0.0 and results[1].t_end == pytest.approx(10.0)


def test_a_resplit_retimes_the_uploads_it_dooms_with_one_timeout_and_they_end_in_order():
    """Three uploads too big for the 10 s deadline and one small one: the small one's end
    re-splits the band and re-times the three to the deadline — one SimPy timeout for that
    instant, not three — and at the deadline they end in the order they were re-timed (row
    order), as separate timeouts would have fired."""
    env = simpy.Environment()
    gain = np.full((4, 1000), -100.0)
    up = _uplink(env, gain, [TOTAL / 4] * 4, reallocate=True)
    ended = []

    def client(i, bits):
        result = yield up.start(i, bits, predicted_s=1.0)
        ended.append((i, result.delivered, env.now))

    for i in (2, 0, 3):  # started in another order than rows
        env.process(client(i, 1e9))
    env.process(client(1, 1e4))
    t_small = 1e4 / _rate(-100.0, TOTAL / 4)

    def at_deadline():
        return sum(t == 10.0 for t, *_ in env._queue)

    env.run(until=t_small / 2)
    started = at_deadline()  # one per start (each a schedule call of its own)
    env.run(until=0.5)  # the small upload has ended and re-split the band
    assert ended == [(1, True, pytest.approx(t_small))] and up.reallocations == 1
    assert started == 3 and at_deadline() == started + 1
    env.run()
    assert ended[1:] == [(0, False, 10.0), (2, False, 10.0), (3, False, 10.0)]
