"""`wfl-cosim plot`: figures of a run folder, and a clear error for anything else."""

import numpy as np
import pytest
from click.testing import CliRunner

from cosim.analysis.plots import plot_run
from cosim.cli import main


def test_plot_writes_the_figures_of_a_run(tiny_run):
    out, _ = tiny_run
    paths = plot_run(out)
    names = ["accuracy.png", "timeline.png", "misses.png", "positions.png", "snr.png"]
    assert [p.name for p in paths] == names  # the tiny run keeps its channel.npz
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000


def test_plot_of_a_folder_that_is_no_run_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "not a run folder" in res.output and "rounds.csv" in res.output


def test_compare_writes_one_row_per_run_and_the_curves(tiny_run, tmp_path):
    out, result = tiny_run
    res = CliRunner().invoke(
        main, ["compare", str(out), str(out), "--target", "0.0", "--out", str(tmp_path / "c.csv")]
    )
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0].startswith("run,mode,rounds,final_accuracy") and len(lines) == 3
    assert f",{result.final_accuracy}," in lines[1]
    assert (tmp_path / "c.png").stat().st_size > 5_000
    bad = CliRunner().invoke(main, ["compare", str(tmp_path)])
    assert bad.exit_code == 2 and "not a run folder" in bad.output


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def lf_run(tmp_path_factory):
    from conftest import TINY

    from cosim import load_scenario, run

    out = tmp_path_factory.mktemp("lf") / "run"
    run(load_scenario(TINY, ["fl.mode=surrogate"]), out)
    return out


def test_plot_options_on_the_command_line(tiny_run, tmp_path):
    out = _copy_run(tiny_run[0], tmp_path / "run")
    res = CliRunner().invoke(
        main,
        ["plot", str(out), "--format", "pdf", "--width", "3.5", "--no-title", "--only", "timeline"],
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"wrote {out / 'timeline.pdf'}"
    bad = CliRunner().invoke(main, ["plot", str(out), "--width", "0.2"])
    assert bad.exit_code == 2 and "--width 0.2: inches between 1 and 40" in bad.output
    bad = CliRunner().invoke(main, ["plot", str(out), "--only", "everything"])
    assert bad.exit_code == 2 and "timeline" in bad.output


def test_vector_figures_are_the_same_bytes_every_time(tiny_run, tmp_path):
    from cosim.analysis.figure import FigureOptions

    a = _copy_run(tiny_run[0], tmp_path / "a")
    b = _copy_run(tiny_run[0], tmp_path / "b")
    for fmt in ("pdf", "svg"):
        opts = FigureOptions(fmt, 3.5, title=False)  # a title would name the folder
        for pa, pb in zip(plot_run(a, opts), plot_run(b, opts), strict=True):
            assert pa.read_bytes() == pb.read_bytes(), pa.name


def _figure(tiny_run, tmp_path, monkeypatch, only, opts=None):
    """The one figure ``only`` of a copy of the tiny run, as drawn (before it is saved)."""
    import shutil

    import cosim.analysis.plots as plots

    copy = tmp_path / "run"
    shutil.copytree(tiny_run[0], copy)
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, folder, name, opts: figures.append(fig))
    plots.plot_run(copy, opts, only=only)
    return copy, figures[0]


def test_misses_are_counts_of_the_scheduled_clients(tiny_run, tmp_path, monkeypatch):
    """misses.png stacks counts (on time, upload cut, training late, rejected) that add up to
    the clients scheduled in each round, with rounds.csv's on-time count at the bottom."""
    import csv

    copy, fig = _figure(tiny_run, tmp_path, monkeypatch, "misses")
    (ax,) = fig.axes
    rows = list(csv.DictReader((copy / "rounds.csv").open()))
    totals = {}
    for bars in ax.containers:
        for rect in bars:
            key = round(rect.get_x() + rect.get_width() / 2)
            totals[key] = totals.get(key, 0) + rect.get_height()
    assert totals == {int(r["round"]): int(r["scheduled"]) for r in rows}
    on_time = [rect.get_height() for rect in ax.containers[0]]
    assert on_time == [int(r["on_time"]) for r in rows]
    assert ax.get_ylabel() == "clients"


def test_positions_name_every_client_and_draw_the_cell_edge(tiny_run, tmp_path, monkeypatch):
    import matplotlib.patches

    _, fig = _figure(tiny_run, tmp_path, monkeypatch, "positions")
    (ax,) = fig.axes
    labels = {t.get_text() for t in ax.texts}
    assert {"0", "1", "2", "3"} <= labels  # tiny.toml's four clients, each named
    circles = [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]
    assert [c.get_radius() for c in circles] == [600.0]  # tiny.toml's clients.area_radius_m


