"""Scoring the unlabelled pool: uncertainty and descriptors from one pass per ensemble member.

One inference pass per ensemble member over each unlabelled image yields both signals of
suggestive annotation: the uncertainty (mean over pixels of the across-model standard deviation
of the foreground probability) and the descriptor (the encoder's channel-wise spatial mean,
averaged over members). MC-dropout scoring and the cold-start appearance descriptor live here
too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from qsa_gui.core.active.selection import cosine_similarity
from qsa_gui.core.model.fcn import SAFCN, mc_dropout, predict_tiled

from ..jobs import CancelToken, Job, Progress, check

if TYPE_CHECKING:  # settings imports STRATEGIES from here
    pass

ImageLoader = Callable[[str], np.ndarray]


@dataclass
class PoolScores:
    """Per-image scores of the unlabelled pool, in the order of ``ids``."""

    ids: list[str]
    uncertainty: np.ndarray  # (n,)
    descriptors: np.ndarray  # (n, C)
    # model-free colour/texture statistics (:func:`appearance_descriptor`), attached for the
    # strategies that stratify by them (``Strategy.needs_appearance``); cheap, so never cached
    appearance: np.ndarray | None = None
    # the same disagreement on the members' contour output (touching glands or nuclei are told
    # apart by it), for ``qsa_contour``; None for scores that have no contour output
    contour_uncertainty: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "ids": np.asarray(self.ids, dtype=str),
            "uncertainty": self.uncertainty,
            "descriptors": self.descriptors,
        }
        if self.contour_uncertainty is not None:
            out["contour_uncertainty"] = self.contour_uncertainty
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PoolScores:
        contour = arrays.get("contour_uncertainty")
        return cls(
            ids=[str(x) for x in arrays["ids"]],
            uncertainty=np.asarray(arrays["uncertainty"], dtype=np.float64),
            descriptors=np.asarray(arrays["descriptors"], dtype=np.float64),
            contour_uncertainty=None if contour is None else np.asarray(contour, dtype=np.float64),
        )

    def subset(self, rows: Sequence[int]) -> PoolScores:
        """The scores of ``rows`` only (a cached round's scores, restricted to today's pool)."""
        idx = np.asarray(rows, dtype=int)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return PoolScores(
            [self.ids[i] for i in idx],
            self.uncertainty[idx],
            self.descriptors[idx],
            appearance=pick(self.appearance),
            contour_uncertainty=pick(self.contour_uncertainty),
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


def disagreement_map(probabilities: np.ndarray) -> np.ndarray:
    """Per-pixel across-model standard deviation of ``probabilities`` (K, H, W) -> (H, W).

    The heat-map shows this map and the ranking uses its mean (:func:`image_uncertainty`), so the
    picture and the table's u are one quantity: 0 where the members agree, at most 0.5 (half
    the members say 0, half say 1).
    """
    return np.std(np.asarray(probabilities), axis=0)


def image_uncertainty(probabilities: np.ndarray) -> float:
    """Mean over pixels of the across-model standard deviation; ``probabilities`` is (K, H, W)."""
    return float(np.mean(disagreement_map(probabilities)))


def predictive_entropy(mean_prob: np.ndarray) -> float:
    """Mean binary entropy (bits) of a per-pixel foreground probability map."""
    p = np.clip(mean_prob.astype(np.float64), 1e-6, 1 - 1e-6)
    return float(np.mean(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def downscale(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` (H x W x 3) resized by ``scale`` <= 1 with area averaging (no aliasing)."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    img = np.asarray(image, dtype=np.float32)
    if scale == 1:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    out = torch.nn.functional.interpolate(t, size=size, mode="area")
    return np.ascontiguousarray(out[0].numpy().transpose(1, 2, 0))


def scaled_tile(tile: int, scale: float) -> int:
    """The tile of a downscaled image covers the tissue a full-resolution tile covers: a GlaS image
    at half size then fits one tile (measured 2.6x faster than four overlapping 256 px tiles)."""
    return max(tile, round(tile / scale))


def score_pool(
    models: Sequence[SAFCN],
    ids: Sequence[str],
    load: ImageLoader,
    *,
    tile: int = 256,
    overlap: int = 32,
    device: str | None = None,
    scale: float = 1.0,
    cancel: CancelToken | None = None,
) -> Job[PoolScores]:
    """Uncertainty and descriptor of every image in ``ids``: one tiled pass per member.

    ``scale`` < 1 scores a downscaled copy (``scale**2`` of the pixels): the ranking of images by
    uncertainty is what selection uses, and benchmarks/bench_score_resolution.py measures how
    well it survives (Spearman rank correlation against full resolution, docs/benchmarks.md).
    """
    if not models:
        raise ValueError("scoring needs at least one model")
    uncertainty = np.zeros(len(ids))
    contour = np.zeros(len(ids))
    descriptors: list[np.ndarray] = []
    tile = scaled_tile(tile, scale)
    for i, image_id in enumerate(ids):
        check(cancel)
        image = downscale(load(image_id), scale)
        probs, edges, desc = [], [], []
        for model in models:
            pred = predict_tiled(model, image, tile=tile, overlap=overlap, device=device, cancel=cancel)
            probs.append(pred.gland)
            edges.append(pred.contour)
            desc.append(pred.descriptor)
        uncertainty[i] = image_uncertainty(np.stack(probs))
        contour[i] = image_uncertainty(np.stack(edges))
        descriptors.append(np.mean(np.stack(desc), axis=0))
        yield Progress("scoring the unlabelled images", (i + 1) / len(ids), f"{i + 1}/{len(ids)} images")
    dim = descriptors[0].shape[0] if descriptors else 0
    stacked = np.stack(descriptors) if descriptors else np.zeros((0, dim))
    return PoolScores(list(ids), uncertainty, stacked, contour_uncertainty=contour)


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
    scale: float = 1.0,
    cancel: CancelToken | None = None,
) -> Job[PoolScores]:
    """MC-dropout baseline: mean predictive entropy over ``samples`` dropout passes (``scale``:
    as in :func:`score_pool`)."""
    uncertainty = np.zeros(len(ids))
    descriptors: list[np.ndarray] = []
    torch.manual_seed(seed)
    tile = scaled_tile(tile, scale)
    for i, image_id in enumerate(ids):
        check(cancel)
        image = downscale(load(image_id), scale)
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
