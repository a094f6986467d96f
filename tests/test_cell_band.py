"""Several cells' bands on one clock (cosim/engine/cell_band.py): SINR rates that change as
the other cells' uploads come and go, a handover that pauses an upload and resumes it at the
new cell's band, and each cell's band never over-assigned."""

from types import SimpleNamespace

import numpy as np
import pytest
import simpy

from channels import LinkBudget, Shannon
from channels.handover import Handover
from channels.interference import Uplinks, open_loop_power_dbm, uplink_sinr
from cosim.engine.cell_band import CellBand, CellLinks, CellsOptions
from cosim.engine.shared_band import BandOptions, Member
from cosim.engine.uplink import UplinkRadio
from fl.allocators.fixed import EqualShare

TOTAL, DT, STEPS = 10e6, 0.01, 1000
CELLS = CellsOptions(count=3, noise_dbm_hz=-169.0, p_max_dbm=23.0, p0_dbm=-86.0, alpha=0.8)


class _Log:
    def __init__(self):
        self.events = []

    def emit(self, t, kind, r, k, **f):
        self.events.append(dict(t=t, kind=kind, client=k, **f))


def _band(env):
    radio = UplinkRadio(LinkBudget(23.0, 5.0), Shannon(), lambda x: np.log2(1.0 + x))
    log = _Log()
    band = CellBand(env, BandOptions(TOTAL, DT, 0.0), CELLS, radio, EqualShare(1.0), log)
    return band, log


def _member(job, bits, deadline=9.0):
    csi = SimpleNamespace(
        gain_db=np.full((1, STEPS), -100.0), offset_db=np.zeros(1), grid=SimpleNamespace(t0=0.0)
    )
    return Member(job, job, 1, np.full(STEPS, -100.0), 0, csi, 0, deadline, float(bits))


def _links(gains, serving, handovers=()):
    """Static coupling gains [dB] to cells 0..len-1."""
    g = np.tile(np.asarray(gains, dtype=float), (STEPS, 1))
    return CellLinks(np.arange(len(gains)), g, np.zeros_like(g), serving, tuple(handovers))


def _rate(cells, gains, bw=TOTAL):
    """Rates of uploads each alone in its cell on the full band, by uplink_sinr."""
    gains = np.asarray(gains, dtype=float)
    cells = np.asarray(cells)
    own = gains[np.arange(len(cells)), cells]
    power = open_loop_power_dbm(-own, bw, 23.0, -86.0, 0.8)
    up = Uplinks(cells, np.zeros(len(cells)), np.full(len(cells), bw), power, gains)
    return uplink_sinr(up, CELLS.noise_dbm_hz).rate_bps


def test_two_cells_interfere_while_both_send_and_not_after():
    env = simpy.Environment()
    band, _ = _band(env)
    ga, gb = [-100.0, -112.0, -200.0], [-115.0, -98.0, -200.0]
    ends = {}

    def upload(job, links, bits):
        band.expect(job, links)
        res = yield band.join(_member(job, bits))
        ends[job] = env.now
        assert res.delivered

    env.process(upload(1, _links(ga, 0), 2e6))
    env.process(upload(2, _links(gb, 1), 60e6))
    env.run()
    both = _rate([0, 1], [ga, gb])
    alone_b = _rate([1], [gb])[0]
    assert ends[1] == pytest.approx(2e6 / both[0], rel=1e-9)
    assert ends[2] == pytest.approx(ends[1] + (60e6 - both[1] * ends[1]) / alone_b, rel=1e-9)
    assert both[0] < _rate([0], [ga])[0]  # interference costs A rate


def test_a_handover_pauses_the_upload_and_resumes_it_at_the_new_cells_band():
    env = simpy.Environment()
    band, log = _band(env)
    g = [-100.0, -95.0, -200.0]
    t_h = 0.0537  # not on the 10 ms grid
    ho = Handover(1, t_h, 0, 1, -60.0, -55.0, 0.05)
    out = {}

    def upload():
        band.expect(1, _links(g, 0, [ho]))
        out["res"] = yield band.join(_member(1, 30e6))

    env.process(upload())
    env.run()
    r0, r1 = _rate([0], [g])[0], _rate([1], [g])[0]
    want = t_h + 0.05 + (30e6 - r0 * t_h) / r1
    assert out["res"].delivered and out["res"].t_end == pytest.approx(want, rel=1e-9)
    hos = [e for e in log.events if e["kind"] == "handover"]
    assert len(hos) == 1 and hos[0]["t"] == t_h
    assert (hos[0]["source"], hos[0]["target"], hos[0]["interrupt_s"]) == (0, 1, 0.05)
    moved = [e for e in log.events if e["kind"] == "reallocation" and e["t"] == t_h]
    assert [(e["reason"], e["cell"]) for e in moved] == [("handover in", 1)]
    assert moved[0]["after_share"].tolist() == [1.0]


