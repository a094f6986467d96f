"""What the commands share: the --set, --plugin and --rerun-changed options, the usage-error
exit (code 2) and the plugin loading."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cosim.analysis.figure import FORMATS
from cosim.plugins import load_plugins
from cosim.scenario.registry import RegistryError

USAGE_ERROR = 2


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(USAGE_ERROR)


def seed_option():
    """``--seed N``: run.seed for this invocation."""
    return click.option(
        "--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Override run.seed."
    )


def out_option(help_text: str):
    """``--out DIR``: the folder a command writes (None: the command's default)."""
    return click.option("--out", type=click.Path(path_type=Path), default=None, help=help_text)


def figure_options(command):
    """``--format``, ``--width`` and ``--no-title``, as plot and compare take them."""
    for option in reversed(
        [
            click.option(
                "--format", "fmt", type=click.Choice(FORMATS), default="png", show_default=True
            ),
            click.option(
                "--width",
                type=float,
                default=None,
                help="Figure width in inches (3.5 = one IEEE column, 7.16 = two); "
                "default: screen size.",
            ),
            click.option(
                "--no-title", is_flag=True, help="No titles (captions belong to the paper)."
            ),
        ]
    ):
        command = option(command)
    return command


def set_option(help_text: str):
    """The repeatable ``--set section.key=value`` option, as every command takes it."""
    return click.option(
        "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help=help_text
    )


def plugin_option():
    """The repeatable ``--plugin`` option: modules or .py files registering custom components."""
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="MODULE|FILE.py",
        help="Import this first (repeatable): it registers custom mobility models, "
        "allocators or strategies (cosim.register_*) that the scenario names.",
    )


SHOWN = ("final_accuracy", "mbit_up", "miss_rate", "sim_time_s")  # a point's line on screen
COMPARE_SHOWN = ("run", "mode", "rounds", "final_accuracy", "time_to_target_s", *SHOWN[1:])


def rerun_changed_option():
    """``--rerun-changed``: replace point folders that hold runs of another scenario."""
    return click.option(
        "--rerun-changed",
        is_flag=True,
        help="Re-run (replacing them) points whose folders hold a run of another scenario or "
        "other input files; without it such points are refused, naming the fields that differ.",
    )


def load(plugins: tuple[str, ...]) -> None:
    try:
        load_plugins(plugins)
    except RegistryError as exc:
        fail(str(exc))


def with_seed(overrides: tuple[str, ...], seed: int | None) -> list[str]:
    """The --set overrides, then --seed as run.seed where given (it wins over a --set)."""
    return [*overrides] + ([f"run.seed={seed}"] if seed is not None else [])
