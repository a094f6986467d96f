"""Figures of a run folder, drawn headless from its tables and events (`wfl-cosim plot`)."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from channels import Shannon
from cosim.analysis.figure import (
    ROUND_NUMBERS,
    STYLE,
    FigureOptions,
    PlotError,
    evaluated,
    plt,
    read_events,
    read_npz,
    read_table,
    save,
)
from cosim.outputs.channel_npz import ChannelFile, is_trace
from cosim.outputs.events import Kind
from cosim.outputs.tables import number
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
        "accuracy": lambda: _accuracy(run_dir, rounds, events, opts),
        "timeline": lambda: _timeline(run_dir, events, opts),
        "misses": lambda: _misses(run_dir, rounds, events, opts),
    }
    if channel is not None:  # written when output.channel = true
        draw["positions"] = lambda: _positions(run_dir, channel, opts)
        draw["snr"] = lambda: _snr(run_dir, channel, events, opts)
    try:
        with plt.style.context(STYLE):
            paths = [f() for name, f in draw.items() if only in (None, name)]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PlotError(
            f"{run_dir}: its events or tables do not hold what the figures need "
            f"({type(exc).__name__}: {excerpt(exc, 60)}); was the folder edited?"
        ) from None
    return paths


def _plot_trace(run_dir: Path, opts: FigureOptions, only: str | None) -> list[Path]:
    """A `wfl-cosim trace` folder: its positions and SNR figures (there are no rounds)."""
    if only not in (None, "positions", "snr"):
        raise PlotError(f"{run_dir}: a channel trace has no {only} figure (positions, snr)")
    channel = read_npz(run_dir / "channel.npz")
    draw = {
        "positions": lambda: _positions(run_dir, channel, opts),
        "snr": lambda: _trace_snr(run_dir, channel, opts),
    }
    with plt.style.context(STYLE):
        return [f() for name, f in draw.items() if only in (None, name)]


def _trace_snr(run_dir: Path, ch: ChannelFile, opts: FigureOptions) -> Path:
    """A trace's SNR at the full band for its first clients (up to six), one panel each."""
    a = ch.arrays
    shown = list(range(min(6, ch.num_clients)))
    fig, axes = plt.subplots(
        len(shown),
        1,
        figsize=opts.size((10, 1.8 * len(shown)), 1.1 * len(shown)),
        sharex=True,
        squeeze=False,
        constrained_layout=True,
    )
    for ax, k in zip(axes[:, 0], shown, strict=True):
        own = ch.samples(k)
        ax.plot(own["t"], own["snr_db"], lw=0.6)
        ax.set_ylabel(f"client {k}\nSNR [dB]")
        ax.grid(alpha=0.3)
    fig.supxlabel("simulated time [s]")
    band = float(a["snr_bandwidth_hz"]) / 1e6
    opts.titled(fig, f"{run_dir.name}: channel trace, SNR at the full {band:g} MHz band")
    return save(fig, run_dir, "snr", opts)


