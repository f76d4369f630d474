"""Replay: would the suggestions have saved labels on *this* project's own labelled images?

The project's labelled images become a simulated pool whose ground truth answers every
suggestion (:func:`~qsa_gui.core.workflow.simulation.active_learning_job`); labelled images of
the ``test`` split are the held-out test set, or, when there are none, a stable share of the
labelled pool images (the id hash of the regression guard's split, so a rerun holds out the same
ones). Every seed reorders the pool and draws a new first set that all strategies share, so the
strategies are compared paired, seed by seed (:mod:`qsa_gui.core.workflow.curves`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

import numpy as np

from qsa_gui.core.model.segmenter import validation_split
from qsa_gui.core.project.store import Project

from ..errors import QSAError
from ..jobs import CancelToken, Job, Progress, sub_job
from ..settings import Settings
from .common import _load_pairs
from .paired_runs import json_safe, seeds_job
from .results import ReplayResult
from .simulation import active_learning_job

MIN_POOL = 5


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
    workers: int = 1,
    cancel: CancelToken | None = None,
) -> Job[ReplayResult]:
    """Simulate ``strategies`` on the project's labelled images over ``seeds`` (reads only);
    ``workers`` > 1 runs (seed, strategy) pairs in that many processes, same rows."""
    pool_ids, test_ids, test_from = replay_split(project, test_fraction)
    if len(pool_ids) < MIN_POOL or not test_ids:
        raise QSAError(
            f"replay needs at least {MIN_POOL} labelled pool images and one held-out labelled image; "
            f"this project has {len(pool_ids)} and {len(test_ids)}"
        )
    if not seeds:
        raise QSAError("replay needs at least one seed")
    yield Progress("reading the labelled images", 0.0, f"{len(pool_ids)} pool, {len(test_ids)} test")
    args = (str(project.folder), pool_ids, test_ids, tuple(fractions), settings)
    rows = yield from sub_job(
        seeds_job(replay_seed_job, args, tuple(seeds), tuple(strategies), workers=workers, cancel=cancel),
        0.01,
        1.0,
    )
    return ReplayResult(
        rows,
        tuple(strategies),
        tuple(seeds),
        tuple(fractions),
        n_pool=len(pool_ids),
        n_test=len(test_ids),
        test_from=test_from,
    )


def replay_seed_job(
    folder: str,
    pool_ids: Sequence[str],
    test_ids: Sequence[str],
    fractions: Sequence[float],
    settings: Settings,
    seed: int,
    strategies: Sequence[str],
    cancel: CancelToken | None = None,
) -> Job[list[dict]]:
    """One seed: the pool in the seed's order, every strategy from the seed's first set. It opens
    the project read-only by folder (no lock: it runs beside the shell holding it, or in a
    process of its own)."""
    with Project.open(folder, read_only=True) as project:
        images, labels = _load_pairs(project, list(pool_ids))
        tests = {"test": _load_pairs(project, list(test_ids))}
    order = np.random.default_rng(10_000 + seed).permutation(len(images))
    got = yield from active_learning_job(
        [images[i] for i in order],
        [labels[i] for i in order],
        tests,
        fractions,
        tuple(strategies),
        replace(settings, seed=seed),
        seed=seed,
        cancel=cancel,
    )
    return json_safe([asdict(r) for r in got])
