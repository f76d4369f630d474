"""The demo loop: QSA against random selection on generated glands, ground truth as the expert.

Both strategies start from the same randomly chosen labelled set (10% of the pool), add 10% of
the pool per round up to 50%, retrain the segmentation FCN on their labels each round and are
measured on the same held-out test images, which no strategy ever sees.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from qsa_gui.core.active.scoring import PoolScores, appearance_descriptor
from qsa_gui.core.active.selection import typical_picks
from qsa_gui.core.active.strategies import get_strategy, select
from qsa_gui.core.data.synth import GlandSample, generate_dataset
from qsa_gui.core.model.segmenter import Segmenter, evaluate_segmenter, train_segmenter
from qsa_gui.core.workflow.scores import strategy_scores_job

from ..jobs import CancelToken, Job, Progress, check, sub_job
from ..settings import Settings
from .paired_runs import PairedRuns, json_safe, seeds_job


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; ``quick()`` is the under-a-minute variant (3 seeds, 2 cores).

    Every seed generates its own pool and test set and draws its own first labelled set (which
    all strategies share), so the seeds are independent repeats and the strategies are compared
    paired, seed by seed: one seed on a 30-image pool says nothing either way.
    """

    n_pool: int = 30
    n_test: int = 8
    image_size: int = 160
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    strategies: tuple[str, ...] = ("qsa", "random")
    malignant_fraction: float = 0.3
    seeds: tuple[int, ...] = (0, 1, 2)
    settings: Settings = field(
        default_factory=lambda: Settings(
            preset="compact",
            ensemble_size=5,
            iterations=200,
            ensemble_iterations=60,
            finetune_iterations=60,
            inq_iterations=10,
            batch_size=8,
            patch_size=96,
            tile=160,
        )
    )

    @classmethod
    def quick(cls, seeds: tuple[int, ...] = (0, 1, 2)) -> DemoConfig:
        return cls(
            n_pool=20,
            n_test=6,
            image_size=128,
            fractions=(0.1, 0.3, 0.5),
            seeds=seeds,
            settings=Settings(
                preset="compact",
                ensemble_size=3,
                iterations=80,
                ensemble_iterations=30,
                finetune_iterations=30,
                inq_iterations=4,
                batch_size=4,
                patch_size=64,
                tile=128,
            ),
        )


@dataclass
class DemoRow:
    strategy: str
    round: int
    n_labelled: int
    fraction: float
    object_f1: float
    object_dice: float
    object_hausdorff: float
    pixel_dice: float
    seconds: float
    test_set: str = "test"
    segmenter: str = "seg"
    mean_uncertainty: float = float("nan")  # of the unlabelled pool when this round's picks were made
    seed: int = 0
    added: tuple[int, ...] = ()  # pool indices picked this round (the first: the initial set)


@dataclass
class DemoResult(PairedRuns):
    """Every seed's rows (as dicts, like the replay's) and the demo's sizes."""

    config: DemoConfig | None = None

    def seed_table(self, seed: int) -> str:
        """One seed's per-round table, the strategies side by side."""
        rows = [r for r in self.rows if r["seed"] == seed]
        by = {(r["strategy"], r["round"]): r for r in rows}
        rounds = sorted({r["round"] for r in rows})
        head = f"{'round':>5} {'labelled':>10} " + " ".join(f"| {s.upper():^26}" for s in self.strategies)
        cell = f"| {'F1':>7} {'Dice':>7} {'Haus':>8}  "
        sub = f"{'':>5} {'':>10} " + cell * len(self.strategies)
        lines = [head, sub, "-" * len(sub)]
        for rnd in rounds:
            first = next(by[(s, rnd)] for s in self.strategies if (s, rnd) in by)
            cells = []
            for s in self.strategies:
                r = by.get((s, rnd))
                haus = float("inf") if r is None or r["object_hausdorff"] is None else r["object_hausdorff"]
                cells.append(
                    f"| {r['object_f1']:7.3f} {r['object_dice']:7.3f} {haus:8.2f}  " if r else f"| {'':26}"
                )
            lines.append(f"{rnd:>5} {first['n_labelled']:>4} ({first['fraction']:3.0%}) " + " ".join(cells))
        return "\n".join(lines)


