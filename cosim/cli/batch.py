"""The commands that run many points: `sweep` (a grid of one scenario) and `study` (paired
multi-seed variants with statistics)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm.contrib.logging import logging_redirect_tqdm

from cosim.cli.options import (
    SHOWN,
    fail,
    load,
    out_option,
    plugin_option,
    rerun_changed_option,
    set_option,
)
from cosim.running.study import run_study
from cosim.running.sweep import sweep
from cosim.scenario import ScenarioError


@click.command("sweep")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--grid",
    "grid",
    multiple=True,
    required=True,
    metavar="SECTION.KEY=V1,V2",
    help="A field and its values (repeatable): the sweep is the product of all grids.",
)
@set_option("Override a field for every point (repeatable); validated like the file.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@plugin_option()
@out_option("Sweep folder (default: runs/sweep-<scenario name>); one run folder per point.")
@rerun_changed_option()
@click.option(
    "--target",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Accuracy that time_to_target_s counts to (empty without it).",
)
@click.option("--quiet", is_flag=True, help="No progress lines or bar.")
def sweep_cmd(
    scenario: Path,
    grid: tuple[str, ...],
    overrides: tuple[str, ...],
    workers: int,
    plugins: tuple[str, ...],
    out: Path | None,
    rerun_changed: bool,
    target: float | None,
    quiet: bool,
) -> None:
    """Run SCENARIO at every point of the grid; points already complete with the same scenario
    and input files are skipped, points whose folders hold another run are refused."""
    load(plugins)
    out = out or Path("runs") / f"sweep-{scenario.stem}"
    try:
        rows = sweep(
            scenario, grid, out, workers, overrides, plugins, rerun_changed, target, not quiet
        )
    except ScenarioError as exc:
        fail(str(exc))
    for r in rows:
        figures = "  ".join(
            f"{k}={r[k]:.3f}" for k in SHOWN if isinstance(r.get(k), float) and r[k] == r[k]
        )
        click.echo(f"{r['status']:>18}  {r['point']}  {figures}  {r.get('error', '')}")
    failed = [r for r in rows if r["status"] == "failed"]
    click.echo(
        f"summary: {out / 'summary.csv'}" + (f"; {len(failed)} point(s) failed" if failed else "")
    )
    if failed:
        sys.exit(1)


@click.command("study")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@out_option("Study folder (default: runs/study-<study name>); one run folder per point.")
@click.option("--quiet", is_flag=True, help="No progress lines or bar.")
@rerun_changed_option()
@plugin_option()
def study_cmd(
    study_file: Path,
    workers: int,
    out: Path | None,
    quiet: bool,
    rerun_changed: bool,
    plugins: tuple[str, ...],
) -> None:
    """Run a paired multi-seed study (STUDY.toml: scenario, seeds, variants, axes) and write
    points.csv, study.csv and study.md: means with 95 % intervals and paired differences from
    the reference variant."""
    load(plugins)
    try:
        with logging_redirect_tqdm():
            result = run_study(study_file, out, workers, plugins, rerun_changed, not quiet)
    except ScenarioError as exc:
        fail(str(exc))
    failed = result.failed
    click.echo(
        f"study: {len(result.points)} runs in {result.wall_s:.1f} s host time; wrote "
        f"{result.out_dir / 'points.csv'}, study.csv, study.md"
        + (f"; {len(failed)} point(s) failed" if failed else "")
    )
    if failed:
        sys.exit(1)
