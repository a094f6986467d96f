"""The per-round figures of a run: accuracy (with the evaluation's own binomial interval) and
what became of the scheduled clients (misses)."""

from __future__ import annotations

import bisect
from collections import defaultdict

from matplotlib.ticker import MaxNLocator
from scipy.stats import binomtest

from cosim.analysis.figure import OUTCOME_COLOURS, FigureOptions, plt
from cosim.outputs.events import Kind
from cosim.outputs.tables import number

BITS_LABEL = "cumulative Mbit put on air\n(incl. late clients' partial uploads)"


def _task(events: list[dict]) -> str:
    """The run's model task from its run_start event (classify when not recorded)."""
    start = next((e for e in events if e["kind"] == Kind.RUN_START), {})
    return (start.get("model") or {}).get("task", "classify")


def wilson(accuracy: float, n: int) -> tuple[float, float]:
    """95 % Wilson interval of an accuracy measured on ``n`` independent held-out samples."""
    ci = binomtest(round(accuracy * n), n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def draw_accuracy(rounds: list[dict], events: list[dict], opts: FigureOptions):
    """Accuracy against simulated time and against cumulative bits put on air, from round 0
    (before training), with the 95 % binomial band of each evaluation where its samples are
    independent (classification); a learning-free run shows its sparsification error."""
    points, total = [], 0.0  # (round, t, Mbit so far, y)
    learning_free = rounds[0].get("mode") == "surrogate"
    column = "sparsification_error" if learning_free else "accuracy"
    evals = {e["round"]: e for e in events if e["kind"] == Kind.EVAL}
    if 0 in evals and not learning_free:
        points.append((0, 0.0, 0.0, evals[0]["accuracy"]))
    for r in rounds:
        total += number(r["bits_up"])
        points.append((int(r["round"]), number(r["t_end"]), total / 1e6, number(r[column])))
    points = [p for p in points if p[3] == p[3]]  # rounds that were not evaluated left out
    if learning_free:
        label, title = "sparsification error\n(share of the update dropped)", "learning-free run"
    elif _task(events) == "causal-lm":  # tokens of one sample are not independent: no band
        label, title = "held-out next-token\naccuracy", "global model after each round"
    else:
        label, title = "held-out accuracy", "global model after each round"
    if rounds and "staleness_mean" in rounds[0]:  # fedasync/fedbuff
        title = title.replace("round", "global version (evaluated ones)")
    samples = [evals.get(r, {}).get("samples") for r, *_ in points]
    band = None
    if not learning_free and _task(events) != "causal-lm" and points and all(samples):
        ci = [wilson(p[3], n) for p, n in zip(points, samples, strict=True)]
        band = [c[0] for c in ci], [c[1] for c in ci]
    narrow = opts.size((11, 4.4))[0] < 6  # one column: the two panels one above the other
    shape, screen = ((2, 1), (3.5, 4.6)) if narrow else ((1, 2), (11, 4.4))
    fig, axes = plt.subplots(*shape, figsize=opts.size(screen), constrained_layout=True)
    axes = axes.ravel()
    for ax, i, xlabel in ((axes[0], 1, "simulated time [s]"), (axes[1], 2, BITS_LABEL)):
        x = [p[i] for p in points]
        ax.plot(x, [p[3] for p in points], marker="o", label=label.replace("\n", " "))
        if band:
            ax.fill_between(
                x,
                band[0],
                band[1],
                alpha=0.25,
                lw=0,
                label=f"95 % binomial interval ({max(samples)} held-out samples)",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=1 if narrow else 2)
    opts.titled(fig, title)
    return fig


MISS_KINDS = ("download", "train", "upload", "rejected", "stopped", "stale")


def _version_of(rounds: list[dict]):
    """The bar an event counts in: its round; under fedasync/fedbuff (rows with
    staleness_mean) the first version made at or after it."""
    if not rounds or "staleness_mean" not in rounds[0]:
        return lambda e: e["round"]
    ends = [float(x["t_end"]) for x in rounds]
    numbers = [int(x["round"]) for x in rounds]

    def bucket(e: dict) -> int:
        i = bisect.bisect_left(ends, e["t"])
        return numbers[i] if i < len(numbers) else -1  # after the last version: not drawn

    return bucket


def draw_misses(rounds: list[dict], events: list[dict], opts: FigureOptions):
    """Per round, how many scheduled clients were on time, cut in upload, late in training,
    rejected, or stopped (first-k): counts (the honest unit for a handful of clients), every
    round labelled. Under fedasync/fedbuff a bar per global version: what ended since the
    one before (updates dropped as too stale too)."""
    per = defaultdict(lambda: dict.fromkeys(MISS_KINDS, 0))
    bucket = _version_of(rounds)
    for e in events:
        kind = {
            Kind.DEADLINE_MISS: e.get("phase"),
            Kind.UPDATE_REJECTED: "rejected",
            Kind.STOPPED: "stopped",
            Kind.UPDATE_DROPPED: "stale",
        }.get(e["kind"])
        if kind is not None:
            per[bucket(e)][kind] += 1
    r = [int(x["round"]) for x in rounds]
    parts = [
        ([int(x["on_time"]) for x in rounds], "on time", "on time"),
        ([per[k]["upload"] for k in r], "upload cut by the deadline", "upload"),
        ([per[k]["train"] for k in r], "training past the deadline", "train"),
        ([per[k]["rejected"] for k in r], "rejected (non-finite or diverging update)", "rejected"),
        ([per[k]["stopped"] for k in r], "stopped: first-k had its updates", "stopped"),
        ([per[k]["download"] for k in r], "model not downloaded by the deadline", "download"),
        ([per[k]["stale"] for k in r], "dropped: staler than server.max_staleness", "stale"),
    ]
    fig, ax = plt.subplots(figsize=opts.size((10, 4), 2.0), constrained_layout=True)
    bottom = [0] * len(r)
    for counts, label, outcome in parts:
        if any(counts) or outcome == "on time":
            ax.bar(r, counts, bottom=bottom, color=OUTCOME_COLOURS[outcome], label=label)
            bottom = [a + c for a, c in zip(bottom, counts, strict=True)]
    overlapping = bool(rounds) and "staleness_mean" in rounds[0]
    ax.set_xlabel("global version (what ended since the one before)" if overlapping else "round")
    ax.set_ylabel("clients")
    step = max(1, -(-len(r) // 25))  # every round labelled, or every k-th beyond 25 rounds
    ax.set_xticks(r[::step])
    ax.set_xticks(r, minor=True)  # a tick at every round, a label at every step-th
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(int(x["scheduled"]) for x in rounds) + 0.5)
    wide = fig.get_size_inches()[0] > 6
    fig.legend(loc="outside lower center", ncol=4 if wide else 2)
    opts.titled(ax, "what became of the scheduled clients, per round")
    return fig
