"""`wfl-cosim study`: paired multi-seed points, their statistics against hand computation, resume,
and every bad study input refused (exit 2) before anything runs."""

import csv
import math
import shutil

import pytest
from click.testing import CliRunner
from conftest import TINY

from cosim.analysis.study_stats import excludes_zero, summarise_study
from cosim.cli import main
from cosim.outputs.summary import RUN_METRICS

T_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)
T_3 = 3.182446305284263  # ... 3 degrees of freedom

STUDY = f"""
[study]
scenario = "{TINY}"
seeds = 3
reference = "equal"
metrics = ["miss_rate", "mbit_up", "final_accuracy"]
set = {{ "fl.mode" = "surrogate" }}
[variants.equal]
set = {{ "allocation.name" = "equal" }}
[variants.minmax]
set = {{ "allocation.name" = "minmax" }}
"""


def _rows(path):
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_statistics_equal_hand_computation():
    ref = [0.50, 0.70, 0.60, 0.90]
    var = [0.60, 0.75, 0.80, 0.95]
    rows = [dict(variant="a", seed=s, x=v, m=ref[s]) for s, v in enumerate(ref)]
    rows += [dict(variant="b", seed=s, x=v, m=var[s]) for s, v in enumerate(var)]
    rows.append(dict(variant="b", seed=9, x=1.0, m=""))  # no reference at seed 9; m empty
    stats = summarise_study(rows, ["m"], [], "a")
    a, b = stats
    mean = sum(ref) / 4
    sd = math.sqrt(sum((v - mean) ** 2 for v in ref) / 3)
    assert a["n"] == 4 and a["mean"] == pytest.approx(mean) and a["std"] == pytest.approx(sd)
    half = T_3 * sd / 2
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((mean - half, mean + half))
    assert math.isnan(a["diff_mean"]) and math.isnan(a["p_value"])  # the reference itself
    d = [v - r for v, r in zip(var, ref, strict=True)]  # seed 9 has no m: left out
    dm = sum(d) / 4
    dsd = math.sqrt(sum((x - dm) ** 2 for x in d) / 3)
    t = dm / (dsd / 2)
    assert b["n"] == 4 and b["diff_mean"] == pytest.approx(dm)
    assert (b["diff_ci_low"], b["diff_ci_high"]) == pytest.approx(
        (dm - T_3 * dsd / 2, dm + T_3 * dsd / 2)
    )
    x = math.atan(abs(t) / math.sqrt(3))
    cdf = 0.5 + (x + math.sin(x) * math.cos(x)) / math.pi  # Student t, 3 dof, exact
    assert b["p_value"] == pytest.approx(2 * (1 - cdf))
    assert excludes_zero(b) == (b["diff_ci_low"] > 0)


def test_three_seeds_use_two_degrees_of_freedom_and_one_seed_gives_no_interval():
    rows = [dict(variant="a", seed=s, m=v) for s, v in enumerate([1.0, 2.0, 4.0])]
    (r,) = summarise_study(rows, ["m"], [], "a")
    sd = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    assert r["ci_high"] - r["mean"] == pytest.approx(T_2 * sd / math.sqrt(3))
    (one,) = summarise_study([dict(variant="a", seed=1, m=3.0)], ["m"], [], "a")
    assert one["n"] == 1 and one["mean"] == 3.0 and math.isnan(one["ci_low"])


