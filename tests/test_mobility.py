"""Mobility models: inside the area, continuous, right speeds, order-free, trace files, presets."""

import tomllib

import numpy as np
import pytest

from cosim import ScenarioError, load_scenario, scenario_from_dict, scenario_to_toml
from cosim.mobility import (
    GaussMarkov,
    Linear,
    RandomWaypoint,
    Static,
    TraceFile,
    TraceFileError,
    place_uniform_disc,
)
from cosim.world.seeding import SeedBank

R = 300.0


def _start(k=200):
    return place_uniform_disc(k, R, 10.0, 1.5, np.random.default_rng(0))


def _block(b):
    return SeedBank(3).rng("mobility", b)


MODELS = {
    "static": lambda: Static(_start()),
    "linear": lambda: Linear(_start(), _block, R, 1.0, 2.0),
    "random_waypoint": lambda: RandomWaypoint(_start(), _block, R, 1.0, 2.0, 4.0),
    "gauss_markov": lambda: GaussMarkov(_start(), _block, R, 8.0, 16.0, 0.85, 1.0, 0.3),
}
SPEED = {"static": (0, 0), "linear": (1, 2), "random_waypoint": (0, 2), "gauss_markov": (8, 16)}


@pytest.mark.parametrize("name", MODELS)
def test_paths_stay_inside_move_continuously_at_their_speeds(name):
    m = MODELS[name]()
    dt = 0.05
    t = np.arange(0, 400, dt)
    p, v, odo = m.positions(t), m.velocities(t), m.odometer(t)
    assert np.hypot(p[..., 0], p[..., 1]).max() <= R + 1e-6
    assert np.all(p[..., 2] == 1.5)
    lo, hi = SPEED[name]
    speed = np.linalg.norm(v, axis=-1)
    assert speed.min() >= lo - 1e-9 and speed.max() <= hi + 1e-9
    chord = np.linalg.norm(np.diff(p, axis=1), axis=-1)
    assert chord.max() <= hi * dt + 1e-6  # no jumps
    d_odo = np.diff(odo, axis=1)
    assert np.all(d_odo >= chord - 1e-6) and np.all(d_odo <= hi * dt + 1e-6)
    assert np.allclose(p[:, 0], _start())


@pytest.mark.parametrize("name", MODELS)
def test_paths_do_not_depend_on_how_they_were_queried(name):
    t = np.arange(0, 120, 0.1)
    a, b = MODELS[name](), MODELS[name]()
    for x in np.arange(0, 120, 7.3):
        b.positions(np.array([x]), np.array([3, 4]))
    np.testing.assert_array_equal(a.positions(t), b.positions(t))
    sub = np.array([1, 50, 199])
    np.testing.assert_array_equal(a.positions(t, sub), a.positions(t)[sub])


def test_linear_keeps_its_speed_through_reflections():
    m = Linear(np.array([[0.0, 0.0, 1.5]]), _block, 10.0, 2.0, 2.0)
    t = np.arange(0, 60, 0.01)
    speed = np.linalg.norm(m.velocities(t), axis=-1)
    assert np.allclose(speed, 2.0) and m.n[0] > 5  # bounced several times in 60 s
    assert m.odometer(np.array([60.0]))[0, 0] == pytest.approx(120.0)


def test_random_waypoint_pauses_for_pause_s():
    m = RandomWaypoint(_start(20), _block, R, 1.0, 1.0, 4.0)
    m.positions(np.array([2000.0]))
    for c in range(20):
        durations = np.diff(m.t0[c, : m.n[c]])
        pauses = durations[1::2]
        assert np.allclose(pauses, 4.0)
        assert np.all(np.linalg.norm(m.v[c, 1 : m.n[c] : 2], axis=-1) == 0)


def test_gauss_markov_changes_speed_every_update():
    m = GaussMarkov(_start(50), _block, R, 8.0, 16.0, 0.5, 1.0, 0.3)
    speed = np.linalg.norm(m.velocities(np.arange(0.5, 30, 1.0)), axis=-1)
    assert np.all(np.abs(np.diff(speed, axis=1)).mean(axis=1) > 0.1)


def _write(tmp_path, text):
    f = tmp_path / "trace.csv"
    f.write_text(text)
    return f