def _positions(run_dir: Path, ch: ChannelFile, opts: FigureOptions) -> Path:
    """Client paths around the base station (top view): every client's position at each
    round start joined with its positions while on air, its id and direction at the end, the
    samples on air in LoS marked, and the edge of the clients' area."""
    a = ch.arrays
    bs, dt = a["bs_position"], float(a["dt"])
    fig, ax = plt.subplots(figsize=opts.size((7, 7)), constrained_layout=True)
    colours = plt.get_cmap("tab20").colors  # 20 distinct, so 20 clients are told apart
    for k in range(ch.num_clients):
        on_air = ch.samples(k)
        t = np.concatenate([a["round_t"], on_air["t"]])
        xy = np.concatenate([a["round_positions"][:, k, :2], on_air["positions"][:, :2]])
        xy = xy[np.argsort(t, kind="stable")]
        colour = colours[k % len(colours)]
        ax.plot(xy[:, 0], xy[:, 1], lw=1, color=colour)
        los = on_air["positions"][on_air["los"] == 1]
        ax.plot(los[:, 0], los[:, 1], "+", ms=3, mew=0.6, color="black")
        if len(xy):
            ax.plot(xy[0, 0], xy[0, 1], "o", ms=3, color="black")
            _direction(ax, xy, colour)
            ax.annotate(str(k), xy[-1], xytext=(3, 3), textcoords="offset points", fontsize=7)
    radius = _area_radius(run_dir)
    if radius is not None:
        edge = plt.Circle(bs[:2], radius, fill=False, ls="--", lw=0.8, color="grey")
        ax.add_patch(edge)
        ax.plot([], [], ls="--", lw=0.8, color="grey", label=f"clients' area ({radius:g} m)")
    ax.plot(bs[0], bs[1], "^", ms=12, color="red", label="base station")
    ax.plot([], [], "o", ms=3, color="black", label="client at t = 0 (id at its last position)")
    ax.plot([], [], "+", ms=4, mew=0.6, color="black", label="on air in LoS")
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.08), ncol=2)
    opts.titled(ax, f"{run_dir.name}: client paths over {len(a['t']) * dt:.1f} s")
    return save(fig, run_dir, "positions", opts)


def _direction(ax, xy: np.ndarray, colour) -> None:
    """An arrow head on the last leg of a path that moved (the direction of travel)."""
    moved = np.nonzero(np.linalg.norm(xy - xy[-1], axis=1) > 1e-6)[0]
    if len(moved):
        ax.annotate(
            "", xy[-1], xytext=xy[moved[-1]], arrowprops=dict(arrowstyle="->", color=colour, lw=1)
        )


def _area_radius(run_dir: Path) -> float | None:
    """clients.area_radius_m from the folder's resolved scenario (None if unreadable)."""
    try:
        data = tomllib.loads((run_dir / "scenario.toml").read_text(encoding="utf-8"))
        return float(data["clients"]["area_radius_m"])
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError):
        return None


def _band_shares(events: list[dict]) -> tuple[dict, dict, float]:
    """Per client, its band share over time (allocation, every reallocation, 0 when its band
    is released) and its allocated band per round, as (t, value) steps; the total band."""
    share: dict[int, list[tuple[float, float]]] = defaultdict(list)
    allocated: dict[int, list[tuple[float, float]]] = defaultdict(list)  # (t, Hz) per round
    total_hz = 0.0
    for e in events:
        if e["kind"] == Kind.ALLOCATION:
            share[e["client"]].append((e["t"], e["share"] or 0.0))
            allocated[e["client"]].append((e["t"], e["bandwidth_hz"]))
            if e["share"]:
                total_hz = e["bandwidth_hz"] / e["share"]
        elif e["kind"] == Kind.REALLOCATION:
            for c, a in zip(e["clients"], e["after_share"], strict=True):
                share[c].append((e["t"], a))
        elif e["kind"] in (Kind.UPLOAD_END, Kind.DEADLINE_MISS, Kind.UPDATE_REJECTED):
            share[e["client"]].append((e["t"], 0.0))  # its band is released
    return share, allocated, total_hz


