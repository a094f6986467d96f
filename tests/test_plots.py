"""`wfl-cosim plot`: figures of a run folder, and a clear error for anything else."""

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
