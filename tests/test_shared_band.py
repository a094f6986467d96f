"""The shared band of fedasync/fedbuff on its own: exact delivery instants as uploads come and
go, against closed forms on a static channel and against the step-integral reference
(channels.delivery_time) on a fading one."""

from types import SimpleNamespace

import numpy as np
import pytest
import simpy

from channels import LinkBudget, Shannon, delivery_time
from cosim.engine.shared_band import BandOptions, Member, SharedBand
from cosim.engine.uplink import UplinkRadio
from fl.allocators.fixed import EqualShare

LINK = LinkBudget(23.0, 5.0)
TOTAL, DT = 1e6, 0.01


class _Log:
    def __init__(self):
        self.events = []

    def emit(self, t, kind, r, k, **f):
        self.events.append(dict(t=t, kind=kind, client=k, **f))


def _band(env, lists=True):
    radio = UplinkRadio(LINK, Shannon(), lambda x: np.log2(1.0 + np.asarray(x, dtype=float)))
    log = _Log()
    band = SharedBand(env, BandOptions(TOTAL, DT, 0.0, lists), radio, EqualShare(1.0), log)
    return band, log


def _member(job, gain_db, bits, deadline, step0=0):
    gain_db = np.asarray(gain_db, dtype=float)
    grid = SimpleNamespace(t0=step0 * DT)
    csi = SimpleNamespace(gain_db=gain_db[None, :], offset_db=np.zeros(1), grid=grid)
    return Member(job, job, 1, gain_db, step0, csi, 0, deadline, float(bits))


def _rate(gain_db, bw):
    return bw * np.log2(1.0 + LINK.snr_per_hz(gain_db) / bw)


def test_two_uploads_sharing_a_static_band_end_at_the_closed_form_instants():
    env = simpy.Environment()
    band, log = _band(env)
    g = np.full(1000, -100.0)
    ends = {}

    def upload(job, start, bits):
        yield env.timeout(start)
        res = yield band.join(_member(job, g, bits, 9.0))
        ends[job] = (env.now, res)

    env.process(upload(1, 0.0, 4e6))
    env.process(upload(2, 0.1, 1e6))
    env.run()
    full, half = _rate(-100.0, TOTAL), _rate(-100.0, TOTAL / 2)
    t2 = 0.1 + 1e6 / half  # B finishes first: it has fewer bits at the same half band
    left1 = 4e6 - 0.1 * full - (t2 - 0.1) * half
    t1 = t2 + left1 / full
    assert ends[2][0] == pytest.approx(t2, rel=1e-12)
    assert ends[1][0] == pytest.approx(t1, rel=1e-12)
    assert ends[1][1].delivered and ends[1][1].bits == 4e6
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    assert [e["reason"] for e in splits] == ["upload started", "upload started", "upload finished"]
    assert splits[1]["after_share"].tolist() == [0.5, 0.5]


def test_a_fading_upload_alone_ends_where_the_step_integral_says():
    rng = np.random.default_rng(3)
    g = -100.0 + 8.0 * rng.standard_normal(400)
    env = simpy.Environment()
    band, _ = _band(env)
    out = {}

    def upload():
        yield env.timeout(0.0123)  # inside a step
        out["res"] = yield band.join(_member(1, g, 3e6, 3.9))

    env.process(upload())
    env.run()
    ref = delivery_time(np.array([3e6]), _rate(g, TOTAL)[None, :], 0.0, DT, 0.0123, 3.9)
    assert out["res"].delivered
    assert out["res"].t_end == pytest.approx(float(ref.t_end[0]), rel=1e-12)


def test_an_upload_that_cannot_finish_ends_at_its_deadline_with_the_bits_it_sent():
    g = np.full(400, -100.0)
    env = simpy.Environment()
    band, _ = _band(env)
    out = {}

    def upload():
        out["res"] = yield band.join(_member(1, g, 1e12, 0.5))

    env.process(upload())
    env.run()
    assert not out["res"].delivered
    assert out["res"].t_end == 0.5
    assert out["res"].bits == pytest.approx(0.5 * _rate(-100.0, TOTAL), rel=1e-12)


def test_share_lists_off_keeps_the_counts_only():
    g = np.full(400, -100.0)
    env = simpy.Environment()
    band, log = _band(env, lists=False)

    def upload(job, start):
        yield env.timeout(start)
        yield band.join(_member(job, g, 1e6, 3.0))

    for job in (1, 2, 3):
        env.process(upload(job, 0.01 * job))
    env.run()
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    assert splits and all("clients" not in e and "after_share" not in e for e in splits)
    assert [e["uploads"] for e in splits[:3]] == [1, 2, 3]
    assert [e["changed"] for e in splits[:3]] == [1, 2, 3]
