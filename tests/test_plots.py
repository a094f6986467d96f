"""`wfl-cosim plot`: figures of a run folder, and a clear error for anything else."""

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


@pytest.mark.parametrize("kind", ["trained", "learning-free"])
@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_every_figure_at_column_width_keeps_its_text_at_7_pt(
    tiny_run, lf_run, tmp_path, monkeypatch, kind, fmt
):
    """At 3.5 in (one IEEE column) every text of every figure is 7 pt or more — read from the
    figures' own artists — and each is written in the format asked for, fonts embedded."""
    from matplotlib.text import Text

    import cosim.analysis.plots as plots
    from cosim.analysis.figure import FigureOptions

    src = tiny_run[0] if kind == "trained" else lf_run
    out = _copy_run(src, tmp_path / "run")
    seen = {}
    real_save = plots.save

    def checking_save(fig, folder, name, opts):
        assert fig.get_size_inches()[0] == pytest.approx(3.5)
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        seen[name] = min(t.get_fontsize() for t in texts)
        return real_save(fig, folder, name, opts)

    monkeypatch.setattr(plots, "save", checking_save)
    paths = plot_run(out, FigureOptions(fmt, 3.5, title=False))
    assert [p.name for p in paths] == [f"{n}.{fmt}" for n in plots.FIGURES]
    assert all(size >= 7.0 for size in seen.values()), seen
    for p in paths:
        data = p.read_bytes()
        if fmt == "pdf":
            assert data[:5] == b"%PDF-" and b"/FontFile2" in data  # TrueType embedded
        elif fmt == "svg":
            assert b"<svg" in data[:500] and b"<text" not in data  # glyphs as paths
        else:
            assert data[:8] == b"\x89PNG\r\n\x1a\n"


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


def _figure(tiny_run, tmp_path, monkeypatch, only):
    """The one figure ``only`` of a copy of the tiny run, as drawn (before it is saved)."""
    import shutil

    import cosim.analysis.plots as plots

    copy = tmp_path / "run"
    shutil.copytree(tiny_run[0], copy)
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, folder, name, opts: figures.append(fig))
    plots.plot_run(copy, only=only)
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
    assert ax.get_ylabel() == "scheduled clients"


def test_positions_name_every_client_and_draw_the_cell_edge(tiny_run, tmp_path, monkeypatch):
    import matplotlib.patches

    _, fig = _figure(tiny_run, tmp_path, monkeypatch, "positions")
    (ax,) = fig.axes
    labels = {t.get_text() for t in ax.texts}
    assert {"0", "1", "2", "3"} <= labels  # tiny.toml's four clients, each named
    circles = [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]
    assert [c.get_radius() for c in circles] == [600.0]  # tiny.toml's clients.area_radius_m