def test_trace_file_interpolates_and_holds(tmp_path):
    f = _write(tmp_path, "t,client,x,y\n0,0,0,0\n10,0,100,0\n5,1,50,50\n")
    m = TraceFile(f, 2, 1.5)
    p = m.positions(np.array([0.0, 2.5, 10.0, 20.0]))
    np.testing.assert_allclose(p[0, :, 0], [0, 25, 100, 100])
    np.testing.assert_allclose(p[1, :, :2], [[50, 50]] * 4)
    assert np.allclose(m.velocities(np.array([3.0]))[0, 0], [10, 0, 0])
    assert np.all(p[..., 2] == 1.5)
    assert m.odometer(np.array([20.0]))[0, 0] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("t,client,x\n0,0,1\n", "header must have"),
        ("t,client,x,y\n0,0,1,1\n", "no rows for clients [1]"),
        ("t,client,x,y\n0,0,1,1\n0,1,a,1\n", "row 3"),
        ("t,client,x,y\n0,0,1,1\n0,5,1,1\n", "row 3: client 5 outside 0..1"),
        ("t,client,x,y\n0,0,1,1\n0,0,2,2\n0,1,0,0\n", "same t"),
    ],
)
def test_trace_file_errors_name_file_and_row(tmp_path, text, needle):
    f = _write(tmp_path, text)
    with pytest.raises(TraceFileError) as err:
        TraceFile(f, 2, 1.5)
    assert str(f) in str(err.value) and needle in str(err.value)


def test_presets_fill_unset_fields_and_round_trip():
    s = scenario_from_dict({"mobility": {"preset": "pedestrian", "pause_s": 1.0}})
    assert s.mobility.model == "random_waypoint" and s.mobility.speed_max_mps == 1.5
    assert s.mobility.pause_s == 1.0  # the file wins over the preset

    again = scenario_from_dict(tomllib.loads(scenario_to_toml(s)))
    assert again == s
    with pytest.raises(ScenarioError, match="speed_max_mps"):
        scenario_from_dict({"mobility": {"speed_min_mps": 5.0, "speed_max_mps": 1.0}})
    with pytest.raises(ScenarioError, match=r"needs mobility\.trace_file"):
        scenario_from_dict({"mobility": {"model": "trace"}})


def test_trace_path_is_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "t,client,x,y\n0,0,1,1\n")
    f = tmp_path / "sub" / "s.toml"
    f.write_text('[mobility]\nmodel = "trace"\ntrace_file = "trace.csv"\n')
    s = load_scenario(f)
    assert s.mobility.trace_file == str((tmp_path / "sub" / "trace.csv").resolve())


def test_highway_cars_keep_their_lane_direction_and_speed_and_turn_back_at_the_edge():
    from cosim.mobility import Highway, highway_lanes

    rng = np.random.default_rng(0)
    start = np.column_stack(
        [rng.uniform(-300, 300, 40), rng.uniform(-300, 300, 40), np.full(40, 1.5)]
    )
    lanes = highway_lanes(start, 100.0)
    assert np.allclose(lanes[:, 0], start[:, 0])
    assert set(np.round(lanes[:, 1] - 100.0, 2)) == {-5.25, -1.75, 1.75, 5.25}
    paths = Highway(lanes, lambda b: np.random.default_rng(b), 400.0, 20.0, 30.0)
    t = np.linspace(0.0, 5.0, 11)
    pos, vel = paths.positions(t), paths.velocities(t)
    assert np.allclose(pos[:, :, 1], lanes[:, 1:2])  # never leaves its lane
    east = np.arange(40) % 4 < 2
    early = vel[:, 0, 0]
    assert (early[east] > 0).all() and (early[~east] < 0).all()
    speed = np.abs(early)
    assert ((speed >= 20.0) & (speed <= 30.0)).all()
    far = paths.positions(np.array([200.0]))[:, 0]
    assert (np.hypot(far[:, 0], far[:, 1]) <= 400.0 + 1e-6).all()  # turned back at the edge


@pytest.mark.parametrize("name", ["linear", "random_waypoint"])
def test_motion_is_positions_and_velocities_in_one_lookup(name):
    m = MODELS[name]()
    t, sub = np.arange(3.0, 90.0, 0.7), np.array([0, 7, 150])
    p, v = m.motion(t, sub)
    np.testing.assert_array_equal(p, m.positions(t, sub))
    np.testing.assert_array_equal(v, m.velocities(t, sub))
