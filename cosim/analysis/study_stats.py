"""A study's statistics over seeds: per (variant, axis point, metric) the mean and its 95 %
Student-t interval, and the paired difference from the reference variant over the same seeds
with its t interval and two-sided paired t-test (scipy.stats)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

LEVEL = 0.95
STAT_COLUMNS = (
    "metric",
    "n",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
)


def _value(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sample std (ddof 1) and the 95 % Student-t interval of the mean (scipy's one-sample
    t-test); NaN where fewer than two values leave no spread to estimate."""
    n = len(values)
    if n == 0:
        return (math.nan,) * 4
    mean = float(np.mean(values))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    with warnings.catch_warnings():  # nearly equal values: scipy warns, the answer stands
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_1samp(values, 0.0).confidence_interval(LEVEL)
    return mean, float(np.std(values, ddof=1)), float(ci.low), float(ci.high)


def paired(values: np.ndarray, reference: np.ndarray) -> tuple[float, float, float, float]:
    """Mean paired difference ``values − reference``, its 95 % t interval and the two-sided
    paired t-test's p-value (scipy.stats.ttest_rel); NaN where fewer than two pairs, and a
    p-value of NaN where every difference is 0 (the test is undefined)."""
    d = values - reference
    if len(d) < 2:
        return (float(d[0]) if len(d) else math.nan), math.nan, math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(values, reference)
        ci = res.confidence_interval(LEVEL)
    return float(np.mean(d)), float(ci.low), float(ci.high), float(res.pvalue)


def summarise_study(
    rows: Sequence[dict[str, Any]],
    metrics: Sequence[str],
    axis_keys: Sequence[str],
    reference: str,
) -> list[dict[str, Any]]:
    """study.csv's rows from points.csv's: one per (variant, axis point, metric) in the order
    the points first appear. Values that are empty or NaN (a failed point, an accuracy of a
    learning-free run) are left out of ``n``; pairs need both values."""
    groups: dict[tuple[str, tuple[Any, ...]], dict[Any, dict[str, Any]]] = {}
    for r in rows:
        key = (r["variant"], tuple(r[k] for k in axis_keys))
        groups.setdefault(key, {})[r["seed"]] = r
    out = []
    for (variant, axes), by_seed in groups.items():
        ref = groups.get((reference, axes), {})
        for metric in metrics:
            vals = {s: _value(r.get(metric)) for s, r in by_seed.items()}
            vals = {s: v for s, v in vals.items() if not math.isnan(v)}
            mean, std, lo, hi = t_interval(np.array(list(vals.values()), dtype=float))
            row: dict[str, Any] = dict(variant=variant, **dict(zip(axis_keys, axes, strict=True)))
            row.update(metric=metric, n=len(vals), mean=mean, std=std, ci_low=lo, ci_high=hi)
            diff = (math.nan,) * 4
            if variant != reference:
                ref_vals = {s: _value(r.get(metric)) for s, r in ref.items()}
                common = [s for s in vals if s in ref_vals and not math.isnan(ref_vals[s])]
                if common:
                    diff = paired(
                        np.array([vals[s] for s in common]),
                        np.array([ref_vals[s] for s in common]),
                    )
            row.update(zip(STAT_COLUMNS[6:], diff, strict=True))
            out.append(row)
    return out


def excludes_zero(row: dict[str, Any]) -> bool:
    """Whether the paired difference's 95 % interval lies wholly on one side of 0."""
    lo, hi = _value(row.get("diff_ci_low")), _value(row.get("diff_ci_high"))
    return (lo > 0 or hi < 0) and not (math.isnan(lo) or math.isnan(hi))
