"""The uncertainty heat-map job: per pixel, the quantity that ranked the suggestions.

Why this quantity: the suggestion table's u of an image is the mean over its pixels of the
standard deviation of the suggestive ensemble's gland probabilities
(:func:`~qsa_gui.core.active.scoring.image_uncertainty`). The heat-map shows that same per-pixel
disagreement (:func:`~qsa_gui.core.active.scoring.disagreement_map`) from the members of the
latest round, stored with its scores (:mod:`.members`), with the tiling the scores used, so the
map's mean *is* the table's u. Only when no round has stored members (nothing suggested yet, a
random / MC-dropout round, an older project) does it fall back to the segmentation model's own
doubt ``4 p (1 - p)``, under another name ("Model unsure"), because it is another quantity.

Both maps come from :func:`~qsa_gui.core.model.fcn.predict_tiled`, which blends overlapping
tiles with a raised-cosine window, so there are no seams at tile borders. It runs as a job (never
on the GUI thread) in the Qt-free core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsa_gui.core.project.store import Project
from qsa_gui.core.settings import Settings

from ..jobs import CancelToken, Job, Progress, check
from .members import has_members, load_members

KIND_DISAGREEMENT = "disagreement"
KIND_MODEL = "model"
TITLES = {KIND_DISAGREEMENT: "Ensemble disagreement", KIND_MODEL: "Model unsure"}
#: Value shown fully opaque (top of the colour bar). The std of probabilities is at most 0.5;
#: 0.25 already means members far apart (e.g. half at 0.25, half at 0.75). Fixed, not per image,
#: so that a calm image looks calm next to a doubtful one, as the table says.
SCALES = {KIND_DISAGREEMENT: 0.25, KIND_MODEL: 1.0}
MEANINGS = {
    KIND_DISAGREEMENT: "spread (std) of the suggestive models' gland probability; its image mean is "
    "the table's u",
    KIND_MODEL: "the segmentation model's doubt 4·p·(1−p) of its gland probability p (no suggestion "
    "round with stored models yet)",
}


def uncertainty_from_probability(prob: np.ndarray) -> np.ndarray:
    """``4 p (1 - p)`` as float32 in [0, 1] (probabilities are clipped to [0, 1] first)."""
    p = np.clip(np.asarray(prob, dtype=np.float32), 0.0, 1.0)
    return np.clip(4.0 * p * (1.0 - p), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class HeatmapSource:
    """What a heat-map is computed from: the latest round's ensemble, or a segmentation model."""

    kind: str  # KIND_DISAGREEMENT or KIND_MODEL
    key: str  # the round's ensemble key or the model version (with the image id: the cache key)
    round_index: int | None = None

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def scale(self) -> float:
        return SCALES[self.kind]

    @property
    def meaning(self) -> str:
        return MEANINGS[self.kind]

    @property
    def cache_key(self) -> str:
        return f"{self.kind}:{self.key}"


def heatmap_source(project: Project) -> HeatmapSource | None:
    """The latest round's stored ensemble, else the current segmentation model, else None."""
    rnd = project.latest_round()
    if rnd is not None and has_members(project, rnd.model_key):
        return HeatmapSource(KIND_DISAGREEMENT, rnd.model_key, rnd.index)
    if project.current_model is not None:
        return HeatmapSource(KIND_MODEL, project.current_model)
    return None


@dataclass
class HeatmapResult:
    """The heat-map of one image from one source (with the image id, the widget's cache key)."""

    image_id: str
    source: HeatmapSource
    heat: np.ndarray  # float32 H x W, 0 = certain; see SCALES for the top of the scale

    @property
    def mean(self) -> float:
        return float(np.mean(self.heat))

    @property
    def model_version(self) -> str:  # the source key (kept for callers of the old result)
        return self.source.key


def heatmap_job(
    project: Project,
    image_id: str,
    source: HeatmapSource | str | None,
    settings: Settings,
    cancel: CancelToken | None = None,
) -> Job[HeatmapResult]:
    """Compute the heat-map of ``image_id`` from ``source`` (None: :func:`heatmap_source`; a
    string: that segmentation model version)."""
    if source is None:
        source = heatmap_source(project)
        if source is None:
            raise ValueError("no suggestion round with stored models and no segmentation model yet")
    elif isinstance(source, str):
        source = HeatmapSource(KIND_MODEL, source)
    # torch-backed parts only now: the GUI imports this module (HeatmapSource) at start-up
    from qsa_gui.core.active.scoring import disagreement_map
    from qsa_gui.core.model.fcn import predict_tiled
    from qsa_gui.core.model.segmenter import Segmenter

    stage = TITLES[source.kind].lower()
    name = project.image(image_id).name
    if source.kind == KIND_DISAGREEMENT:
        yield Progress(stage, 0.0, f"loading the suggestive models of round {source.round_index}")
        members = load_members(project, source.key, device=settings.device)
        if members is None:
            raise ValueError(f"the suggestive models of round {source.round_index} are no longer stored")
        check(cancel)
        image = project.load_image(image_id)
        probs = []
        k = len(members.models)
        for i, model in enumerate(members.models):
            yield Progress(stage, 0.1 + 0.9 * i / k, f"model {i + 1}/{k}: {name}")
            pred = predict_tiled(
                model,
                image,
                tile=members.tile,
                overlap=members.overlap,
                device=settings.device,
                cancel=cancel,
            )
            probs.append(pred.gland)
            check(cancel)
        heat = disagreement_map(np.stack(probs)).astype(np.float32, copy=False)
    else:
        yield Progress(stage, 0.0, f"loading model {source.key}")
        segmenter = Segmenter.load(project.model_path(source.key), device=settings.device)
        check(cancel)
        image = project.load_image(image_id)
        yield Progress(stage, 0.2, f"predicting {name}")
        gland, _contour = segmenter.probabilities(image, device=settings.device, cancel=cancel)
        check(cancel)
        heat = uncertainty_from_probability(gland)
    result = HeatmapResult(image_id, source, heat)
    yield Progress(stage, 1.0, f"mean {result.mean:.3f}")
    return result


__all__ = [
    "HeatmapResult",
    "HeatmapSource",
    "KIND_DISAGREEMENT",
    "KIND_MODEL",
    "SCALES",
    "TITLES",
    "heatmap_job",
    "heatmap_source",
    "uncertainty_from_probability",
]