def _snr(run_dir: Path, ch: ChannelFile, events: list[dict], opts: FigureOptions) -> Path:
    """Left: SNR over the allocated band for the most scheduled clients, with their band
    shares (allocation, then every reallocation) on a second axis. Right: the Shannon rate
    those shares give on that channel while the client holds band."""
    a, t = ch.arrays, ch.arrays["t"]
    on_air = a["sample_client"][np.isfinite(a["snr_db"])]
    counts = np.bincount(on_air, minlength=ch.num_clients)
    shown = [int(k) for k in np.argsort(-counts, kind="stable")[:6] if counts[k] > 0]
    dense = ch.dense("snr_db", np.array(shown, dtype=int))
    snr = {k: dense[i] for i, k in enumerate(shown)}
    share, allocated, total_hz = _band_shares(events)
    fig, axes = plt.subplots(
        len(shown),
        2,
        figsize=opts.size((15, 2.2 * max(len(shown), 1)), 1.2 * max(len(shown), 1)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 2]},
        constrained_layout=True,
    )
    for row, k in zip(axes, shown, strict=False):
        ax, rate_ax = row
        ax.plot(t, snr[k], lw=0.8, color="tab:blue")
        ax.set_ylabel(f"client {k}\nSNR [dB]", fontsize=8)
        ax.grid(alpha=0.3)
        rate_ax.grid(alpha=0.3)
        rate_ax.set_ylabel("rate [Mbit/s]", fontsize=8)
        if not share[k]:
            continue
        twin = ax.twinx()
        ts, vs = zip(*share[k], strict=True)
        twin.step(ts, vs, where="post", color="tab:orange", lw=1)
        twin.set_ylabel("band share", fontsize=8, color="tab:orange")
        twin.set_ylim(0, 1.05)
        # band share and allocated band at every step (step functions of the events)
        idx = np.searchsorted(ts, t, side="right") - 1
        s_t = np.where(idx >= 0, np.asarray(vs)[np.maximum(idx, 0)], 0.0)
        at, ab = zip(*allocated[k], strict=True)
        j = np.searchsorted(at, t, side="right") - 1
        b0 = np.where(j >= 0, np.asarray(ab)[np.maximum(j, 0)], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr_per_hz = 10 ** (snr[k] / 10) * b0  # SNR at the allocated band, times its Hz
            b = s_t * total_hz
            rate = np.where(b > 0, b * Shannon().efficiency(10 * np.log10(snr_per_hz / b)), np.nan)
        rate_ax.plot(t, rate / 1e6, lw=0.8, color="tab:green")
    fig.supxlabel("simulated time [s]")
    opts.titled(
        fig,
        f"{run_dir.name}: SNR over the allocated band (blue) and band share (orange) while "
        "scheduled; Shannon rate at that share (green)",
    )
    return save(fig, run_dir, "snr", opts)


def _accuracy(run_dir: Path, rounds: list[dict], events: list[dict], opts: FigureOptions) -> Path:
    """Accuracy against simulated time and against cumulative bits sent up."""
    learning_free = rounds[0].get("mode") == "surrogate"
    t = [number(r["t_end"]) for r in rounds]
    bits, total = [], 0.0
    for r in rounds:
        total += number(r["bits_up"])
        bits.append(total / 1e6)
    fig, axes = plt.subplots(1, 2, figsize=opts.size((11, 4), 1.8), constrained_layout=True)
    if learning_free:
        y = [number(r["sparsification_error"]) for r in rounds]
        label, title = "sparsification error (dropped share)", "learning-free run: no accuracy"
    else:
        start = next((e for e in events if e["kind"] == Kind.EVAL and e["round"] == 0), None)
        t = ([0.0] if start else []) + t
        bits = ([0.0] if start else []) + bits
        y = ([start["accuracy"]] if start else []) + [number(r["accuracy"]) for r in rounds]
        label, title = "held-out accuracy", "global model after each round"
    y, t, bits = evaluated(y, t, bits)
    for ax, x, xlabel in (
        (axes[0], t, "simulated time [s]"),
        (axes[1], bits, "cumulative Mbit sent up"),
    ):
        ax.plot(x, y, marker="o")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    opts.titled(fig, f"{run_dir.name}: {title}")
    return save(fig, run_dir, "accuracy", opts)


def _timeline(run_dir: Path, events: list[dict], opts: FigureOptions) -> Path:
    """One row per client: training and upload intervals, round deadlines, misses."""
    start: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
    bars: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    misses: list[tuple[float, int]] = []
    deadlines = [e["deadline"] for e in events if e["kind"] == Kind.ROUND_START]
    for e in events:
        key = (e["round"], e.get("client", -1))
        if e["kind"] in (Kind.TRAIN_START, Kind.UPLOAD_START):
            start[key][e["kind"]] = e["t"]
        elif e["kind"] == Kind.TRAIN_END:
            bars[key[1]].append((start[key][Kind.TRAIN_START], e["t"], "train"))
        elif e["kind"] in (Kind.UPLOAD_END, Kind.DEADLINE_MISS):
            phase = "upload" if e["kind"] == Kind.UPLOAD_END else e.get("phase", "upload")
            begin = start[key].get(Kind.UPLOAD_START if phase == "upload" else Kind.TRAIN_START)
            if begin is not None:
                bars[key[1]].append((begin, e["t"], phase))
            if e["kind"] == Kind.DEADLINE_MISS:
                misses.append((e["t"], key[1]))
    clients = sorted(bars)
    row = {c: i for i, c in enumerate(clients)}
    size = opts.size((12, 0.35 * len(clients) + 2), 0.14 * len(clients) + 0.9)
    fig, ax = plt.subplots(figsize=size, constrained_layout=True)
    colour = {"train": "tab:blue", "upload": "tab:orange"}
    for c, spans in bars.items():
        for phase in ("train", "upload"):
            xs = [(a, b - a) for a, b, p in spans if p == phase]
            if xs:
                ax.broken_barh(xs, (row[c] - 0.35, 0.7), color=colour[phase], alpha=0.8)
    for d in deadlines:
        ax.axvline(d, color="grey", ls="--", lw=0.8)
    if misses:
        ts, ys = [t for t, _ in misses], [row[c] for _, c in misses]
        ax.scatter(ts, ys, marker="x", color="red", s=20, zorder=3)
    ax.set_yticks(range(len(clients)), [f"client {c}" for c in clients])
    ax.set_xlabel("simulated time [s]")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colour["train"], label="training"),
        plt.Rectangle((0, 0), 1, 1, color=colour["upload"], label="upload"),
        plt.Line2D([], [], color="grey", ls="--", label="round deadline"),
        plt.Line2D([], [], color="red", marker="x", ls="", label="deadline miss"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4 if size[0] > 6 else 2)
    opts.titled(ax, f"{run_dir.name}: what every scheduled client did, round by round")
    return save(fig, run_dir, "timeline", opts)


