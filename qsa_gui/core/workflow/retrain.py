"""The Retrain verb: train the quantized segmentation FCN on all labels, kept only if not worse.

The new model folder is written under a temporary name and renamed into place, and the
manifest is written last, so cancelling or killing the job leaves the previous model current.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

from qsa_gui.core.model.segmenter import (
    Segmenter,
    evaluate_segmenter,
    is_not_worse,
    train_segmenter,
    validation_split,
)
from qsa_gui.core.project.store import ModelVersion, Project

from ..errors import QSAError
from ..jobs import CancelToken, Job, Progress, check, sub_job
from ..settings import Settings
from .common import _load_pairs, _now, project_settings
from .results import RetrainResult


def _commit_model_folder(tmp: Path, final: Path) -> None:
    if final.exists():
        raise QSAError(f"model folder {final} already exists; refusing to overwrite a model")
    os.replace(tmp, final)


def retrain_job(
    project: Project,
    settings: Settings | None = None,
    cancel: CancelToken | None = None,
    start_from: str | None = None,
) -> Job[RetrainResult]:
    """Retrain the segmentation FCN(s) on the labels; keep the old model if the new one is worse."""
    settings = settings or project_settings(project)
    labelled = project.labelled_ids("pool")
    if not labelled:
        raise QSAError("No labelled images yet: label at least one image and mark it done before retraining.")
    train_ids, val_ids = validation_split(labelled)
    t0 = time.monotonic()
    yield Progress("loading labels", 0.0, f"{len(train_ids)} training, {len(val_ids)} held-out images")
    images, labels = _load_pairs(project, train_ids)
    init = None
    if start_from is not None:
        init = Segmenter.load(project.model_path(start_from), device=settings.device)
    config = settings.segmenter_config()
    segmenter = yield from sub_job(train_segmenter(images, labels, config, cancel, init=init), 0.0, 0.85)
    new_metrics: dict[str, float] = {}
    old_metrics: dict[str, float] | None = None
    if val_ids:
        val_images, val_labels = _load_pairs(project, val_ids)
        new_metrics = yield from sub_job(
            evaluate_segmenter(segmenter, val_images, val_labels, device=settings.device, cancel=cancel),
            0.85,
            0.93,
        )
        if project.current_model is not None:
            old = Segmenter.load(project.model_path(project.current_model), device=settings.device)
            old_metrics = yield from sub_job(
                evaluate_segmenter(
                    old,
                    val_images,
                    val_labels,
                    device=settings.device,
                    cancel=cancel,
                    stage="validating the current model",
                ),
                0.93,
                0.99,
            )
    check(cancel)
    # an image predicted empty has an infinite object Hausdorff: JSON stores that as null
    new_metrics = {k: (float(v) if math.isfinite(v) else None) for k, v in new_metrics.items()}
    accepted = is_not_worse(new_metrics, old_metrics) if val_ids else True
    if not val_ids:
        reason = "accepted (too few labelled images to hold any out)"
    elif accepted:
        reason = "accepted: not worse than the current model on held-out labelled images"
    else:
        reason = (
            "kept out: scored worse than the current model on held-out labelled images "
            f"(object F1 {new_metrics.get('object_f1', 0):.3f} vs {old_metrics.get('object_f1', 0):.3f}, "
            f"object Dice {new_metrics.get('object_dice', 0):.3f} vs {old_metrics.get('object_dice', 0):.3f})"
        )
    final = project.new_model_path("seg")
    final = final.with_suffix("") if final.suffix else final
    tmp = final.parent / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    meta = {
        "kind": "segmentation",
        "n_labelled": len(labelled),
        "train_ids": train_ids,
        "val_ids": val_ids,
        "metrics": new_metrics,
        "created": _now(),
    }
    try:
        segmenter.save(tmp, bits=config.bits, meta=meta)
        _commit_model_folder(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    version = ModelVersion(
        version=final.name,
        path=str(final.relative_to(project.folder)),
        created=_now(),
        kind="segmentation",
        bits=config.bits,
        n_labelled=len(labelled),
        metrics=dict(new_metrics, train_seconds=round(time.monotonic() - t0, 1)),
        accepted=accepted,
        reason=reason,
        parent=project.current_model,
    )
    project.add_model(version, make_current=accepted)
    yield Progress("done", 1.0, reason)
    return RetrainResult(version, old_metrics)
