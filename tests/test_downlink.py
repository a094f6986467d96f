"""The downlink timed over the channel (downlink.model = "channel"): multicast at the worst
client's rate, unicast on equal shares, training from the download's end, misses."""

import csv
import math

import pytest
from conftest import ROOT, read_events

from cosim import Scenario, ScenarioError, run
from cosim.outputs.tables import CLIENT_COLUMNS

STATIC = ROOT / "scenarios" / "static_pathloss.toml"
BASE = {"fl.mode": "surrogate", "run.rounds": 3, "downlink.model": "channel"}
BOLTZMANN = 1.380649e-23


def _snr_db(gain_db: float, bandwidth_hz: float, power_dbm: float = 44.0, nf_db: float = 9.0):
    noise_dbm = 10 * math.log10(BOLTZMANN * 290.0 * bandwidth_hz) + 30 + nf_db
    return power_dbm + gain_db - noise_dbm


def _rate(gain_db: float, bandwidth_hz: float) -> float:
    return bandwidth_hz * math.log2(1 + 10 ** (_snr_db(gain_db, bandwidth_hz) / 10))


def _per_round(events, kind):
    return {(e["round"], e["client"]): e for e in events if e["kind"] == kind}


@pytest.mark.parametrize("mode", ["multicast", "unicast"])
def test_download_time_is_bits_over_the_rate_on_a_static_channel(mode, tmp_path):
    s = Scenario.load(STATIC).updated({**BASE, "downlink.mode": mode})
    run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    gains = _per_round(events, "csi")  # static channel: the gain at any instant
    ends = _per_round(events, "download_end")
    trains = _per_round(events, "train_start")
    for r in range(1, s.run.rounds + 1):
        start = next(e for e in events if e["kind"] == "round_start" and e["round"] == r)
        bits = next(e for e in events if e["kind"] == "broadcast" and e["round"] == r)["bits"]
        mine = {k: g["true_gain_db"] for (rr, k), g in gains.items() if rr == r}
        band = s.downlink.bandwidth_hz / (1 if mode == "multicast" else len(mine))
        rates = {k: _rate(g, band) for k, g in mine.items()}
        for k in mine:
            rate = min(rates.values()) if mode == "multicast" else rates[k]
            expected = bits / rate
            assert ends[(r, k)]["realised_s"] == pytest.approx(expected, rel=1e-9)
            assert ends[(r, k)]["t"] == pytest.approx(start["t"] + expected, rel=1e-12)
            assert trains[(r, k)]["t"] == ends[(r, k)]["t"]  # training starts on arrival
    with open(tmp_path / "run" / "clients.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(float(c["download_s"]) > 0 for c in rows)


def test_a_model_that_cannot_arrive_is_a_download_miss(tmp_path):
    s = Scenario.load(STATIC).updated({**BASE, "downlink.bandwidth_hz": 1e3})
    result = run(s, tmp_path / "run")
    events = read_events(tmp_path / "run")
    misses = [e for e in events if e["kind"] == "deadline_miss"]
    assert misses and all(e["phase"] == "download" for e in misses)
    assert not [e for e in events if e["kind"] in ("train_start", "download_end")]
    assert all(r["on_time"] == 0 for r in result.rounds)
    assert {c["miss"] for c in result.clients} == {"download"}


def test_the_fixed_downlink_writes_what_it_always_did(tmp_path):
    run(Scenario.load(STATIC).updated({"fl.mode": "surrogate", "run.rounds": 1}), tmp_path / "r")
    assert not [e for e in read_events(tmp_path / "r") if e["kind"].startswith("download")]
    header = (tmp_path / "r" / "clients.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == CLIENT_COLUMNS


def test_a_fixed_broadcast_time_with_the_channel_downlink_is_refused():
    with pytest.raises(ScenarioError, match=r"server\.broadcast_s"):
        Scenario.load(STATIC).updated({**BASE, "server.broadcast_s": 0.1})
