"""A sync/first-k round's band over several cells (cosim/engine/planned_band.py): planned
shares held as planned, freed band re-split within its cell only, a handover taking its share
into a full cell, first-k's quorum, and the behind-plan check."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from test_cell_band import CELLS, DT, TOTAL, _links, _Log, _member, _rate

from channels import LinkBudget, Shannon
from channels.handover import Handover
from cosim.engine.planned_band import PlannedCellBand
from cosim.engine.shared_band import BandOptions
from cosim.engine.uplink import SplitPolicy, UplinkRadio
from fl.allocators.fixed import EqualShare

G0 = [-100.0, -200.0, -200.0]  # heard by cell 0 only
G1 = [-200.0, -100.0, -200.0]  # heard by cell 1 only


def _band(env, reallocate=True, quorum=0, min_interval_s=0.05):
    radio = UplinkRadio(LinkBudget(23.0, 5.0), Shannon(), lambda x: np.log2(1.0 + x))
    log = _Log()
    policy = SplitPolicy(reallocate, 0.2, min_interval_s)
    opts = BandOptions(TOTAL, DT, 0.0)
    band = PlannedCellBand(env, opts, CELLS, radio, EqualShare(1.0), log, policy, quorum)
    return band, log


def _upload(env, band, job, bits, after=0.0, rate=0.0, out=None):
    """Job ``job`` uploads ``bits`` after ``after`` s (planned rate ``rate``)."""
    yield env.timeout(after)
    band.aim(job, rate)
    res = yield band.join(_member(job, bits))
    if out is not None:
        out[job] = res


def _connect(band, jobs):
    """jobs = {job: (gains, serving, share_hz, handovers)}, connected now."""
    for job, (gains, serving, share, hos) in jobs.items():
        band.expect(job, _links(gains, serving, hos), job, 1)
        band.reserve(job, share)
    band.connected()


def test_uploads_hold_their_planned_shares_when_reallocation_is_off():
    env = simpy.Environment()
    band, log = _band(env, reallocate=False)
    _connect(band, {1: (G0, 0, 3e6, ()), 2: (G0, 0, 7e6, ())})
    assert band.held_hz(1) == 3e6  # reserved before it uploads
    out = {}
    env.process(_upload(env, band, 1, 1e6, out=out))
    env.process(_upload(env, band, 2, 4e6, after=0.013, out=out))
    env.run()
    r1, r2 = _rate([0], [G0], 3e6)[0], _rate([0], [G0], 7e6)[0]
    assert out[1].t_end == pytest.approx(1e6 / r1, rel=1e-9)
    assert out[2].t_end == pytest.approx(0.013 + 4e6 / r2, rel=1e-9)
    assert not [e for e in log.events if e["kind"] == "reallocation"]


def test_freed_band_is_re_split_within_its_cell_only():
    env = simpy.Environment()
    band, log = _band(env)
    _connect(band, {1: (G0, 0, 5e6, ()), 2: (G0, 0, 5e6, ()), 3: (G1, 1, 4e6, ())})
    out = {}
    env.process(_upload(env, band, 1, 1e6, out=out))
    env.process(_upload(env, band, 2, 20e6, out=out))
    env.process(_upload(env, band, 3, 20e6, out=out))
    env.run()
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    # cell 1's upload found 6 MHz free at its start: it took the whole band then
    assert [(e["reason"], e["cell"]) for e in splits] == [
        ("freed band", 1),
        ("upload finished", 0),
    ]
    assert splits[0]["after_share"].tolist() == [1.0]
    assert splits[1]["clients"].tolist() == [2] and splits[1]["after_share"].tolist() == [1.0]
    # job 2: half the band until job 1's delivery, then all of it
    t1 = out[1].t_end
    assert t1 == pytest.approx(1e6 / _rate([0], [G0], 5e6)[0], rel=1e-9)
    sent = _rate([0], [G0], 5e6)[0] * t1
    want = t1 + (20e6 - sent) / _rate([0], [G0], TOTAL)[0]
    assert out[2].t_end == pytest.approx(want, rel=1e-9)


def test_a_dropout_frees_its_reserved_share_to_its_cells_uploads():
    env = simpy.Environment()
    band, log = _band(env)
    _connect(band, {1: (G0, 0, 5e6, ()), 2: (G0, 0, 5e6, ())})
    env.process(_upload(env, band, 1, 30e6))

    def drop():
        yield env.timeout(0.02)
        band.release(2, "update rejected")

    env.process(drop())
    env.run()
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    assert splits[0]["reason"] == "dropout (update rejected)" and splits[0]["t"] == 0.02
    assert splits[0]["before_share"].tolist() == [0.5] and splits[0]["after_share"] == [1.0]


def test_a_handover_into_a_full_cell_scales_its_shares_to_fit():
    env = simpy.Environment()
    band, log = _band(env, reallocate=False)
    g = [-100.0, -100.0, -200.0]
    ho = Handover(1, 0.0237, 0, 1, -60.0, -55.0, 0.05)
    _connect(band, {1: (g, 0, TOTAL, (ho,)), 2: (g, 1, TOTAL, ())})
    out = {}
    env.process(_upload(env, band, 1, 30e6, out=out))
    env.run()
    fit = [e for e in log.events if e["kind"] == "reallocation"]
    assert [(e["reason"], e["cell"], e["factor"], e["reserved"]) for e in fit] == [
        ("handover in", 1, 0.5, 1)
    ]
    assert band.reserved[2] == TOTAL / 2  # the reservation there gave up half too
    r0 = _rate([0], [g])[0]
    r1 = _rate([1], [g], TOTAL / 2)[0]
    want = 0.0237 + 0.05 + (30e6 - r0 * 0.0237) / r1
    assert out[1].t_end == pytest.approx(want, rel=1e-9)


def test_first_k_closes_the_band_at_the_kth_delivery():
    env = simpy.Environment()
    band, _ = _band(env, quorum=1)
    _connect(band, {1: (G0, 0, 5e6, ()), 2: (G1, 1, 5e6, ()), 3: (G1, 1, 5e6, ())})
    env.process(_upload(env, band, 1, 1e6))
    env.process(_upload(env, band, 2, 50e6))
    env.run(until=band.quorum_reached)
    t = env.now  # (job 1 found its cell's other half free: it sent over the whole band)
    assert t == pytest.approx(1e6 / _rate([0], [G0])[0], rel=1e-9)
    assert band.closed
    sent, held = band.leave(2)
    assert held == 5e6 and sent == pytest.approx(_rate([1], [G1], 5e6)[0] * t, rel=1e-9)
    assert band.leave(3) == (0.0, 5e6)  # still training: its reservation


def test_an_upload_behind_its_plan_calls_for_a_re_split_after_the_least_interval():
    """(Two uploads behind plan with the same bits left on the same channel would be split
    as they are: such a split changes no share, and is not made.)"""
    env = simpy.Environment()
    band, log = _band(env, min_interval_s=0.05)
    _connect(band, {1: (G0, 0, 5e6, ()), 2: (G0, 0, 5e6, ())})
    fast = _rate([0], [G0], 5e6)[0]
    env.process(_upload(env, band, 1, 40e6, rate=2.0 * fast))  # it planned twice its rate
    env.process(_upload(env, band, 2, 10e6, rate=fast))  # on plan
    env.run()
    behind = [e for e in log.events if e["kind"] == "reallocation" and e["reason"] == "behind plan"]
    assert behind and behind[0]["t"] == pytest.approx(0.05) and behind[0]["client"] == 1
    # min-max on the bits left: job 1, with four times job 2's, gets the larger share
    assert behind[0]["after_share"][0] > 0.5 > behind[0]["after_share"][1]
    for e in log.events:
        if e["kind"] == "reallocation":
            assert e["assigned_hz"] <= TOTAL * (1 + 1e-9)


def test_nothing_is_re_split_once_the_round_is_over():
    env = simpy.Environment()
    band, log = _band(env)
    _connect(band, {1: (G0, 0, 5e6, ()), 2: (G0, 0, 5e6, ())})
    band.closed = True
    band.release(2, "update rejected")
    assert not [e for e in log.events if e["kind"] == "reallocation"]
    assert band.leave(1) == (0.0, 5e6)


def test_a_plan_sees_the_interference_measured_at_the_csi_instant_or_averaged_before_it():
    """plan_penalty_db = 10·log10(1 + I/N) of each client's cell, I the record's value at the
    CSI instant (window 0) or its time average over the window before it (hand-computed)."""
    env = simpy.Environment(initial_time=2.0)
    band, _ = _band(env)
    n = 10.0 ** (CELLS.noise_dbm_hz / 10.0)
    a, b = np.array([0.0, 2.0, 0.0]) * n, np.array([0.0, 8.0, 1.0]) * n
    band.measured = [(0.5, a), (1.5, b)]  # I/N = 2 from 0.5 s, 8 in cell 1 from 1.5 s
    window = SimpleNamespace(
        t0=2.0,
        trace=SimpleNamespace(cell=np.array([[1, 1], [2, 2], [0, 0]])),
        grid=SimpleNamespace(j0=1),
    )
    got = band.plan_penalty_db(window)
    np.testing.assert_allclose(got, 10 * np.log10([1 + 8.0, 1 + 1.0, 1.0]), rtol=1e-12)
    band.cell_options = replace(CELLS, interference_window_s=1.0)  # [1, 2]: half 2, half 8
    got = band.plan_penalty_db(window)
    np.testing.assert_allclose(got, 10 * np.log10([1 + 5.0, 1 + 0.5, 1.0]), rtol=1e-12)
    band.cell_options = replace(CELLS, interference_window_s=4.0)  # [-2, 2]: nothing before 0.5
    got = band.plan_penalty_db(window)
    want = [(1.0 * 2 + 0.5 * 8) / 4, (0.5 * 1) / 4, 0.0]
    np.testing.assert_allclose(got, 10 * np.log10(1 + np.array(want)), rtol=1e-12)


def test_with_handover_share_free_the_newcomer_keeps_only_what_is_free():
    env = simpy.Environment()
    band, log = _band(env, reallocate=False)
    band.cell_options = replace(CELLS, handover_share="free")
    g = [-100.0, -100.0, -200.0]
    ho = Handover(1, 0.0237, 0, 1, -60.0, -55.0, 0.05)
    _connect(band, {1: (g, 0, TOTAL, (ho,)), 2: (g, 1, 4e6, ())})
    out = {}
    env.process(_upload(env, band, 1, 30e6, out=out))
    env.run()
    moved = [e for e in log.events if e["kind"] == "reallocation"]
    assert [(e["reason"], e["cell"], e["reserved"]) for e in moved] == [("handover in", 1, 0)]
    assert moved[0]["factor"] == pytest.approx(0.6) and band.reserved[2] == 4e6  # untouched
    r0, r1 = _rate([0], [g])[0], _rate([1], [g], 6e6)[0]
    want = 0.0237 + 0.05 + (30e6 - r0 * 0.0237) / r1
    assert out[1].t_end == pytest.approx(want, rel=1e-9)