def _misses(run_dir: Path, rounds: list[dict], events: list[dict], opts: FigureOptions) -> Path:
    """Per round, how many scheduled clients were on time, cut in upload, late in training,
    or rejected: counts (the honest unit for a handful of clients), every round labelled."""
    per = defaultdict(lambda: {"train": 0, "upload": 0, "rejected": 0})
    for e in events:
        if e["kind"] == Kind.DEADLINE_MISS:
            per[e["round"]][e["phase"]] += 1
        elif e["kind"] == Kind.UPDATE_REJECTED:
            per[e["round"]]["rejected"] += 1
    r = [int(x["round"]) for x in rounds]
    parts = [
        ([int(x["on_time"]) for x in rounds], "on time", "#009E73"),
        ([per[k]["upload"] for k in r], "upload cut by the deadline", "#E69F00"),
        ([per[k]["train"] for k in r], "training past the deadline", "#CC79A7"),
        ([per[k]["rejected"] for k in r], "rejected (non-finite or diverging update)", "#D55E00"),
    ]
    fig, ax = plt.subplots(figsize=opts.size((10, 4), 1.8), constrained_layout=True)
    bottom = [0] * len(r)
    for counts, label, colour in parts:
        if any(counts) or label == "on time":
            ax.bar(r, counts, bottom=bottom, color=colour, label=label)
            bottom = [a + c for a, c in zip(bottom, counts, strict=True)]
    ax.set_xlabel("round")
    ax.set_ylabel("scheduled clients")
    step = max(1, -(-len(r) // 25))  # every round labelled, or every k-th beyond 25 rounds
    ax.set_xticks(r[::step])
    ax.set_xticks(r, minor=True)  # a tick at every round, a label at every step-th
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(int(x["scheduled"]) for x in rounds) + 0.5)
    wide = fig.get_size_inches()[0] > 6
    fig.legend(loc="outside lower center", ncol=4 if wide else 2)
    opts.titled(ax, f"{run_dir.name}: what became of the scheduled clients, per round")
    return save(fig, run_dir, "misses", opts)
