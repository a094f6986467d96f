"""Every figure `wfl-cosim plot` and `compare` write, at one IEEE column (3.5 in) in each
format, for a trained run, a learning-free run, a sweep and a study folder: text of 7 pt or
more, nothing drawn outside the canvas, legends off the data — read from the figures' own
artists as they are saved."""

import shutil
from pathlib import Path

import matplotlib.figure
import pytest
from click.testing import CliRunner
from conftest import TINY
from matplotlib.text import Text

from cosim.cli import main

STUDY = f"""
[study]
scenario = "{TINY}"
seeds = 2
reference = "equal"
metrics = ["miss_rate", "mbit_up"]
set = {{ "fl.mode" = "surrogate" }}
[variants.equal]
set = {{ "allocation.name" = "equal" }}
[variants.minmax]
set = {{ "allocation.name" = "minmax" }}
[axes]
"deadline.seconds" = [0.8, 1.0]
"""


@pytest.fixture(scope="module")
def folders(tiny_run, tmp_path_factory):
    """kind -> (folder, extra plot arguments) for every kind of folder `plot` draws."""
    root = tmp_path_factory.mktemp("figures")
    lf = root / "learning-free"
    res = CliRunner().invoke(
        main, ["run", str(TINY), "--out", str(lf), "--set", "fl.mode=surrogate"]
    )
    assert res.exit_code == 0, res.output
    sweep = root / "sweep"
    grid = ["--grid", "deadline.seconds=0.8,1.0", "--grid", "allocation.name=equal,minmax"]
    args = ["sweep", str(TINY), *grid, "--set", "fl.mode=surrogate", "--out", str(sweep)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    study_file = root / "s.toml"
    study_file.write_text(STUDY, encoding="utf-8")
    study = root / "study"
    res = CliRunner().invoke(main, ["study", str(study_file), "--out", str(study), "--quiet"])
    assert res.exit_code == 0, res.output
    return {
        "trained": (tiny_run[0], []),
        "learning-free": (lf, []),
        "sweep": (sweep, []),
        "sweep --x --y --hue": (
            sweep,
            ["--x", "deadline.seconds", "--y", "mbit_up", "--hue", "allocation.name"],
        ),
        "study": (study, []),
        "study --x --y --hue": (
            study,
            ["--x", "deadline.seconds", "--y", "miss_rate", "--hue", "variant"],
        ),
    }


def layout_faults(fig) -> list[str]:
    """What makes ``fig`` unreadable at its size: text under 7 pt, anything drawn beyond the
    canvas, a legend over an axes' data area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    faults = []
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    faults += [f"{t.get_text()!r} at {t.get_fontsize()} pt" for t in texts if t.get_fontsize() < 7]
    w, h = fig.get_size_inches()
    tight = fig.get_tightbbox(renderer)
    if tight.x0 < -0.01 or tight.y0 < -0.01 or tight.x1 > w + 0.01 or tight.y1 > h + 0.01:
        faults.append(f"drawn beyond the {w:.2f} x {h:.2f} in canvas: {tight.bounds}")
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if box.overlaps(ax.get_window_extent(renderer)):
                faults.append(f"a legend over the axes of {ax.get_ylabel()!r}")
    return faults


@pytest.fixture
def saved(monkeypatch):
    """name -> layout faults of every figure saved while the test runs (checked as saved)."""
    seen = {}
    real = matplotlib.figure.Figure.savefig

    def checking(fig, path, *args, **kwargs):
        assert fig.get_size_inches()[0] == pytest.approx(3.5), path
        seen[str(path)] = layout_faults(fig)
        return real(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", checking)
    return seen


KINDS = ["trained", "learning-free", "sweep", "sweep --x --y --hue", "study", "study --x --y --hue"]


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_at_column_width_is_readable(folders, saved, tmp_path, kind, fmt):
    src, extra = folders[kind]
    folder = shutil.copytree(src, tmp_path / src.name)
    args = ["plot", str(folder), "--format", fmt, "--width", "3.5", "--no-title", *extra]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    written = res.output.splitlines()[0].removeprefix("wrote ").split()
    expected = {"trained": 5, "learning-free": 5, "sweep": 3, "study": 4}.get(kind, 1)
    assert len(written) == expected and sorted(saved) == sorted(written)
    assert all(p.endswith(f".{fmt}") for p in written)
    faults = [f"{p.rsplit('/', 1)[-1]}: {f}" for p, fs in saved.items() for f in fs]
    assert not faults, "\n".join(faults)
    for p in written:
        data = Path(p).read_bytes()
        if fmt == "pdf":
            assert data[:5] == b"%PDF-" and b"/FontFile2" in data  # TrueType embedded
        elif fmt == "svg":
            assert b"<svg" in data[:500] and b"<text" not in data  # glyphs as paths
        else:
            assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_of_trained_and_learning_free_runs_at_column_width(folders, saved, tmp_path):
    """compare.pdf has a panel per kind of run (accuracy; sparsification error) and labels
    the runs by the field that differs, never by two equal folder names."""
    trained, lf = folders["trained"][0], folders["learning-free"][0]
    out = tmp_path / "c.csv"
    args = ["compare", str(trained), str(lf), "--out", str(out), "--format", "pdf"]
    res = CliRunner().invoke(main, [*args, "--width", "3.5", "--no-title"])
    assert res.exit_code == 0, res.output
    assert list(saved) == [str(tmp_path / "c.pdf")] and saved[str(tmp_path / "c.pdf")] == []


def test_the_layout_check_finds_a_legend_over_data_and_small_text():
    """The check above can fail: a legend inside the axes and 6 pt text are found."""
    from cosim.analysis.figure import plt

    fig, ax = plt.subplots(figsize=(3.5, 2.5), constrained_layout=True)
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend(loc="upper left")
    ax.set_xlabel("tiny", fontsize=6)
    faults = layout_faults(fig)
    plt.close(fig)
    assert any("legend over" in f for f in faults) and any("6" in f for f in faults)
