"""Learning-curve statistics of the label-efficiency protocol: intervals, paired differences, AULC.

Seeds differ in data as much as in selection, so strategies are compared *paired*: each seed's
run of a strategy against the same seed's random run (same initial set, same recipe). The
interval is Student's t over seeds (few seeds: a normal interval would be too narrow). AULC is
the trapezoid area under the curve between two labelled fractions divided by their distance, so
it reads on the metric's own scale (an AULC 0.02 higher = 0.02 object F1 higher on average).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a two-sided ``level`` confidence interval (NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class PairedDifference:
    """(strategy − baseline) over paired seeds: the interval, and how many seeds it won / lost."""

    interval: Interval
    wins: int
    losses: int

    @property
    def n(self) -> int:
        return self.interval.n


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile (scipy's, which the package already needs)."""
    from scipy.stats import t

    return float(t.ppf(p, dof))


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean with a t interval; non-finite values are left out (a Hausdorff of inf, a failed run)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = np.asarray([x for x in values if math.isfinite(float(x))], dtype=float)
    n = len(v)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, float("nan"), float("nan"), 1)
    half = t_quantile(0.5 + level / 2, n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(
    strategy: Mapping[int, float], baseline: Mapping[int, float], level: float = 0.95
) -> PairedDifference:
    """Per-seed differences over the seeds both have; ties count as neither win nor loss."""
    seeds = sorted(set(strategy) & set(baseline))
    diffs = [float(strategy[s]) - float(baseline[s]) for s in seeds]
    diffs = [d for d in diffs if math.isfinite(d)]
    return PairedDifference(mean_ci(diffs, level), sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))


def aulc(
    fractions: Sequence[float],
    values: Sequence[float],
    lo: float = 0.1,
    hi: float = 0.5,
    slack: float = 0.05,
) -> float:
    """Normalised area under the curve on [lo, hi]: trapezoids / (hi − lo), linearly interpolated
    at the ends; NaN when the curve holds a non-finite value or misses an end by more than
    ``slack`` (a 10% round of 8 images is 12.5%: its value then stands for 10%)."""
    if not hi > lo:
        raise ValueError(f"need hi > lo, got [{lo}, {hi}]")
    x = np.asarray(fractions, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("fractions and values must be 1-D and of one length")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    eps = 1e-9
    if len(x) < 2 or x[0] > lo + slack + eps or x[-1] < hi - slack - eps:
        return float("nan")
    inside = (x > lo + eps) & (x < hi - eps)
    xs = np.concatenate([[lo], x[inside], [hi]])
    ys = np.concatenate([[np.interp(lo, x, y)], y[inside], [np.interp(hi, x, y)]])
    if not np.all(np.isfinite(ys)):
        return float("nan")
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / (hi - lo))


def curves_by_seed(
    rows: Sequence[Mapping], strategy: str, metric: str = "object_f1", **match: object
) -> dict[int, tuple[list[float], list[float]]]:
    """seed -> (fractions, values) of one strategy's rows (rows are dicts with ``seed``,
    ``strategy``, ``fraction``, ``round`` and the metric; ``match`` filters further, e.g.
    ``segmenter="7bit"``)."""
    out: dict[int, list[tuple[int, float, float]]] = {}
    for r in rows:
        if r["strategy"] != strategy or any(r.get(k) != v for k, v in match.items()):
            continue
        out.setdefault(int(r["seed"]), []).append((int(r["round"]), float(r["fraction"]), float(r[metric])))
    return {
        seed: ([f for _, f, _ in sorted(pts)], [v for _, _, v in sorted(pts)]) for seed, pts in out.items()
    }


def aulc_by_seed(
    rows: Sequence[Mapping],
    strategy: str,
    metric: str = "object_f1",
    lo: float = 0.1,
    hi: float = 0.5,
    **match: object,
) -> dict[int, float]:
    """seed -> AULC of that seed's curve (seeds whose curve does not span [lo, hi] left out)."""
    out = {}
    for seed, (x, y) in curves_by_seed(rows, strategy, metric, **match).items():
        a = aulc(x, y, lo, hi)
        if math.isfinite(a):
            out[seed] = a
    return out


def values_at_round(
    rows: Sequence[Mapping], strategy: str, rnd: int, metric: str = "object_f1", **match: object
) -> dict[int, float]:
    """seed -> the metric of one strategy at round ``rnd``."""
    return {
        int(r["seed"]): float(r[metric])
        for r in rows
        if r["strategy"] == strategy
        and int(r["round"]) == rnd
        and all(r.get(k) == v for k, v in match.items())
    }
