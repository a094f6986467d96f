"""The `wfl-cosim` group and its single-run commands: validate, run, trace, plot, compare (the
many-point ones, sweep and study, are in cosim.cli.batch)."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import click
from tqdm.contrib.logging import logging_redirect_tqdm

from cosim.analysis.compare import compare_runs
from cosim.analysis.figure import FigureOptions, PlotError, parse_rounds
from cosim.analysis.grid_plots import grid_file, plot_grid, plot_sweep
from cosim.analysis.plots import FIGURES, plot_run
from cosim.analysis.study_plots import is_study, plot_study
from cosim.cli.batch import study_cmd, sweep_cmd
from cosim.cli.options import (
    COMPARE_SHOWN,
    fail,
    figure_options,
    load,
    out_option,
    plugin_option,
    seed_option,
    set_option,
    with_seed,
)
from cosim.running.checkpoint import CheckpointError
from cosim.running.runner import RunDirError, resume, run, timing
from cosim.running.trace import trace_channel
from cosim.scenario import ScenarioError, load_scenario
from cosim.scenario.registry import ContractError
from cosim.world.inputs import check_inputs
from cosim.world.memory import check_memory


@click.group()
@click.version_option(package_name="wfl-cosim")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="info: build steps and one line per round; debug: every event as it happens.",
)
def main(log_level: str) -> None:
    """Discrete-event co-simulator for wireless federated LoRA fine-tuning."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("cosim").setLevel(log_level.upper())  # not every library's debug


@main.command("validate")
@click.argument("scenario", type=click.Path(path_type=Path))
@set_option("Override a field (repeatable); validated like the file.")
@plugin_option()
def validate_cmd(scenario: Path, overrides: tuple[str, ...], plugins: tuple[str, ...]) -> None:
    """Check SCENARIO (and overrides) without running it."""
    load(plugins)
    try:
        s = load_scenario(scenario, overrides)
        check_inputs(s, str(scenario))  # the files it names are loaded too (not run)
        memory = check_memory(s, str(scenario))
    except ScenarioError as exc:
        fail(str(exc))
    until = f" or {s.run.max_time_s:g} s simulated" if s.run.max_time_s else ""
    protocol = {
        "sync": "",
        "first-k": f", first-k k={s.aggregate_k}",
        "fedasync": f", fedasync with {s.concurrency} busy",
        "fedbuff": f", fedbuff with {s.concurrency} busy, buffer {s.buffer_size}",
    }[s.server.protocol]
    click.echo(
        f"{scenario}: valid ({s.run.rounds} rounds{until}, {s.clients.count} clients, "
        f"{s.clients.per_round} per round{protocol}, channel {s.channel.model}, "
        f"strategy {s.strategy.name}, deadline {s.deadline.seconds} s)"
    )
    click.echo(memory.summary())


@main.command("run")
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@out_option("Run folder (default: runs/<scenario name>).")
@seed_option()
@set_option("Override a field (repeatable); validated like the file.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs in an existing run folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue the killed run in this folder from its last checkpoint (no SCENARIO).",
)
@plugin_option()
def run_cmd(
    scenario: Path | None,
    out: Path | None,
    seed: int | None,
    overrides: tuple[str, ...],
    overwrite: bool,
    quiet: bool,
    resume_dir: Path | None,
    plugins: tuple[str, ...],
) -> None:
    """Run SCENARIO and write its run folder, or continue one with --resume RUN_DIR."""
    load(plugins)
    if (scenario is None) == (resume_dir is None):
        fail("give a SCENARIO to run, or --resume RUN_DIR to continue a run (not both)")
    if resume_dir is not None and (out or seed is not None or overrides or overwrite):
        fail(
            "--resume continues a run as it was: --out, --seed, --set and --overwrite do not apply"
        )
    sets = with_seed(overrides, seed)
    try:
        with logging_redirect_tqdm():
            if resume_dir is not None:
                out = resume_dir
                result = resume(resume_dir, progress=not quiet)
            else:
                out = out or Path("runs") / scenario.stem
                s = load_scenario(scenario, sets)
                result = run(s, out, overwrite=overwrite, progress=not quiet, source=str(scenario))
    except (ScenarioError, RunDirError, CheckpointError, ContractError) as exc:
        fail(str(exc))
    except OSError as exc:  # a full disk, a folder made read-only mid-run, ...
        where = exc.filename or out
        fail(
            f"{where}: {exc.strerror or exc}; the files written so far are intact; once the "
            f"cause is fixed, `wfl-cosim run --resume {out}` continues from the last checkpoint"
        )
    except SystemExit as exc:  # not click's: something the run called (a plugin) exited
        fail(f"the run was ended by sys.exit({exc.code!r}) from a plugin; nothing is complete")
    s = result.scenario
    t = timing(result)
    last = result.rounds[-1]
    quality = (
        "LEARNING-FREE run (fl.mode = surrogate): nothing trained, no accuracy"
        if s.fl.mode == "surrogate"
        else f"final accuracy {result.final_accuracy:.3f}"
    )
    click.echo(
        f"done: {len(result.rounds)} {'global versions' if s.server.is_async else 'rounds'} in "
        f"{last['t_end']:.2f} s simulated; {quality}; "
        f"on-time uploads {result.on_time_share:.0%}; {result.event_count} events\n"
        f"host wall time {t['wall_s']:.1f} s (setup {t['build_s']:.1f}, training "
        f"{t['train_s']:.1f}, evaluation {t['eval_s']:.1f}, engine+I/O "
        f"{t['engine_and_io_s']:.1f})\n"
        f"outputs in {out}/: scenario.toml events.jsonl rounds.csv clients.csv timing.json"
        + (" channel.npz" if s.output.channel else "")
    )


