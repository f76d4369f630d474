"""Several seeds of one simulated-annotation experiment, summarised the way the protocol asks.

`qsa demo` and `qsa replay` both run every strategy over several seeds from a shared first set
per seed; one seed can make any strategy look better or worse than random, so what they print is
each strategy's mean with its 95% interval per round and the *paired* difference to the baseline
(same seed, same first set) with its interval and win count, then the AULC difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..jobs import CancelToken, Job, sub_job
from .curves import Interval, PairedDifference, aulc_by_seed, mean_ci, paired_difference, values_at_round


@dataclass
class PairedRuns:
    """Rows (dicts: strategy, seed, round, fraction and the metrics) of every seed of a run."""

    rows: list[dict]
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    fractions: tuple[float, ...]

    def table(self, metric: str = "object_f1", baseline: str = "random") -> str:
        """Per round: each strategy's mean [95% CI] and its paired difference to ``baseline``."""
        rounds = sorted({int(r["round"]) for r in self.rows})
        others = [s for s in self.strategies if s != baseline]
        paired = baseline in self.strategies
        lines = [f"{'labelled':>9} " + " ".join(f"| {s:^22}" for s in self.strategies)]
        if paired:
            lines[0] += "".join(f" | {s + ' − ' + baseline:^30}" for s in others)
        for rnd in rounds:
            fr = np.mean([r["fraction"] for r in self.rows if r["round"] == rnd and r["strategy"] != "full"])
            cells = [
                f"| {interval_text(mean_ci(list(values_at_round(self.rows, s, rnd, metric).values()))):^22}"
                for s in self.strategies
            ]
            if paired:
                base = values_at_round(self.rows, baseline, rnd, metric)
                for s in others:
                    d = paired_difference(values_at_round(self.rows, s, rnd, metric), base)
                    cells.append(f" | {difference_text(d):^30}")
            lines.append(f"{fr:>9.0%} " + " ".join(cells))
        lines += self.aulc_lines(metric, baseline)
        return "\n".join(lines)

    def span(self) -> tuple[float, float]:
        """The labelled fractions the rounds really reached, first to last: the AULC's range (a
        6-image pool cannot be labelled at 10%; its first round is 1/6)."""
        got = [float(r["fraction"]) for r in self.rows if r["strategy"] != "full"]
        if not got:
            return min(self.fractions), max(self.fractions)
        return min(got), max(got)

    def aulc_lines(self, metric: str = "object_f1", baseline: str = "random") -> list[str]:
        """One line per strategy: the paired AULC difference to ``baseline`` over :meth:`span`."""
        lo, hi = self.span()
        if baseline not in self.strategies or not hi > lo:
            return []
        lines = []
        for s in self.strategies:
            if s in (baseline, "full"):
                continue
            d = self.aulc_difference(s, baseline, metric)
            if d.n:
                lines.append(f"AULC {lo:.0%}–{hi:.0%} {s} − {baseline}: {difference_text(d)}")
        return lines

    def aulc_difference(
        self, strategy: str = "qsa", baseline: str = "random", metric: str = "object_f1"
    ) -> PairedDifference:
        """AULC over :meth:`span`, ``strategy`` − ``baseline``, paired by seed."""
        lo, hi = self.span()
        a, b = (aulc_by_seed(self.rows, s, metric, lo, hi) for s in (strategy, baseline))
        return paired_difference(a, b)

    def verdict(self, strategy: str = "qsa", metric: str = "object_f1", baseline: str = "random") -> str:
        """One sentence on the AULC difference: better, worse, or within noise."""
        d = self.aulc_difference(strategy, baseline, metric)
        if d.n < 2:
            return f"{strategy} vs {baseline}: one seed only, no interval (run more seeds)"
        iv = d.interval
        if iv.excludes_zero:
            word = "better" if iv.mean > 0 else "worse"
            return (
                f"{strategy} is {word} than {baseline} here: AULC {iv.mean:+.3f} "
                f"[{iv.low:+.3f}, {iv.high:+.3f}] over {d.n} paired seeds"
            )
        return (
            f"{strategy} and {baseline} are within noise of each other here: AULC {iv.mean:+.3f} "
            f"[{iv.low:+.3f}, {iv.high:+.3f}] over {d.n} paired seeds (the interval spans zero)"
        )


def seeds_job(
    run_one: Callable[..., Job[list[dict]]],
    args: tuple,
    seeds: Sequence[int],
    strategies: Sequence[str],
    *,
    workers: int = 1,
    cancel: CancelToken | None = None,
) -> Job[list[dict]]:
    """``run_one(*args, seed, strategies, cancel=...)`` (a module-level job returning rows) for
    every seed; the rows in seed, then strategy order.

    ``workers`` > 1 runs (seed, strategy) pairs in that many spawned processes
    (:mod:`qsa_gui.core.parallel`): within a seed the strategies are independent (the first set
    comes from the seed), so the rows are those of one after the other. Model-based strategies go
    first: they cost several times a model-free one, and the cheap ones fill in.
    """
    n = len(seeds)
    if workers > 1 and n * len(strategies) > 1:
        from qsa_gui.core.active.strategies import get_strategy

        from ..parallel import run_in_processes

        pairs = [(seed, s) for s in strategies for seed in seeds]
        pairs.sort(key=lambda p: get_strategy(p[1]).needs == "none" or p[1] == "random")
        per_pair = yield from run_in_processes(
            run_one,
            [(*args, seed, (s,)) for seed, s in pairs],
            workers=workers,
            cancel=cancel,
            stage=f"{n} seeds x {len(strategies)} strategies",
            names=[f"seed {seed} {s}" for seed, s in pairs],
        )
        got = dict(zip(pairs, per_pair, strict=True))
        return [r for seed in seeds for s in strategies for r in got[(seed, s)]]
    rows: list[dict] = []
    for si, seed in enumerate(seeds):
        job = run_one(*args, seed, tuple(strategies), cancel=cancel)
        rows += yield from sub_job(job, si / n, (si + 1) / n, stage_prefix=f"seed {seed}: ")
    return rows


def interval_text(iv: Interval) -> str:
    if iv.n == 0:
        return ""
    return f"{iv.mean:.3f}" if iv.n < 2 else f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def difference_text(d: PairedDifference) -> str:
    if d.n == 0:
        return ""
    iv = d.interval
    band = "" if iv.n < 2 else f" [{iv.low:+.3f}, {iv.high:+.3f}]"
    return f"{iv.mean:+.3f}{band} wins {d.wins}/{d.n}"


def json_safe(rows: list[dict]) -> list[dict]:
    """JSON has no infinity: a Hausdorff of inf (no object to measure) becomes None."""
    for r in rows:
        for k, v in r.items():
            if isinstance(v, float) and not math.isfinite(v):
                r[k] = None
    return rows
