"""Scoring the unlabelled pool and choosing which images to label next.

One inference pass per ensemble member over each unlabelled image yields both signals of
suggestive annotation: the uncertainty (mean over pixels of the across-model standard deviation
of the foreground probability) and the descriptor (the encoder's channel-wise spatial mean,
averaged over members). Selection strategies:

- ``qsa`` / ``sa``: the ``k_top`` most uncertain images, then greedy max-cover of cosine
  similarity picks ``k`` of them (QSA = quantized members, SA = float members).
- ``uncertainty``: the ``k`` most uncertain images.
- ``mc_dropout``: the ``k`` images with the highest mean predictive entropy of one network
  sampled with dropout on (what MONAI Label calls epistemic).
- ``random``: ``k`` images uniformly at random (seeded).
- ``diverse`` (cold start, nothing labelled yet): greedy max-cover on colour/texture statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from .jobs import CancelToken, Job, Progress, check, sub_job
from .model import SAFCN, mc_dropout, predict_tiled
from .selection import cosine_similarity, greedy_max_cover

if TYPE_CHECKING:  # settings imports STRATEGIES from here
    from .settings import Settings

STRATEGIES = ("qsa", "sa", "uncertainty", "mc_dropout", "random", "diverse")

ImageLoader = Callable[[str], np.ndarray]


@dataclass
class PoolScores:
    """Per-image scores of the unlabelled pool, in the order of ``ids``."""

    ids: list[str]
    uncertainty: np.ndarray  # (n,)
    descriptors: np.ndarray  # (n, C)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "ids": np.asarray(self.ids, dtype=str),
            "uncertainty": self.uncertainty,
            "descriptors": self.descriptors,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PoolScores:
        return cls(
            ids=[str(x) for x in arrays["ids"]],
            uncertainty=np.asarray(arrays["uncertainty"], dtype=np.float64),
            descriptors=np.asarray(arrays["descriptors"], dtype=np.float64),
        )


@dataclass(frozen=True)
class Suggestion:
    """One recommended image: its rank (1 = label first) and why."""

    image_id: str
    rank: int
    uncertainty: float
    representativeness: float


def default_k(n_total: int, fraction: float = 0.1) -> int:
    """About 10% of the whole pool per round, as in the paper (8 of 85 GlaS images)."""
    return max(1, int(round(fraction * n_total)))


def image_uncertainty(probabilities: np.ndarray) -> float:
    """Mean over pixels of the across-model standard deviation; ``probabilities`` is (K, H, W)."""
    return float(np.mean(np.std(probabilities, axis=0)))


def predictive_entropy(mean_prob: np.ndarray) -> float:
    """Mean binary entropy (bits) of a per-pixel foreground probability map."""
    p = np.clip(mean_prob.astype(np.float64), 1e-6, 1 - 1e-6)
    return float(np.mean(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def score_pool(
    models: Sequence[SAFCN],
    ids: Sequence[str],
    load: ImageLoader,
    *,
    tile: int = 256,
    overlap: int = 32,
    device: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[PoolScores]:
    """Uncertainty and descriptor of every image in ``ids``: one tiled pass per member."""
    if not models:
        raise ValueError("scoring needs at least one model")
    uncertainty = np.zeros(len(ids))
    descriptors: list[np.ndarray] = []
    for i, image_id in enumerate(ids):
        check(cancel)
        image = load(image_id)
        probs = []
        desc = []
        for model in models:
            pred = predict_tiled(model, image, tile=tile, overlap=overlap, device=device, cancel=cancel)
            probs.append(pred.gland)
            desc.append(pred.descriptor)
        uncertainty[i] = image_uncertainty(np.stack(probs))
        descriptors.append(np.mean(np.stack(desc), axis=0))
        yield Progress("scoring the unlabelled images", (i + 1) / len(ids), f"{i + 1}/{len(ids)} images")
    dim = descriptors[0].shape[0] if descriptors else 0
    return PoolScores(list(ids), uncertainty, np.stack(descriptors) if descriptors else np.zeros((0, dim)))


def score_pool_mc_dropout(
    model: SAFCN,
    ids: Sequence[str],
    load: ImageLoader,
    *,
    samples: int = 8,
    tile: int = 256,
    overlap: int = 32,
    device: str | None = None,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> Job[PoolScores]:
    """MC-dropout baseline: mean predictive entropy over ``samples`` dropout passes."""
    uncertainty = np.zeros(len(ids))
    descriptors: list[np.ndarray] = []
    torch.manual_seed(seed)
    for i, image_id in enumerate(ids):
        check(cancel)
        image = load(image_id)
        probs = []
        desc = []
        with mc_dropout(model):
            for _ in range(samples):
                pred = predict_tiled(model, image, tile=tile, overlap=overlap, device=device, cancel=cancel)
                probs.append(pred.gland)
                desc.append(pred.descriptor)
        uncertainty[i] = predictive_entropy(np.mean(np.stack(probs), axis=0))
        descriptors.append(np.mean(np.stack(desc), axis=0))
        yield Progress("MC-dropout scoring", (i + 1) / len(ids), f"{i + 1}/{len(ids)} images")
    dim = descriptors[0].shape[0] if descriptors else 0
    return PoolScores(list(ids), uncertainty, np.stack(descriptors) if descriptors else np.zeros((0, dim)))


def appearance_descriptor(image: np.ndarray, bins: int = 8) -> np.ndarray:
    """Model-free descriptor for the cold start: colour histograms plus gradient statistics."""
    img = np.asarray(image, dtype=np.float32)
    step = max(1, int(np.ceil(max(img.shape[:2]) / 256)))
    img = img[::step, ::step]
    feats = [np.histogram(img[..., c], bins=bins, range=(0.0, 1.0))[0] for c in range(3)]
    gray = img.mean(axis=2)
    gy, gx = np.gradient(gray)
    mag = np.hypot(gx, gy)
    feats.append(np.histogram(mag, bins=bins, range=(0.0, 0.25))[0])
    vec = np.concatenate(feats).astype(np.float64)
    return vec / max(vec.sum(), 1.0)


def _representativeness(desc: np.ndarray, pool_desc: np.ndarray) -> np.ndarray:
    """Mean cosine similarity of each candidate to the whole unlabelled pool (shown to users)."""
    if len(pool_desc) == 0:
        return np.zeros(len(desc))
    return cosine_similarity(desc, pool_desc).mean(axis=1)


def select(
    strategy: str,
    scores: PoolScores,
    k: int,
    *,
    k_top: int | None = None,
    seed: int = 0,
) -> list[Suggestion]:
    """Choose ``k`` images of ``scores.ids`` by ``strategy``; ranked, best first."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = len(scores.ids)
    k = max(0, min(k, n))
    if k == 0:
        return []
    unc = scores.uncertainty
    rep = _representativeness(scores.descriptors, scores.descriptors)
    order_unc = np.argsort(-unc, kind="stable")
    if strategy in ("qsa", "sa"):
        k_top = min(n, max(k, k_top if k_top is not None else 2 * k))
        candidates = order_unc[:k_top]
        picked = greedy_max_cover(scores.descriptors[candidates], scores.descriptors, k)
        chosen = [int(candidates[j]) for j in picked]
    elif strategy in ("uncertainty", "mc_dropout"):
        chosen = [int(i) for i in order_unc[:k]]
    elif strategy == "diverse":
        chosen = [int(i) for i in greedy_max_cover(scores.descriptors, scores.descriptors, k)]
    else:  # random
        rng = np.random.default_rng(seed)
        chosen = [int(i) for i in rng.choice(n, size=k, replace=False)]
    return [
        Suggestion(scores.ids[i], rank + 1, float(unc[i]), float(rep[i])) for rank, i in enumerate(chosen)
    ]


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

    ``qsa``/``sa``/``uncertainty``: the K-member ensemble (quantized unless ``sa``), warm-started
    from ``init`` when given; ``mc_dropout``: one float FCN sampled with dropout. Returns the
    scores and the ensemble members (for the next round's warm start; None for MC-dropout).
    """
    from .ensemble import train_ensemble
    from .segment import train_segmenter

    if strategy == "mc_dropout":
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
                cancel=cancel,
            ),
            0.6,
            1.0,
        )
        return scores, None
    config = replace(
        settings.ensemble_config(float_weights=strategy == "sa", warm=init is not None), seed=seed
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
            cancel=cancel,
        ),
        0.75,
        1.0,
    )
    return scores, models
