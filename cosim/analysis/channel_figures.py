"""The figures drawn from channel.npz: client paths (positions) and the channel beside the
allocation (snr), of a run or of a channel trace."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np

from channels import Shannon
from channels.multisite import Layout
from cosim.analysis.figure import FigureOptions, client_colour, plt
from cosim.analysis.timeline import window, window_note
from cosim.outputs.channel_npz import ChannelFile
from cosim.outputs.events import Kind
from cosim.scenario.cells import ISD_DEFAULTS_M


def draw_positions(run_dir: Path, ch: ChannelFile, opts: FigureOptions):
    """Client paths around the base station (top view): every client's position at each
    round start joined with its positions while on air, its id and direction at the end, the
    samples on air in LoS marked, and the edge of the clients' area; over several cells the
    sites instead, and no line where a path wraps around the layout."""
    a = ch.arrays
    bs, dt = a["bs_position"], float(a["dt"])
    layout = _layout(run_dir)
    fig, ax = plt.subplots(figsize=opts.size((7, 7.6)), constrained_layout=True)
    for k in range(ch.num_clients):
        on_air = ch.samples(k)
        t = np.concatenate([a["round_t"], on_air["t"]])
        xy = np.concatenate([a["round_positions"][:, k, :2], on_air["positions"][:, :2]])
        xy = xy[np.argsort(t, kind="stable")]
        colour = client_colour(k)
        drawn = xy
        if layout is not None and layout.wraparound and len(xy) > 1:  # no line across a wrap
            jump = np.flatnonzero(np.linalg.norm(np.diff(xy, axis=0), axis=1) > layout.isd_m)
            drawn = np.insert(xy, jump + 1, np.nan, axis=0)
        ax.plot(drawn[:, 0], drawn[:, 1], lw=1, color=colour)
        los = on_air["positions"][on_air["los"] == 1]
        ax.plot(los[:, 0], los[:, 1], "+", ms=3, mew=0.6, color="black")
        if len(xy):
            ax.plot(xy[0, 0], xy[0, 1], "o", ms=3, color="black")
            _direction(ax, xy, colour)
            ax.annotate(
                str(k), xy[-1], xytext=(3, 3), textcoords="offset points", fontsize=7, clip_on=True
            )
    radius = _area_radius(run_dir)
    if layout is not None:
        s = layout.sites
        ax.plot(s[:, 0], s[:, 1], "^", ms=8, color="red", label=f"sites ({len(s)})")
    else:
        if radius is not None:
            edge = plt.Circle(bs[:2], radius, fill=False, ls="--", lw=0.8, color="grey")
            ax.add_patch(edge)
            ax.plot([], [], ls="--", lw=0.8, color="grey", label=f"clients' area ({radius:g} m)")
        ax.plot(bs[0], bs[1], "^", ms=8, color="red", label="base station")
    ax.plot([], [], "o", ms=3, color="black", label="client at t = 0 (id at its last position)")
    ax.plot([], [], "+", ms=4, mew=0.6, color="black", label="on air in LoS")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.1)  # room for the ids beside the outermost positions
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=2 if fig.get_figwidth() > 6 else 1)
    opts.titled(ax, f"client paths over {len(a['t']) * dt:.1f} s")
    return fig


def _direction(ax, xy: np.ndarray, colour) -> None:
    """An arrow head on the last leg of a path that moved (the direction of travel)."""
    moved = np.nonzero(np.linalg.norm(xy - xy[-1], axis=1) > 1e-6)[0]
    if len(moved):
        ax.annotate(
            "", xy[-1], xytext=xy[moved[-1]], arrowprops=dict(arrowstyle="->", color=colour, lw=1)
        )


def _layout(run_dir: Path) -> Layout | None:
    """The folder's multi-site layout (cells.layout = hex), None for one cell or unreadable."""
    try:
        data = tomllib.loads((run_dir / "scenario.toml").read_text(encoding="utf-8"))
        c = data["cells"]
        if c["layout"] != "hex":
            return None
        isd = float(c["isd_m"]) or ISD_DEFAULTS_M[data["channel"]["model"]]
        return Layout(int(c["rings"]), isd, int(c["sectors"]), bool(c["wraparound"]))
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError):
        return None


def _area_radius(run_dir: Path) -> float | None:
    """clients.area_radius_m from the folder's resolved scenario (None if unreadable)."""
    try:
        data = tomllib.loads((run_dir / "scenario.toml").read_text(encoding="utf-8"))
        return float(data["clients"]["area_radius_m"])
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError):
        return None


def draw_trace_snr(ch: ChannelFile, opts: FigureOptions):
    """A trace's SNR at the full band for its first clients (up to six), one panel each."""
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
        ax.plot(own["t"], own["snr_db"], lw=0.6, color=client_colour(k))
        ax.set_ylabel(f"client {k}\nSNR [dB]")
        ax.grid(alpha=0.3)
    fig.supxlabel("simulated time [s]")
    band = float(ch.arrays["snr_bandwidth_hz"]) / 1e6
    opts.titled(fig, f"channel trace, SNR at the full {band:g} MHz band")
    return fig


