"""The uncertainty heat-map job: where the current segmentation model is unsure, per pixel.

Why: the suggestive ensemble's per-pixel uncertainty is not stored (only per-image scores are),
so the heat-map shows the *segmentation* model's own doubt, ``4 p (1 - p)`` of its gland
probability ``p``: 0 where it is sure (p = 0 or 1), 1 where it is guessing (p = 0.5). That is
where a pathologist's correction helps the next model most. It is computed as a job (never on the
GUI thread) and lives in the Qt-free core so it can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsa_gui.core.jobs import CancelToken, Job, Progress, check
from qsa_gui.core.model.segmenter import Segmenter
from qsa_gui.core.project.store import Project
from qsa_gui.core.settings import Settings


def uncertainty_from_probability(prob: np.ndarray) -> np.ndarray:
    """``4 p (1 - p)`` as float32 in [0, 1] (probabilities are clipped to [0, 1] first)."""
    p = np.clip(np.asarray(prob, dtype=np.float32), 0.0, 1.0)
    return np.clip(4.0 * p * (1.0 - p), 0.0, 1.0).astype(np.float32)


@dataclass
class HeatmapResult:
    """The heat-map of one image under one model version (the cache key of the widget)."""

    image_id: str
    model_version: str
    heat: np.ndarray  # float32 H x W in [0, 1]


def heatmap_job(
    project: Project,
    image_id: str,
    model_version: str,
    settings: Settings,
    cancel: CancelToken | None = None,
) -> Job[HeatmapResult]:
    """Load ``model_version``, predict ``image_id`` and return its per-pixel uncertainty."""
    yield Progress("uncertainty heat-map", 0.0, f"loading model {model_version}")
    segmenter = Segmenter.load(project.model_path(model_version), device=settings.device)
    check(cancel)
    image = project.load_image(image_id)
    yield Progress("uncertainty heat-map", 0.2, f"predicting {project.image(image_id).name}")
    gland, _contour = segmenter.probabilities(image, device=settings.device, cancel=cancel)
    check(cancel)
    heat = uncertainty_from_probability(gland)
    yield Progress("uncertainty heat-map", 1.0, f"mean uncertainty {float(heat.mean()):.3f}")
    return HeatmapResult(image_id, model_version, heat)


__all__ = ["HeatmapResult", "heatmap_job", "uncertainty_from_probability"]