@main.command("trace")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.0, min_open=True),
    required=True,
    help="Simulated seconds to trace: every client, every channel.dt step of [0, S).",
)
@out_option("Trace folder (default: traces/<scenario name>).")
@seed_option()
@set_option("Override a field (repeatable); validated like the file.")
@click.option("--overwrite", is_flag=True, help="Replace the outputs in an existing folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@plugin_option()
def trace_cmd(
    scenario: Path,
    seconds: float,
    out: Path | None,
    seed: int | None,
    overrides: tuple[str, ...],
    overwrite: bool,
    quiet: bool,
    plugins: tuple[str, ...],
) -> None:
    """The channel of SCENARIO alone (no learning): channel.npz with every client at every
    step, SNR at the full channel.bandwidth_hz; the values any run of it sees."""
    load(plugins)
    sets = with_seed(overrides, seed)
    out = out or Path("traces") / scenario.stem
    try:
        s = load_scenario(scenario, sets)
        result = trace_channel(s, seconds, out, overwrite, progress=not quiet, source=str(scenario))
    except (ScenarioError, RunDirError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    click.echo(
        f"traced {result.clients} clients x {result.steps} steps of {s.channel.dt} s "
        f"({s.channel.model}, seed {s.run.seed}) in {result.wall_s:.1f} s host time\n"
        f"outputs in {out}/: scenario.toml channel.npz (SNR at the full band, "
        f"{s.channel.bandwidth_hz:g} Hz)"
    )


@main.command("plot")
@click.argument("run_dir", type=click.Path(path_type=Path), metavar="RUN_DIR|SWEEP_DIR|STUDY_DIR")
@figure_options
@click.option("--only", type=click.Choice(FIGURES), default=None, help="Draw one figure.")
@click.option(
    "--rounds",
    "window",
    default=None,
    metavar="A:B",
    help="Timeline and snr: rounds A to B (default: all, or the first 20 of a longer run).",
)
@click.option("--x", "x", default=None, help="Sweep/study: the grid key on the x axis.")
@click.option("--y", "y", default=None, help="Sweep/study: the run metric drawn (with --x).")
@click.option("--hue", default=None, help="Sweep/study: one line per value of this key.")
def plot_cmd(
    run_dir: Path,
    fmt: str,
    width: float | None,
    no_title: bool,
    only: str | None,
    window: str | None,
    x: str | None,
    y: str | None,
    hue: str | None,
) -> None:
    """Draw the figures of RUN_DIR, a trace folder, a sweep or a study folder (written into
    it, in --format at --width); --x KEY --y METRIC [--hue KEY] draws one metric of a sweep or
    study against a grid key."""
    skipped: list[str] = []
    try:
        opts = FigureOptions(fmt, width, not no_title, parse_rounds(window))
        grid = grid_file(run_dir) is not None
        if (x is None) != (y is None) or (hue is not None and x is None):
            fail("--x KEY and --y METRIC go together (and --hue with them)")
        if x is not None and not grid:
            fail(f"--x/--y: {run_dir} is not a sweep or study folder")
        if (only is not None or window is not None) and grid:
            flag = f"--only {only}" if only is not None else f"--rounds {window}"
            fail(f"{flag}: for a run folder's figures; a sweep or study folder has its own")
        if x is not None:
            paths = [plot_grid(run_dir, x, y, hue, opts)]
        elif is_study(run_dir):
            paths, skipped = plot_study(run_dir, opts)
        elif grid:
            paths, skipped = plot_sweep(run_dir, opts)
        else:
            paths = plot_run(run_dir, opts, only)
    except PlotError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or run_dir}: cannot write the figures ({exc.strerror})")
    click.echo("wrote " + " ".join(str(p) for p in paths))
    if skipped:
        click.echo(f"no figure for {', '.join(skipped)}: no run has a value (learning-free?)")


@main.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--target",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Accuracy whose first reaching time is reported.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("compare.csv"),
    show_default=True,
    help="CSV table; the overlaid curves go beside it (compare.<format>).",
)
@figure_options
def compare_cmd(
    run_dirs: tuple[Path, ...],
    target: float,
    out: Path,
    fmt: str,
    width: float | None,
    no_title: bool,
) -> None:
    """One table (on screen the main columns; the CSV has every run metric) and overlaid
    accuracy curves of several RUN_DIRS."""
    if not math.isfinite(target) or not 0.0 <= target <= 1.0:
        fail(f"--target {target}: an accuracy in [0, 1]")
    if out.is_dir():
        fail(f"--out {out}: is a folder; give the CSV file to write (e.g. {out}/compare.csv)")
    try:
        opts = FigureOptions(fmt, width, not no_title)
        rows, figure = compare_runs(list(run_dirs), target, out, opts)
    except PlotError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: cannot write the comparison ({exc.strerror})")
    cells = [
        [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in COMPARE_SHOWN]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COMPARE_SHOWN)]
    for row in [list(COMPARE_SHOWN), *cells]:
        click.echo(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    click.echo(f"wrote {out} {figure}")


main.add_command(sweep_cmd)
main.add_command(study_cmd)