class Allocation:
    """What the events say about each client's band: its share over time (allocation, every
    re-split, 0 when released) as steps, the band it was allocated per round, the cell's band
    (Hz), and the round starts."""

    def __init__(self, events: list[dict]) -> None:
        self.share: dict[int, list[tuple[float, float]]] = defaultdict(list)
        self.allocated: dict[tuple[int, int], float] = {}  # (round, client) -> Hz
        self.total_hz = 0.0
        self.starts: dict[int, float] = {}
        for e in events:
            kind = e["kind"]
            if kind == Kind.ROUND_START:
                self.starts[e["round"]] = e["t"]
            elif kind == Kind.ALLOCATION:
                self.share[e["client"]].append((e["t"], e["share"] or 0.0))
                self.allocated[(e["round"], e["client"])] = e["bandwidth_hz"] or 0.0
                if e["share"]:
                    self.total_hz = e["bandwidth_hz"] / e["share"]
            elif kind == Kind.REALLOCATION and "clients" in e:  # (not with share_lists off)
                for c, after in zip(e["clients"], e["after_share"], strict=True):
                    self.share[c].append((e["t"], after or 0.0))
            elif kind in (Kind.UPLOAD_END, Kind.DEADLINE_MISS, Kind.UPDATE_REJECTED):
                self.share[e["client"]].append((e["t"], 0.0))  # its band is released

    def share_at(self, k: int, t: np.ndarray) -> np.ndarray:
        """Client ``k``'s band share at the times ``t`` (0 before its first allocation)."""
        if not self.share[k]:
            return np.zeros_like(t)
        ts, vs = (np.asarray(v) for v in zip(*self.share[k], strict=True))
        idx = np.searchsorted(ts, t, side="right") - 1
        return np.where(idx >= 0, vs[np.maximum(idx, 0)], 0.0)


def draw_snr(ch: ChannelFile, events: list[dict], rounds: int, opts: FigureOptions):
    """Three panels over the rounds shown, for the (up to six) clients most on air in them:
    the channel alone (SNR at the full band, the same whatever the allocation), the band share
    (allocation, re-splits), and the Shannon rate that share gives on that channel (log
    scale: one sole uploader's burst does not flatten the others); round starts as lines."""
    shown_rounds = window(opts, rounds)
    alloc = Allocation(events)
    a, t = ch.arrays, ch.arrays["t"]
    in_window = (a["sample_round"] >= shown_rounds[0]) & (a["sample_round"] <= shown_rounds[1])
    counts = np.bincount(
        a["sample_client"][in_window & np.isfinite(a["snr_db"])], minlength=ch.num_clients
    )
    clients = [int(k) for k in np.argsort(-counts, kind="stable")[:6] if counts[k] > 0]
    fig, (snr_ax, share_ax, rate_ax) = plt.subplots(
        3, 1, figsize=opts.size((10, 6.5), 4.2), sharex=True, constrained_layout=True
    )
    for k in clients:
        colour = client_colour(k)
        snr_full, band = _full_band_snr(ch, alloc, k, t, shown_rounds)
        snr_ax.plot(t, snr_full, lw=0.7, color=colour, label=f"client {k}")
        share = alloc.share_at(k, t)
        share_ax.step(
            t, np.where(np.isfinite(snr_full), share, np.nan), where="post", lw=0.9, color=colour
        )
        b = share * alloc.total_hz
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = Shannon().efficiency(snr_full - 10 * np.log10(np.where(b > 0, b, np.nan) / band))
            rate = np.where(b > 0, b * eff, np.nan)
        rate_ax.plot(t, rate / 1e6, lw=0.7, color=colour)
    lo = alloc.starts.get(shown_rounds[0], 0.0)
    hi = alloc.starts.get(shown_rounds[1] + 1, float(t[-1]) + float(a["dt"]) if len(t) else 1.0)
    for ax in (snr_ax, share_ax, rate_ax):
        for r, t0 in alloc.starts.items():
            if shown_rounds[0] <= r <= shown_rounds[1]:
                ax.axvline(t0, color="0.5", lw=0.5, ls="--")
        ax.grid(alpha=0.3)
    snr_ax.set_xlim(lo, hi)
    band_mhz = alloc.total_hz / 1e6
    snr_ax.set_ylabel(f"SNR at the full\n{band_mhz:g} MHz [dB]")
    share_ax.set_ylabel("band share")
    share_ax.set_ylim(0, 1.05)
    rate_ax.set_ylabel("Shannon rate\n[Mbit/s]")
    if np.isfinite(rate_ax.dataLim.y1) and rate_ax.dataLim.y1 > 0:
        rate_ax.set_yscale("log")
    rate_ax.set_xlabel(
        "simulated time [s] (dashed: round starts)" + window_note(shown_rounds, rounds)
    )
    fig.legend(
        loc="outside lower center", ncol=min(len(clients), 6 if fig.get_figwidth() > 6 else 3) or 1
    )
    opts.titled(fig, "the channel (top), the band share it was given, the rate that gives")
    return fig


def _full_band_snr(ch: ChannelFile, alloc: Allocation, k: int, t: np.ndarray, shown) -> tuple:
    """Client ``k``'s SNR at the cell's full band on the grid ``t`` (NaN where it was not on
    air in the rounds ``shown``, or had no band to measure it over) and that band (Hz): the
    run records the SNR over the band each round allocated, and noise grows with the band."""
    s = ch.samples(k)
    rnd = ch.arrays["sample_round"][np.searchsorted(ch.arrays["sample_client"], k) :][: len(s["t"])]
    keep = (rnd >= shown[0]) & (rnd <= shown[1])
    allocated = np.array([alloc.allocated.get((int(r), k), 0.0) for r in rnd])
    out = np.full(len(t), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = s["snr_db"] + 10 * np.log10(allocated / alloc.total_hz)
    good = keep & (allocated > 0)
    out[s["step"][good]] = full[good]
    return out, alloc.total_hz