def test_timeline_cuts_an_upload_at_0_hz_from_the_upload_with_band():
    """An upload TSFA started at 0 Hz is drawn as waiting until a re-split gives it band; a
    training miss and an upload miss are told apart; round starts and deadlines are read."""
    from cosim.analysis.timeline import ran_to_deadline, read_activity

    ev = [
        {"t": 0.0, "kind": "round_start", "round": 1, "deadline": 2.0},
        {"t": 0.0, "kind": "allocation", "round": 1, "client": 3, "share": 0.0},
        {"t": 0.0, "kind": "allocation", "round": 1, "client": 4, "share": 1.0},
        {"t": 0.0, "kind": "allocation", "round": 1, "client": 5, "share": 0.0},
        {"t": 0.0, "kind": "train_start", "round": 1, "client": 3},
        {"t": 0.0, "kind": "train_start", "round": 1, "client": 4},
        {"t": 0.0, "kind": "train_start", "round": 1, "client": 5},
        {"t": 0.5, "kind": "train_end", "round": 1, "client": 3},
        {"t": 0.5, "kind": "upload_start", "round": 1, "client": 3},
        {"t": 0.6, "kind": "train_end", "round": 1, "client": 4},
        {"t": 0.6, "kind": "upload_start", "round": 1, "client": 4},
        {"t": 1.0, "kind": "upload_end", "round": 1, "client": 4},
        {"t": 1.0, "kind": "reallocation", "round": 1, "client": 4, "clients": [3],
         "after_share": [1.0]},
        {"t": 2.0, "kind": "deadline_miss", "round": 1, "client": 3, "phase": "upload"},
        {"t": 2.0, "kind": "deadline_miss", "round": 1, "client": 5, "phase": "train"},
    ]  # fmt: skip
    act = read_activity(ev, (1, 1))
    assert act.bars[3] == [(0.0, 0.5, "train"), (0.5, 1.0, "no band"), (1.0, 2.0, "upload")]
    assert act.bars[4] == [(0.0, 0.6, "train"), (0.6, 1.0, "upload")]
    assert act.bars[5] == [(0.0, 2.0, "train")]
    assert act.marks[3] == [(2.0, "upload")] and act.marks[5] == [(2.0, "train")]
    assert act.starts == {1: 0.0} and ran_to_deadline(act, 1)
    assert read_activity(ev, (2, 3)).bars == {}  # a window without the round


def test_timeline_numbers_the_rounds_and_shows_the_window_asked_for(
    tiny_run, tmp_path, monkeypatch
):
    from cosim.analysis.figure import FigureOptions

    _, fig = _figure(tiny_run, tmp_path, monkeypatch, "timeline")
    ax = fig.axes[0]
    (top,) = ax.child_axes  # the round numbers on the top axis
    assert [t.get_text() for t in top.get_xticklabels()] == ["1", "2"]
    assert ax.get_xlabel() == "simulated time [s]"
    _, fig = _figure(
        tiny_run, tmp_path / "w", monkeypatch, "timeline", FigureOptions(rounds=(2, 2))
    )
    (top,) = fig.axes[0].child_axes
    assert [t.get_text() for t in top.get_xticklabels()] == ["2"]
    assert "rounds 2–2 of 2" in fig.axes[0].get_xlabel()
    res = CliRunner().invoke(main, ["plot", str(tiny_run[0]), "--rounds", "1:9"])
    assert res.exit_code == 2 and "--rounds 1:9: the run has 2 rounds" in res.output


def test_snr_top_panel_is_the_channel_whatever_the_allocator(tmp_path, monkeypatch):
    """The top panel of snr.png is the SNR at the full band: two runs that differ only in
    their allocator draw the same values (1e-9) wherever both had the client on air, while
    the band shares below them differ."""
    from conftest import TINY

    import cosim.analysis.plots as plots
    from cosim import load_scenario, run

    panels = {}
    for name in ("equal", "minmax"):
        out = tmp_path / name
        run(load_scenario(TINY, [f"allocation.name={name}"]), out)
        drawn = []
        monkeypatch.setattr(plots, "save", lambda fig, folder, n, opts, d=drawn: d.append(fig))
        plots.plot_run(out, only="snr")
        snr_ax, share_ax, _ = drawn[0].axes
        panels[name] = (
            {ln.get_label(): ln.get_ydata() for ln in snr_ax.lines if ln.get_label()[0] != "_"},
            [ln.get_ydata() for ln in share_ax.lines if len(ln.get_ydata()) > 2],  # not the lines
        )
    (snr_a, share_a), (snr_b, share_b) = panels["equal"], panels["minmax"]
    common = set(snr_a) & set(snr_b)
    assert common
    compared = 0
    for label in common:  # both on the grid of steps from t = 0, as long as each run lasted
        n = min(len(snr_a[label]), len(snr_b[label]))
        a, b = snr_a[label][:n], snr_b[label][:n]
        both = np.isfinite(a) & np.isfinite(b)
        compared += both.sum()
        np.testing.assert_allclose(a[both], b[both], rtol=1e-9)
    assert compared > 10 and share_a and share_b
    assert any(
        not np.array_equal(a, b, equal_nan=True) for a, b in zip(share_a, share_b, strict=False)
    )


def test_accuracy_band_is_the_wilson_interval_of_the_evaluation(tiny_run, tmp_path, monkeypatch):
    from conftest import read_events
    from scipy.stats import binomtest

    copy, fig = _figure(tiny_run, tmp_path, monkeypatch, "accuracy")
    ax = fig.axes[0]
    evals = [e for e in read_events(copy) if e["kind"] == "eval"]
    (line,) = ax.lines
    assert line.get_xdata()[0] == 0.0 and len(line.get_xdata()) == len(evals)
    (band,) = ax.collections
    low = band.get_paths()[0].vertices[1 : 1 + len(evals), 1]
    for e, lo in zip(evals, low, strict=True):
        ci = binomtest(round(e["accuracy"] * e["samples"]), e["samples"]).proportion_ci(
            method="wilson"
        )
        assert lo == pytest.approx(ci.low)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"95 % binomial interval ({evals[0]['samples']} held-out samples)" in labels
    assert "partial uploads" in fig.axes[1].get_xlabel()


def test_compare_labels_runs_by_what_differs_and_starts_at_round_0(tiny_run, lf_run, tmp_path):
    from cosim.analysis.compare import run_labels

    assert run_labels([tiny_run[0], lf_run]) == ["fl.mode=train", "fl.mode=surrogate"]
    assert run_labels([tiny_run[0], tiny_run[0]]) == [str(tiny_run[0])] * 2
    res = CliRunner().invoke(
        main, ["compare", str(tiny_run[0]), str(lf_run), "--out", str(tmp_path / "c.csv")]
    )
    assert res.exit_code == 0, res.output