def test_each_cells_band_is_never_over_assigned_as_uploads_come_go_and_hand_over():
    rng = np.random.default_rng(7)
    env = simpy.Environment()
    band, log = _band(env)

    def upload(job):
        yield env.timeout(float(rng.uniform(0, 0.5)))
        gains = rng.uniform(-120.0, -90.0, 3)
        serving = int(np.argmax(gains))
        hos = ()
        if job % 3 == 0:
            target = (serving + 1) % 3
            hos = (Handover(job, env.now + 0.03, serving, target, -70.0, -66.0, 0.05),)
        band.expect(job, _links(gains, serving, hos))
        yield band.join(_member(job, float(rng.uniform(1e6, 8e6)), deadline=env.now + 2.0))

    for job in range(1, 19):
        env.process(upload(job))
    env.run()
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    assert splits and {e["cell"] for e in splits} == {0, 1, 2}
    for e in splits:
        assert sum(e["after_share"]) <= 1 + 1e-9 and e["assigned_hz"] <= TOTAL * (1 + 1e-9)
    assert len([e for e in log.events if e["kind"] == "handover"]) >= 1
    assert not band.members  # every upload ended


def test_a_split_of_one_cell_reads_the_estimates_of_that_cells_uploads_only():
    """A per-cell re-split hands the allocator the SINR estimates of its own cell's uploads
    (the new cell's gain after a handover, less the interference that cell measured), one per
    upload it splits among."""
    seen = []

    class Spy(EqualShare):
        def split_in_flight(self, request):
            seen.append((len(request.clients), request.snr_per_hz.copy()))
            return super().split_in_flight(request)

    env = simpy.Environment()
    radio = UplinkRadio(LinkBudget(23.0, 5.0), Shannon(), lambda x: np.log2(1.0 + x))
    band = CellBand(env, BandOptions(TOTAL, DT, 0.0), CELLS, radio, Spy(1.0), _Log())
    link = LinkBudget(23.0, 5.0)

    def upload(job, gains, serving, start):
        yield env.timeout(start)
        band.expect(job, _links(gains, serving))
        yield band.join(_member(job, 4e6))

    env.process(upload(1, [-100.0, -120.0, -200.0], 0, 0.0))
    env.process(upload(2, [-118.0, -97.0, -200.0], 1, 0.001))
    env.process(upload(3, [-99.0, -130.0, -200.0], 0, 0.002))
    env.run()
    assert [n for n, _ in seen[:3]] == [1, 1, 2]  # cell 0; cell 1; cell 0 with two uploads
    # each estimate is an SINR: the gain less the interference its cell measured then (the
    # other cell's upload over the full band at its open-loop power), as I/N
    noise = 10 ** (CELLS.noise_dbm_hz / 10)

    def i_over_n(own_gain_db, gain_to_cell_db):
        p = 10 ** (open_loop_power_dbm(np.array([-own_gain_db]), TOTAL, 23.0, -86.0, 0.8) / 10)
        return p[0] * 10 ** (gain_to_cell_db / 10) / TOTAL / noise

    cut1 = 10 * np.log10(1 + i_over_n(-100.0, -120.0))  # at cell 1, from upload 1
    cut0 = 10 * np.log10(1 + i_over_n(-97.0, -118.0))  # at cell 0, from upload 2
    assert seen[0][1] == pytest.approx(link.snr_per_hz(np.array([-100.0])), rel=1e-12)
    np.testing.assert_allclose(seen[1][1], link.snr_per_hz(np.array([-97.0 - cut1])))
    np.testing.assert_allclose(seen[2][1], link.snr_per_hz(np.array([-100.0, -99.0]) - cut0))
    assert cut0 > 0.01 and cut1 > 0.01


def test_a_connected_job_hands_over_before_its_upload_and_starts_at_the_new_cell():
    """A job is connected from its start: a handover while it trains is made (and logged) at
    its instant, without re-splitting anyone's band; its upload then starts at the new cell,
    not paused once the interruption is over; finish gives its cell and handovers."""
    env = simpy.Environment()
    band, log = _band(env)
    g = [-100.0, -95.0, -200.0]
    ho = Handover(1, 0.1234, 0, 1, -60.0, -55.0, 0.05)
    out = {}

    def job():
        band.expect(1, _links(g, 0, [ho]), client=1, round_=1)
        band.connected()
        yield env.timeout(0.3)  # training
        out["res"] = yield band.join(_member(1, 30e6))
        out["end"] = band.finish(1)

    env.process(job())
    env.run()
    hos = [e for e in log.events if e["kind"] == "handover"]
    assert [(e["t"], e["uploading"], e["source"], e["target"]) for e in hos] == [
        (0.1234, False, 0, 1)
    ]
    splits = [e for e in log.events if e["kind"] == "reallocation"]
    assert [(e["t"], e["cell"]) for e in splits] == [(0.3, 1)]  # its start, at cell 1 only
    want = 0.3 + 30e6 / _rate([1], [g])[0]
    assert out["res"].t_end == pytest.approx(want, rel=1e-9)
    assert out["end"] == {"cell": 1, "handovers": 1} and not band.state
