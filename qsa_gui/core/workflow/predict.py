"""The Segment and Evaluate verbs: predictions for unlabelled images, GlaS metrics on test images.

Large images go through strip-wise segmentation with bounded memory; each prediction is
committed on its own, so a cancelled run keeps the ones already written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qsa_gui.core.model.segmenter import (
    Segmenter,
    evaluate_segmenter,
)
from qsa_gui.core.project.store import Project

from ..errors import QSAError
from ..jobs import CancelToken, Job, Progress, check, sub_job
from ..settings import Settings
from .common import _load_pairs, project_settings


def segment_job(
    project: Project,
    image_ids: Sequence[str] | None = None,
    settings: Settings | None = None,
    cancel: CancelToken | None = None,
) -> Job[dict[str, np.ndarray]]:
    """Segment ``image_ids`` (default: every unlabelled image) with the current model.

    Images above :data:`largeimage.LARGE_IMAGE_PIXELS` are segmented strip by strip
    (:func:`largeimage.segment_large`, memory independent of the image height) into a TIFF
    beside the predictions, moved into place at the commit; their entry in the returned dict is
    a read-only ``np.memmap`` of that file (uint16/uint32 ids) instead of an in-memory array.
    """
    from qsa_gui.core.data.lazy import open_lazy
    from qsa_gui.core.model.largeimage import is_large, segment_large

    settings = settings or project_settings(project)
    if project.current_model is None:
        raise QSAError("No segmentation model yet: press Retrain first.")
    ids = list(image_ids) if image_ids is not None else project.unlabelled_ids("pool")
    segmenter = Segmenter.load(project.model_path(project.current_model), device=settings.device)
    version = project.current_model
    out: dict[str, np.ndarray] = {}
    large: dict[str, Path] = {}
    n = max(1, len(ids))
    try:
        for i, image_id in enumerate(ids):
            check(cancel)
            if is_large(project.image(image_id).shape):
                tmp = project.scratch_path("predictions", f"{image_id}.large.{os.getpid()}.tif")
                large[image_id] = tmp
                with open_lazy(project.image_path(image_id)) as source:
                    yield from sub_job(
                        segment_large(segmenter, source, tmp, device=settings.device, cancel=cancel),
                        i / n,
                        (i + 1) / n,
                    )
            else:
                out[image_id] = segmenter.predict(
                    project.load_image(image_id), device=settings.device, cancel=cancel
                )
            yield Progress("segmenting", (i + 1) / n, f"{i + 1}/{len(ids)} images")
        check(cancel)
        with project.batch():  # one manifest write for the whole set
            for image_id in ids:
                if image_id in large:
                    project.save_prediction_file(image_id, large[image_id], version)
                else:
                    project.save_prediction(image_id, out[image_id], version)
    finally:
        for tmp in large.values():  # cancelled or failed: no half-finished prediction left behind
            tmp.unlink(missing_ok=True)
    if large:
        import tifffile

        for image_id in large:
            path = project.folder / str(project.image(image_id).prediction_path)
            out[image_id] = tifffile.memmap(path, mode="r")
    return {image_id: out[image_id] for image_id in ids}


def evaluate_job(
    project: Project,
    split: str = "test",
    settings: Settings | None = None,
    cancel: CancelToken | None = None,
) -> Job[dict[str, float]]:
    """GlaS metrics of the current model on every labelled image of ``split``."""
    settings = settings or project_settings(project)
    if project.current_model is None:
        raise QSAError("No segmentation model yet: press Retrain first.")
    ids = project.labelled_ids(split)
    if not ids:
        raise QSAError(f"No labelled images in the {split!r} set to evaluate on.")
    segmenter = Segmenter.load(project.model_path(project.current_model), device=settings.device)
    images, labels = _load_pairs(project, ids)
    metrics = yield from evaluate_segmenter(
        segmenter, images, labels, device=settings.device, cancel=cancel, stage=f"evaluating on {split}"
    )
    return metrics