def _as_arrays(samples: Sequence[GlandSample]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [s.image.astype(np.float32) / 255.0 for s in samples], [s.labels for s in samples]


def demo_job(
    config: DemoConfig | None = None, cancel: CancelToken | None = None, workers: int = 1
) -> Job[DemoResult]:
    """Run the whole loop for each seed and strategy; measure every round on held-out images.

    ``workers`` > 1 runs (seed, strategy) pairs in that many processes
    (:func:`~qsa_gui.core.workflow.paired_runs.seeds_job`); the rows are the same.
    """
    config = config or DemoConfig()
    if not config.seeds:
        raise ValueError("the demo needs at least one seed")
    rows = yield from seeds_job(
        demo_seed_job, (config,), config.seeds, config.strategies, workers=workers, cancel=cancel
    )
    return DemoResult(
        rows, tuple(config.strategies), tuple(config.seeds), tuple(config.fractions), config=config
    )


def demo_seed_job(
    config: DemoConfig,
    seed: int,
    strategies: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
) -> Job[list[dict]]:
    """One seed of the demo: its own generated pool and test set, and ``strategies`` (default:
    the config's) from the seed's one first set."""
    yield Progress("generating glands", 0.0, f"{config.n_pool} pool + {config.n_test} test images")
    data = generate_dataset(
        config.n_pool + config.n_test,
        seed=seed,
        size=(config.image_size, config.image_size),
        malignant_fraction=config.malignant_fraction,
    )
    pool_images, pool_labels = _as_arrays(data[: config.n_pool])
    rows = yield from sub_job(
        active_learning_job(
            pool_images,
            pool_labels,
            {"test": _as_arrays(data[config.n_pool :])},
            config.fractions,
            tuple(strategies or config.strategies),
            replace(config.settings, seed=seed),
            seed=seed,
            cancel=cancel,
        ),
        0.01,
        1.0,
    )
    return json_safe([asdict(r) for r in rows])


def active_learning_job(
    pool_images: Sequence[np.ndarray],
    pool_labels: Sequence[np.ndarray],
    test_sets: dict[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
    fractions: Sequence[float],
    strategies: Sequence[str],
    settings: Settings,
    *,
    seed: int = 0,
    cancel: CancelToken | None = None,
    segmenters: dict[str, Settings] | None = None,
    initial: str | Sequence[int] = "random",
) -> Job[list[DemoRow]]:
    """Simulated annotation: the ground truth answers every suggestion; test sets are never seen.

    ``segmenters`` names several segmentation settings (e.g. float and 7-bit QNT) trained on the
    same labelled set each round; by default one, from ``settings``.

    Every strategy starts from the same random labelled set of ``fractions[0]`` of the pool and
    is measured after each round on every test set (one row per strategy, round and test set).
    A strategy named ``full`` labels the whole pool from the start and goes through the same
    rounds (train, then fine-tune once per round), so the 100%-labelled reference gets exactly the
    training budget the strategies get; its last round is the reference.

    ``initial`` is how the first set is chosen: ``"random"`` (seeded), ``"typical"`` (TypiClust-like
    on the model-free appearance descriptors: one most typical image per cluster) or explicit pool
    indices; every strategy of the call starts from it.
    """
    variants = segmenters or {"seg": settings}
    n_pool = len(pool_images)
    counts = [max(1, int(round(f * n_pool))) for f in fractions]
    initial = initial_set(pool_images, counts[0], initial, seed)
    ids = [f"pool_{i:03d}" for i in range(n_pool)]
    rows: list[DemoRow] = []
    n_strat = len(strategies)
    for si, strategy in enumerate(strategies):
        plan = [n_pool] * len(counts) if strategy == "full" else counts
        labelled = list(range(n_pool)) if strategy == "full" else list(initial)
        prev_seg: dict[str, Segmenter] = {}  # each round fine-tunes the previous round's models
        members = None
        for rnd, target in enumerate(plan):
            check(cancel)
            lo = (si + rnd / len(plan)) / n_strat
            hi = (si + (rnd + 1) / len(plan)) / n_strat
            name = f"100% reference round {rnd + 1}" if strategy == "full" else f"{strategy} round {rnd + 1}"
            t0 = time.monotonic()
            pool_uncertainty = float("nan")
            before = len(labelled) if rnd else 0
            if len(labelled) < target:
                new, members, pool_uncertainty = yield from sub_job(
                    _suggest_in_memory(
                        strategy,
                        settings,
                        list(pool_images),
                        list(pool_labels),
                        labelled,
                        ids,
                        target - len(labelled),
                        cancel,
                        seed=seed + rnd,
                        init=members if settings.ensemble_warm_start else None,
                    ),
                    lo,
                    lo + 0.5 * (hi - lo),
                    stage_prefix=f"{name}: ",
                )
                labelled.extend(new)
            n_var = len(variants)
            for vi, (variant, seg_settings) in enumerate(variants.items()):
                v_lo = lo + 0.5 * (hi - lo) + vi * 0.5 * (hi - lo) / n_var
                v_hi = v_lo + 0.5 * (hi - lo) / n_var
                seg = yield from sub_job(
                    train_segmenter(
                        [pool_images[i] for i in labelled],
                        [pool_labels[i] for i in labelled],
                        seg_settings.segmenter_config(warm=prev_seg.get(variant) is not None),
                        cancel,
                        init=prev_seg.get(variant),
                    ),
                    v_lo,
                    v_lo + 0.8 * (v_hi - v_lo),
                    stage_prefix=f"{name}: segmentation{'' if n_var == 1 else ' ' + variant} ",
                )
                prev_seg[variant] = seg
                for ti, (test_name, (test_images, test_labels)) in enumerate(test_sets.items()):
                    span = 0.2 * (v_hi - v_lo) / len(test_sets)
                    metrics = yield from sub_job(
                        evaluate_segmenter(
                            seg, test_images, test_labels, device=settings.device, cancel=cancel
                        ),
                        v_lo + 0.8 * (v_hi - v_lo) + ti * span,
                        v_lo + 0.8 * (v_hi - v_lo) + (ti + 1) * span,
                        stage_prefix=f"{name}: {test_name} ",
                    )
                    rows.append(
                        DemoRow(
                            strategy=strategy,
                            round=rnd + 1,
                            n_labelled=len(labelled),
                            fraction=len(labelled) / n_pool,
                            object_f1=metrics["object_f1"],
                            object_dice=metrics["object_dice"],
                            object_hausdorff=metrics["object_hausdorff"],
                            pixel_dice=metrics["pixel_dice"],
                            seconds=time.monotonic() - t0,
                            test_set=test_name,
                            segmenter=variant,
                            mean_uncertainty=pool_uncertainty,
                            seed=seed,
                            added=tuple(int(i) for i in labelled[before:]) if strategy != "full" else (),
                        )
                    )
            yield Progress(
                f"{name} done",
                hi,
                f"{len(labelled)} labelled: object F1 {metrics['object_f1']:.3f}",
                metrics={k: float(v) for k, v in metrics.items()},
            )
    return rows


def initial_set(pool_images: Sequence[np.ndarray], n: int, how: str | Sequence[int], seed: int) -> list[int]:
    """The first labelled set: seeded random, TypiClust-like typical, or given indices."""
    n_pool = len(pool_images)
    if not isinstance(how, str):
        chosen = sorted({int(i) for i in how})
        if not chosen or chosen[0] < 0 or chosen[-1] >= n_pool:
            raise ValueError(f"initial indices must lie in 0..{n_pool - 1}, got {list(how)}")
        return chosen
    if how == "random":
        rng = np.random.default_rng(seed)
        return sorted(int(i) for i in rng.choice(n_pool, size=n, replace=False))
    if how == "typical":
        desc = np.stack([appearance_descriptor(im) for im in pool_images])
        return sorted(typical_picks(desc, n, seed=seed))
    raise ValueError(f"initial must be 'random', 'typical' or a list of indices, got {how!r}")


def _suggest_in_memory(
    strategy: str,
    settings: Settings,
    images: list[np.ndarray],
    labels: list[np.ndarray],
    labelled: list[int],
    ids: list[str],
    k: int,
    cancel: CancelToken | None,
    seed: int,
    init: list | None = None,
) -> Job[tuple[list[int], list | None, float]]:
    """One suggestion round without a project folder: pool indices to 'label', the members, and
    the pool's mean uncertainty (ensemble diversity; NaN for random)."""
    unlabelled = [i for i in range(len(images)) if i not in set(labelled)]
    pool_ids = [ids[i] for i in unlabelled]
    index = {ids[i]: i for i in unlabelled}

    def load(image_id: str) -> np.ndarray:
        return images[index[image_id]]

    needs = get_strategy(strategy).needs
    if strategy == "random":
        scores = PoolScores(pool_ids, np.zeros(len(pool_ids)), np.zeros((len(pool_ids), 1)))
    elif needs == "none":  # model-free (stratified, diverse): appearance descriptors only
        desc = np.stack([appearance_descriptor(images[i]) for i in unlabelled])
        scores = PoolScores(pool_ids, np.zeros(len(pool_ids)), desc)
    else:
        scores, init = yield from strategy_scores_job(
            strategy,
            settings,
            [images[i] for i in labelled],
            [labels[i] for i in labelled],
            pool_ids,
            load,
            seed=seed,
            cancel=cancel,
            init=init,
        )
    if get_strategy(strategy).needs_appearance and scores.appearance is None:
        scores.appearance = np.stack([appearance_descriptor(images[i]) for i in unlabelled])
    picked = select(strategy, scores, k, k_top=settings.k_top, seed=seed)
    diversity = float(np.mean(scores.uncertainty)) if needs != "none" and len(pool_ids) else float("nan")
    return [index[s.image_id] for s in picked], init, diversity
