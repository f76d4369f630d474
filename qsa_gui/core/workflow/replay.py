"""Replay: would the suggestions have saved labels on *this* project's own labelled images?

The project's labelled images become a simulated pool whose ground truth answers every
suggestion (:func:`~qsa_gui.core.workflow.simulation.active_learning_job`); labelled images of
the ``test`` split are the held-out test set, or, when there are none, a stable share of the
labelled pool images (the id hash of the regression guard's split, so a rerun holds out the same
ones). Every seed reorders the pool and draws a new first set that all strategies share, so the
strategies are compared paired, seed by seed (:mod:`qsa_gui.core.workflow.curves`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from qsa_gui.core.model.segmenter import validation_split
from qsa_gui.core.project.store import Project

from ..errors import QSAError
from ..jobs import CancelToken, Job, Progress, sub_job
from ..settings import Settings
from .common import _load_pairs
from .curves import aulc_by_seed, mean_ci, paired_difference, values_at_round
from .simulation import active_learning_job

MIN_POOL = 5


@dataclass
class ReplayResult:
    """Rows (dicts: strategy, seed, round, fraction, metrics) of every seed, and what was used."""

    rows: list[dict]
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    n_pool: int
    n_test: int
    test_from: str  # "test split" or "held-out pool images"
    fractions: tuple[float, ...] = (0.1, 0.5)

    def table(self, metric: str = "object_f1", baseline: str = "random") -> str:
        """Per round: each strategy's mean [95% CI] and its paired difference to ``baseline``."""
        rounds = sorted({int(r["round"]) for r in self.rows})
        others = [s for s in self.strategies if s != baseline]
        lines = [f"{'labelled':>9} " + " ".join(f"| {s:^22}" for s in self.strategies)]
        lines[0] += "".join(f" | {s + ' − ' + baseline:^30}" for s in others if baseline in self.strategies)
        for rnd in rounds:
            fr = np.mean([r["fraction"] for r in self.rows if r["round"] == rnd])
            cells = []
            for s in self.strategies:
                iv = mean_ci(list(values_at_round(self.rows, s, rnd, metric).values()))
                cells.append(f"| {_iv(iv):^22}")
            if baseline in self.strategies:
                base = values_at_round(self.rows, baseline, rnd, metric)
                for s in others:
                    d = paired_difference(values_at_round(self.rows, s, rnd, metric), base)
                    cells.append(f" | {_diff(d):^30}")
            lines.append(f"{fr:>9.0%} " + " ".join(cells))
        lo, hi = min(self.fractions), max(self.fractions)
        if baseline in self.strategies and hi > lo:
            base_a = aulc_by_seed(self.rows, baseline, metric, lo, hi)
            for s in others:
                d = paired_difference(aulc_by_seed(self.rows, s, metric, lo, hi), base_a)
                if d.n:
                    lines.append(f"AULC {lo:.0%}–{hi:.0%} {s} − {baseline}: {_diff(d)}")
        return "\n".join(lines)


def _iv(iv) -> str:
    if iv.n == 0:
        return ""
    return f"{iv.mean:.3f}" if iv.n < 2 else f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def _diff(d) -> str:
    if d.n == 0:
        return ""
    iv = d.interval
    band = "" if iv.n < 2 else f" [{iv.low:+.3f}, {iv.high:+.3f}]"
    return f"{iv.mean:+.3f}{band} wins {d.wins}/{d.n}"


def replay_split(project: Project, test_fraction: float = 0.25) -> tuple[list[str], list[str], str]:
    """(pool ids, test ids, where the test set came from) of the project's labelled images."""
    pool = project.labelled_ids("pool")
    test = project.labelled_ids("test")
    if test:
        return pool, test, "test split"
    train, held = validation_split(pool, test_fraction)
    return train, held, "held-out pool images"


def replay_job(
    project: Project,
    settings: Settings,
    *,
    strategies: Sequence[str] = ("qsa", "random"),
    seeds: Sequence[int] = (0, 1, 2),
    fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5),
    test_fraction: float = 0.25,
    cancel: CancelToken | None = None,
) -> Job[ReplayResult]:
    """Simulate ``strategies`` on the project's labelled images over ``seeds`` (reads only)."""
    pool_ids, test_ids, test_from = replay_split(project, test_fraction)
    if len(pool_ids) < MIN_POOL or not test_ids:
        raise QSAError(
            f"replay needs at least {MIN_POOL} labelled pool images and one held-out labelled image; "
            f"this project has {len(pool_ids)} and {len(test_ids)}"
        )
    if not seeds:
        raise QSAError("replay needs at least one seed")
    yield Progress("reading the labelled images", 0.0, f"{len(pool_ids)} pool, {len(test_ids)} test")
    images, labels = _load_pairs(project, pool_ids)
    tests = {"test": _load_pairs(project, test_ids)}
    rows: list[dict] = []
    for si, seed in enumerate(seeds):
        order = np.random.default_rng(10_000 + seed).permutation(len(images))
        got = yield from sub_job(
            active_learning_job(
                [images[i] for i in order],
                [labels[i] for i in order],
                tests,
                fractions,
                tuple(strategies),
                replace(settings, seed=seed),
                seed=seed,
                cancel=cancel,
            ),
            0.01 + 0.99 * si / len(seeds),
            0.01 + 0.99 * (si + 1) / len(seeds),
            stage_prefix=f"seed {seed}: ",
        )
        rows += [dict(asdict(r), seed=seed) for r in got]
    for r in rows:
        if not math.isfinite(r["object_hausdorff"]):
            r["object_hausdorff"] = None  # JSON has no infinity; None = no object to measure
    return ReplayResult(
        rows, tuple(strategies), tuple(seeds), len(pool_ids), len(test_ids), test_from, tuple(fractions)
    )
