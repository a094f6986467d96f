"""Figures of a run folder, drawn headless from its tables and events (`wfl-cosim plot`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cosim.analysis.channel_figures import draw_positions, draw_snr, draw_trace_snr
from cosim.analysis.figure import (
    ROUND_NUMBERS,
    STYLE,
    FigureOptions,
    PlotError,
    plt,
    read_events,
    read_npz,
    read_table,
    save,
)
from cosim.analysis.round_figures import draw_accuracy, draw_misses
from cosim.analysis.timeline import draw_timeline
from cosim.outputs.channel_npz import is_trace
from cosim.scenario.files import excerpt

NEEDED = ("rounds.csv", "events.jsonl")
FIGURES = ("accuracy", "timeline", "misses", "positions", "snr")  # the last two: channel.npz


def plot_run(
    run_dir: str | Path, opts: FigureOptions | None = None, only: str | None = None
) -> list[Path]:
    """Write accuracy, timeline and misses into ``run_dir`` — and positions and snr when the
    run kept its channel.npz — in ``opts``' format and width (or just the figure ``only``);
    returns their paths."""
    opts = opts or FigureOptions()
    if only is not None and only not in FIGURES:
        raise PlotError(f"--only {only!r}: one of {', '.join(FIGURES)}")
    run_dir = Path(run_dir)
    opts = replace(opts, prefix=run_dir.name)
    if is_trace(run_dir):
        return _plot_trace(run_dir, opts, only)
    missing = [n for n in NEEDED if not (run_dir / n).is_file()]
    if not run_dir.is_dir() or missing:
        raise PlotError(
            f"{run_dir}: not a run folder (missing {', '.join(missing) or 'the folder'}); "
            "give the --out folder of a finished `wfl-cosim run`"
        )
    rounds = read_table(run_dir / "rounds.csv", ROUND_NUMBERS)
    if not rounds:
        raise PlotError(f"{run_dir}/rounds.csv: no rounds recorded (did the run finish?)")
    events = read_events(run_dir / "events.jsonl")
    wanted = only in (None, "positions", "snr") and (run_dir / "channel.npz").is_file()
    channel = read_npz(run_dir / "channel.npz") if wanted else None
    if only in ("positions", "snr") and channel is None:
        raise PlotError(f"{run_dir}: --only {only} needs channel.npz (output.channel = true)")
    draw = {
        "accuracy": lambda: draw_accuracy(rounds, events, opts),
        "timeline": lambda: draw_timeline(events, len(rounds), opts),
        "misses": lambda: draw_misses(rounds, events, opts),
    }
    if channel is not None:  # written when output.channel = true
        draw["positions"] = lambda: draw_positions(run_dir, channel, opts)
        draw["snr"] = lambda: draw_snr(channel, events, len(rounds), opts)
    try:
        return _draw(run_dir, draw, opts, only)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, PlotError):
            raise
        raise PlotError(
            f"{run_dir}: its events or tables do not hold what the figures need "
            f"({type(exc).__name__}: {excerpt(exc, 60)}); was the folder edited?"
        ) from None


def _draw(run_dir: Path, draw: dict, opts: FigureOptions, only: str | None) -> list[Path]:
    """Draw and save the figures of ``draw`` (name -> figure maker), or just ``only``."""
    with plt.style.context(STYLE):
        return [save(f(), run_dir, name, opts) for name, f in draw.items() if only in (None, name)]


def _plot_trace(run_dir: Path, opts: FigureOptions, only: str | None) -> list[Path]:
    """A `wfl-cosim trace` folder: its positions and SNR figures (there are no rounds)."""
    if only not in (None, "positions", "snr"):
        raise PlotError(f"{run_dir}: a channel trace has no {only} figure (positions, snr)")
    channel = read_npz(run_dir / "channel.npz")
    draw = {
        "positions": lambda: draw_positions(run_dir, channel, opts),
        "snr": lambda: draw_trace_snr(channel, opts),
    }
    return _draw(run_dir, draw, opts, only)
