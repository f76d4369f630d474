"""Train what a strategy needs on the labelled images, then score the unlabelled pool.

The one orchestration job behind a project's Suggest and the simulated loop
(:mod:`qsa_gui.core.workflow.simulation`), so both use the same recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from qsa_gui.core.model.fcn import SAFCN

from ..jobs import CancelToken, Job, sub_job

if TYPE_CHECKING:  # settings imports STRATEGIES from here
    from ..settings import Settings
from ..active.scoring import ImageLoader, PoolScores, score_pool, score_pool_mc_dropout


def strategy_scores_job(
    strategy: str,
    settings: Settings,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    pool_ids: Sequence[str],
    load: ImageLoader,
    *,
    seed: int,
    cancel: CancelToken | None = None,
    init: list[SAFCN] | None = None,
) -> Job[tuple[PoolScores, list[SAFCN] | None]]:
    """Train what ``strategy`` needs on the labelled images, then score the unlabelled pool.

    Dispatches on the strategy's registered ``needs``: the K-member ensemble (quantized or float),
    warm-started from ``init`` when given, or one float FCN sampled with dropout. Returns the
    scores and the ensemble members (for the next round's warm start; None for MC-dropout).
    """
    from qsa_gui.core.active.ensemble import train_ensemble
    from qsa_gui.core.active.strategies import get_strategy
    from qsa_gui.core.model.segmenter import train_segmenter

    needs = get_strategy(strategy).needs
    settings.check_device()  # a missing CUDA device: a clear error now, not torch's mid-job
    if needs == "none":
        raise ValueError(f"strategy {strategy!r} needs no trained scores; select it on the pool directly")
    if needs == "mc_dropout":
        single = replace(settings.segmenter_config(), n_models=1, bits=None)
        seg = yield from sub_job(
            train_segmenter(images, labels, single, cancel), 0.0, 0.6, stage_prefix="MC-dropout model: "
        )
        scores = yield from sub_job(
            score_pool_mc_dropout(
                seg.models[0],
                pool_ids,
                load,
                samples=settings.mc_samples,
                tile=settings.tile,
                overlap=settings.overlap,
                device=settings.device,
                seed=seed,
                scale=settings.score_scale,
                cancel=cancel,
            ),
            0.6,
            1.0,
        )
        return scores, None
    config = replace(
        settings.ensemble_config(float_weights=needs == "float_ensemble", warm=init is not None), seed=seed
    )
    models = yield from sub_job(
        train_ensemble(images, labels, config, cancel, init=init), 0.0, 0.75, stage_prefix="suggestive "
    )
    scores = yield from sub_job(
        score_pool(
            models,
            pool_ids,
            load,
            tile=settings.tile,
            overlap=settings.overlap,
            device=settings.device,
            scale=settings.score_scale,
            cancel=cancel,
        ),
        0.75,
        1.0,
    )
    return scores, models
