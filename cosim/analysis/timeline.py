"""timeline: what every scheduled client did in each round on the simulated clock — training,
upload, waiting at 0 Hz — with round starts, deadlines and each kind of miss marked."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from cosim.analysis.figure import (
    OUTCOME_COLOURS,
    PHASE_COLOURS,
    FigureOptions,
    PlotError,
    plt,
)
from cosim.outputs.events import Kind

STARTS = {Kind.DOWNLOAD_START: "download", Kind.TRAIN_START: "train", Kind.UPLOAD_START: "upload"}
ENDS = {Kind.DOWNLOAD_END: "download", Kind.TRAIN_END: "train", Kind.UPLOAD_END: "upload"}
TIMELINE_ROUNDS = 20  # a longer run shows its first 20 rounds unless --rounds says which
MARKERS = {
    "download": "^",
    "train": "v",
    "upload": "X",
    "rejected": "s",
    "stopped": "D",
    "stale": "P",
}
MISS_LABELS = {
    "download": "model not downloaded by the deadline",
    "train": "training past the deadline",
    "upload": "upload cut by the deadline",
    "rejected": "update rejected (non-finite or diverging)",
    "stopped": "stopped (first-k had its updates, or the run ended)",
    "stale": "dropped: staler than server.max_staleness",
}


def window(opts: FigureOptions, rounds: int) -> tuple[int, int]:
    """The rounds (first, last) a per-round figure shows: ``opts.rounds``, else every round
    of a short run and the first TIMELINE_ROUNDS of a longer one."""
    if opts.rounds is None:
        return 1, min(rounds, TIMELINE_ROUNDS)
    if opts.rounds[1] > rounds:
        raise PlotError(f"--rounds {opts.rounds[0]}:{opts.rounds[1]}: the run has {rounds} rounds")
    return opts.rounds


def window_note(shown: tuple[int, int], rounds: int) -> str:
    """'' when every round is shown, else which ones are (for the x label)."""
    if shown == (1, rounds):
        return ""
    return f" — rounds {shown[0]}–{shown[1]} of {rounds} (--rounds A:B for others)"


DEADLINE_COLOUR = "#D55E00"


def ran_to_deadline(act: Activity, r: int) -> bool:
    """Whether round ``r`` lasted until its deadline (rather than ending at the last upload)."""
    return act.ends.get(r, -math.inf) >= act.deadlines[r] - 1e-9


@dataclass
class Activity:
    """Per client its bars (start, end, phase: train | upload | no band) and marks (t,
    outcome: train | upload | rejected | stopped); per round its start, deadline and last
    event."""

    bars: dict[int, list[tuple[float, float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    marks: dict[int, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    starts: dict[int, float] = field(default_factory=dict)
    deadlines: dict[int, float] = field(default_factory=dict)
    ends: dict[int, float] = field(default_factory=dict)
    versions: dict[int, float] = field(default_factory=dict)  # fedasync/fedbuff: when made


def read_activity(events: list[dict], shown: tuple[int, int]) -> Activity:
    """What the events of the rounds ``shown`` say each client did; an upload is cut into
    pieces where its band share goes to or from 0 (TSFA's left-out clients wait at 0 Hz until
    freed band reaches them)."""
    act = Activity()
    share: dict[tuple[int, int], float] = {}
    began: dict[tuple[int, int, str], float] = {}  # (round, client, phase) -> start
    for e in events:
        r, kind, t = e["round"], e["kind"], e["t"]
        if not shown[0] <= r <= shown[1]:
            continue
        act.ends[r] = max(act.ends.get(r, t), t)
        key = (r, e.get("client", -1))
        if kind == Kind.ROUND_START:
            act.starts[r], act.deadlines[r] = t, e["deadline"]
        elif kind == Kind.ALLOCATION:
            share[key] = e["share"] or 0.0
        elif kind in (Kind.DOWNLOAD_START, Kind.TRAIN_START, Kind.UPLOAD_START):
            began[(*key, STARTS[kind])] = t
        elif kind == Kind.REALLOCATION and "clients" in e:  # (not with share_lists off)
            # (fedasync/fedbuff: members of several rounds)
            rs = e.get("rounds") or [r] * len(e["clients"])
            for rc, c, after in zip(rs, e["clients"], e["after_share"], strict=True):
                _reshare(act, began, share, (rc, c), after or 0.0, t)
        elif kind == Kind.AGGREGATE and "jobs" in e:
            act.versions[r] = t
        elif kind in (*ENDS, Kind.DEADLINE_MISS, Kind.STOPPED):
            phase = ENDS.get(kind) or e["phase"]
            start = began.pop((*key, phase), None)
            if start is not None:
                held = phase != "upload" or share.get(key, 0.0) > 0
                act.bars[key[1]].append((start, t, phase if held else "no band"))
            if kind == Kind.DEADLINE_MISS:
                act.marks[key[1]].append((t, phase))
            elif kind == Kind.STOPPED:
                act.marks[key[1]].append((t, "stopped"))
        elif kind == Kind.UPDATE_REJECTED:
            act.marks[key[1]].append((t, "rejected"))
        elif kind == Kind.UPDATE_DROPPED:
            act.marks[key[1]].append((t, "stale"))
    return act


def _reshare(act: Activity, began: dict, share: dict, key: tuple[int, int], after: float, t):
    """A re-split during an upload: close its piece where it gains or loses all band."""
    upload = (*key, "upload")
    if upload in began and (share.get(key, 0.0) > 0) != (after > 0):
        act.bars[key[1]].append(
            (began[upload], t, "upload" if share.get(key, 0.0) > 0 else "no band")
        )
        began[upload] = t
    share[key] = after


def draw_timeline(events: list[dict], rounds: int, opts: FigureOptions):
    """The timeline figure of a run with ``rounds`` rounds, over the window of ``opts``."""
    shown = window(opts, rounds)
    act = read_activity(events, shown)
    clients = sorted(set(act.bars) | set(act.marks))
    row = {c: i for i, c in enumerate(clients)}
    size = opts.size((12, 0.3 * len(clients) + 2.2), 0.16 * len(clients) + 1.6)
    fig, ax = plt.subplots(figsize=size, constrained_layout=True)
    for c in clients:
        for phase, colour in PHASE_COLOURS.items():
            xs = [(a, b - a) for a, b, p in act.bars[c] if p == phase]
            if xs:
                hatch = "////" if phase == "no band" else None
                ax.broken_barh(xs, (row[c] - 0.35, 0.7), facecolor=colour, hatch=hatch, lw=0)
    for t in act.versions.values():
        ax.axvline(t, color="0.25", lw=0.6, ls=":")
    for r, t0 in act.starts.items():
        ax.axvline(t0, color="0.25", lw=0.6)
        if ran_to_deadline(act, r):  # a round that ended early: its deadline lies in the next
            ax.axvline(act.deadlines[r], color=DEADLINE_COLOUR, ls="--", lw=0.9, zorder=2.5)
    happened = set()
    for c in clients:
        for t, outcome in act.marks[c]:
            happened.add(outcome)
            ax.plot(
                t,
                row[c],
                MARKERS[outcome],
                ms=4,
                mec="black",
                mew=0.4,
                color=OUTCOME_COLOURS[outcome],
                zorder=3,
            )
    _round_numbers(ax, act, size[0])
    if act.starts:
        ax.set_xlim(min(act.starts.values()), max(act.ends.values()) * 1.0 + 1e-9)
    elif act.versions:  # overlapping jobs: from the first bar to the last version
        first = min((a for spans in act.bars.values() for a, _, _ in spans), default=0.0)
        ax.set_xlim(first, max(act.ends.values()) + 1e-9)
    ax.set_yticks(range(len(clients)), [f"client {c}" for c in clients])
    ax.set_ylim(len(clients) - 0.5, -0.5)
    ax.set_xlabel("simulated time [s]" + window_note(shown, rounds))
    fig.legend(
        handles=_legend(act, happened),
        loc="outside lower center",
        ncol=4 if size[0] > 6 else 2,
    )
    opts.titled(
        ax,
        "what every scheduled client did, round by round"
        if act.starts or not act.versions
        else "what every client did, its jobs overlapping",
    )
    return fig


def _round_numbers(ax, act: Activity, width_in: float) -> None:
    """Round numbers on the top axis at the round starts (every k-th where they would crowd);
    under fedasync/fedbuff, global version numbers where each was made."""
    starts = sorted(act.starts.items()) or sorted(act.versions.items())
    if not starts:
        return
    step = max(1, math.ceil(len(starts) / (2.5 * width_in)))
    top = ax.secondary_xaxis("top")
    top.set_xticks([t for _, t in starts[::step]], [str(r) for r, _ in starts[::step]])
    top.set_xticks([t for _, t in starts], minor=True)
    top.set_xlabel("round" if act.starts else "global version made")


def _legend(act: Activity, happened: set[str]) -> list:
    """Handles for what the figure shows: the phases drawn, the round lines, the misses that
    happened."""
    drawn = {p for spans in act.bars.values() for a, b, p in spans if b > a} | {"train", "upload"}
    labels = {
        "download": "download",
        "train": "training",
        "upload": "upload",
        "no band": "upload waiting at 0 Hz",
    }
    hatch = {"no band": "////"}
    handles = [
        plt.Rectangle((0, 0), 1, 1, fc=PHASE_COLOURS[p], label=labels[p], hatch=hatch.get(p), lw=0)
        for p in PHASE_COLOURS
        if p in drawn
    ]
    if act.starts:
        handles.append(plt.Line2D([], [], color="0.25", lw=0.6, label="round start"))
    if act.versions:
        line = plt.Line2D([], [], color="0.25", lw=0.6, ls=":", label="global version made")
        handles.append(line)
    if any(ran_to_deadline(act, r) for r in act.starts):
        label = "round ran to its deadline"
        handles.append(plt.Line2D([], [], color=DEADLINE_COLOUR, ls="--", lw=0.9, label=label))
    style = dict(ls="", ms=4, mec="black", mew=0.4)
    handles += [
        plt.Line2D(
            [], [], marker=MARKERS[o], color=OUTCOME_COLOURS[o], label=MISS_LABELS[o], **style
        )
        for o in MARKERS
        if o in happened
    ]
    return handles