def test_study_runs_paired_points_writes_tables_and_resumes_a_removed_point(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY + '[axes]\n"deadline.seconds" = [0.8, 1.0]\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["study", str(study), "--out", str(out), "--workers", "2", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    points = _rows(out / "points.csv")
    assert len(points) == 2 * 2 * 3
    assert set(RUN_METRICS) <= set(points[0]) and "deadline.seconds" in points[0]
    assert all(p["status"] == "ran" for p in points)
    assert all(p["final_accuracy"] == "" for p in points)  # learning-free: empty, never 0
    seeds: dict[str, set[str]] = {}
    for p in points:  # every point's folder runs its seed, with its variant's allocator
        text = (out / p["point"] / "scenario.toml").read_text(encoding="utf-8")
        assert f"seed = {p['seed']}\n" in text and f'name = "{p["variant"]}"' in text
        seeds.setdefault(p["deadline.seconds"], set()).add(p["seed"])
    assert all(s == {"1", "2", "3"} for s in seeds.values())
    stats = _rows(out / "study.csv")
    assert len(stats) == 2 * 2 * 3  # variants x axis points x metrics
    for r in stats:  # each row's mean is the mean of its points
        vals = [
            float(p[r["metric"]])
            for p in points
            if p["variant"] == r["variant"]
            and p["deadline.seconds"] == r["deadline.seconds"]
            and p[r["metric"]] != ""
        ]
        assert int(r["n"]) == len(vals)
        if vals:
            assert float(r["mean"]) == pytest.approx(sum(vals) / len(vals))
        assert (r["p_value"] == "") or r["variant"] != "equal"
    md = (out / "study.md").read_text(encoding="utf-8")
    assert "## miss_rate" in md and "equal (reference)" in md
    res = CliRunner().invoke(main, ["plot", str(out), "--format", "pdf", "--width", "3.5"])
    assert res.exit_code == 0, res.output
    assert (out / "study_miss_rate.pdf").is_file() and (out / "study_miss_rate_diff.pdf").is_file()
    assert "no figure for final_accuracy" in res.output  # learning-free: no empty axes
    grid = ["--x", "deadline.seconds", "--y", "miss_rate", "--hue", "variant"]
    res = CliRunner().invoke(main, ["plot", str(out), *grid])  # from points.csv, seeds banded
    assert res.exit_code == 0 and (out / "miss_rate_vs_deadline.seconds_by_variant.png").is_file()
    before = (out / points[4]["point"] / "events.jsonl").read_bytes()
    shutil.rmtree(out / points[0]["point"])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    status = {p["point"]: p["status"] for p in _rows(out / "points.csv")}
    assert status[points[0]["point"]] == "ran"
    assert sum(s == "skipped (complete)" for s in status.values()) == 11
    assert (out / points[4]["point"] / "events.jsonl").read_bytes() == before
    assert _rows(out / "study.csv") == stats  # the same runs, the same statistics
    # a changed study-wide override: refused, naming the field; replaced when asked
    changed = study.read_text(encoding="utf-8").replace(
        '"fl.mode" = "surrogate"', '"fl.mode" = "surrogate", "run.rounds" = 1'
    )
    study.write_text(changed, encoding="utf-8")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "run.rounds" in res.output and "--rerun-changed" in res.output
    res = CliRunner().invoke(main, [*args, "--rerun-changed"])
    assert res.exit_code == 0, res.output
    assert {p["status"] for p in _rows(out / "points.csv")} == {"ran"}


def test_zipped_axes_move_together(tmp_path):
    study = tmp_path / "s.toml"
    zipped = (
        '[axes.zip]\n"mobility.speed_min_mps, mobility.speed_max_mps" = [[0.0, 0.0], [8.3, 8.3]]\n'
    )
    study.write_text(STUDY.replace("seeds = 3", "seeds = [5]") + zipped, encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["study", str(study), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    points = _rows(out / "points.csv")
    assert [p["mobility.speed_min_mps"] for p in points] == ["0.0", "8.3", "0.0", "8.3"]
    for p in points:
        text = (out / p["point"] / "scenario.toml").read_text(encoding="utf-8")
        v = p["mobility.speed_min_mps"]
        assert f"speed_min_mps = {v}\n" in text and f"speed_max_mps = {v}\n" in text


@pytest.mark.parametrize(
    "change, words",
    [
        (("seeds = 3", "seeds = 3\nrepeats = 2"), ["study.repeats", "not permitted"]),
        (
            ('"allocation.name" = "minmax"', '"allocation.name" = "nosuch"'),
            ["variants.minmax.set", "allocation.name", "nosuch"],
        ),
        (('"miss_rate", ', '"miss_rat", '), ["study.metrics", "miss_rat", "run summary field"]),
        (
            ('reference = "equal"', 'reference = "tsfa"'),
            ["study.reference", "tsfa", "not a variant"],
        ),
        (
            ('"fl.mode" = "surrogate"', '"fl.mode" = "surrogate", "run.seed" = 3'),
            ["study.set", "run.seed"],
        ),
        (("seeds = 3", "seeds = 0"), ["study.seeds"]),
        (
            ("[variants.equal]", '[axes]\n"deadline.seconds" = [0.8, -1.0]\n[variants.equal]'),
            ["axes.deadline.seconds", "-1.0"],
        ),
    ],
)
def test_a_bad_study_input_exits_2_before_anything_runs(tmp_path, change, words):
    study = tmp_path / "bad.toml"
    study.write_text(STUDY.replace(*change), encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["study", str(study), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert str(study) in res.output
    for w in words:
        assert w in res.output, (w, res.output)
    assert not out.exists()


@pytest.mark.parametrize(
    "path", sorted((TINY.parent / "studies").glob("*.toml")), ids=lambda p: p.name
)
def test_every_shipped_study_validates_every_point(path, tmp_path):
    from cosim.running.study_file import load_study, points

    study = load_study(path)
    todo = points(study, tmp_path)
    assert len(todo) == len(study.variants) * len(study.axis_points()) * len(study.seeds)
    assert not any(tmp_path.iterdir())  # validating writes nothing
