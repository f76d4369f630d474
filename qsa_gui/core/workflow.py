"""The jobs every shell runs on a project: suggest, retrain, segment, evaluate.

Each job reads what it needs from the :class:`~qsa_gui.core.project.Project`, computes without
touching it, and commits its result at the very end (model folder renamed into place, manifest
written last), so cancelling or killing a job leaves the previous state as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import QSAError
from .jobs import CancelToken, Job, Progress, check, sub_job
from .project import ModelVersion, Project, SuggestionRound
from .segment import Segmenter, evaluate_segmenter, is_not_worse, train_segmenter, validation_split
from .settings import Settings
from .suggest import (
    PoolScores,
    appearance_descriptor,
    default_k,
    select,
    strategy_scores_job,
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def project_settings(project: Project) -> Settings:
    return Settings.from_dict(project.settings)


def _label_fingerprint(project: Project, ids: Sequence[str]) -> str:
    h = hashlib.sha1()
    for image_id in sorted(ids):
        h.update(image_id.encode("utf-8"))
        labels = project.load_labels(image_id)
        if labels is not None:
            h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


def ensemble_key(project: Project, settings: Settings, labelled: Sequence[str], strategy: str) -> str:
    """Version of the suggestive models: changes iff the labels or the training knobs change."""
    knobs = {
        k: v
        for k, v in settings.to_dict().items()
        if k not in ("strategy", "k", "k_top", "suggest_fraction", "device")
    }
    kind = "mc" if strategy == "mc_dropout" else ("float" if strategy == "sa" else "ens")
    blob = json.dumps({"knobs": knobs, "kind": kind, "labels": _label_fingerprint(project, labelled)})
    return f"{kind}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"


def _load_pairs(project: Project, ids: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, labels = [], []
    for image_id in ids:
        lab = project.load_labels(image_id)
        if lab is None:
            raise QSAError(f"image {project.image(image_id).name} is marked labelled but has no label file")
        images.append(project.load_image(image_id))
        labels.append(lab)
    return images, labels


@dataclass
class SuggestResult:
    """What a suggestion round produced (also recorded in the project)."""

    round: SuggestionRound
    reused_scores: bool


def suggest_job(
    project: Project,
    settings: Settings | None = None,
    cancel: CancelToken | None = None,
) -> Job[SuggestResult]:
    """Train the suggestive ensemble on the labels, score the unlabelled pool, record a round."""
    settings = settings or project_settings(project)
    pool = project.unlabelled_ids("pool")
    if not pool:
        raise QSAError("Every image is labelled: there is nothing left to suggest.")
    labelled = project.labelled_ids("pool")
    n_total = (
        len(pool)
        + len(labelled)
        + len([r for r in project.images if r.split == "pool" and r.status == "in_progress"])
    )
    k = settings.k or default_k(n_total, settings.suggest_fraction)
    strategy = settings.strategy if labelled else "diverse"
    reused = False
    yield Progress("preparing", 0.0, f"{len(labelled)} labelled, {len(pool)} unlabelled")
    if strategy == "diverse":
        descriptors = []
        for i, image_id in enumerate(pool):
            check(cancel)
            descriptors.append(appearance_descriptor(project.load_image(image_id)))
            yield Progress("describing images (nothing labelled yet)", 0.9 * (i + 1) / len(pool))
        scores = PoolScores(list(pool), np.zeros(len(pool)), np.stack(descriptors))
        key = "appearance"
    elif strategy == "random":
        scores = PoolScores(list(pool), np.zeros(len(pool)), np.zeros((len(pool), 1)))
        key = "random"
    else:
        key = ensemble_key(project, settings, labelled, strategy)
        scores, reused = yield from sub_job(
            _scores_for(project, settings, strategy, key, pool, labelled, cancel), 0.0, 0.97
        )
    check(cancel)
    picked = select(strategy, scores, k, k_top=settings.k_top, seed=settings.seed + len(project.rounds))
    round_ = SuggestionRound(
        index=len(project.rounds) + 1,
        created=_now(),
        strategy=strategy,
        model_key=key,
        image_ids=[s.image_id for s in picked],
        scores={
            s.image_id: {
                "rank": s.rank,
                "uncertainty": s.uncertainty,
                "representativeness": s.representativeness,
            }
            for s in picked
        },
        n_labelled_before=len(labelled),
        settings=settings.to_dict(),
    )
    project.add_round(round_)
    yield Progress("done", 1.0, f"suggested {len(picked)} images")
    return SuggestResult(round_, reused)


def _scores_for(
    project: Project,
    settings: Settings,
    strategy: str,
    key: str,
    pool: list[str],
    labelled: list[str],
    cancel: CancelToken | None,
) -> Job[tuple[PoolScores, bool]]:
    cached = project.load_scores(key)
    if cached is not None:
        scores = PoolScores.from_arrays(cached)
        index = {image_id: i for i, image_id in enumerate(scores.ids)}
        if all(image_id in index for image_id in pool):
            rows = [index[image_id] for image_id in pool]
            yield Progress("reusing cached scores (labels unchanged)", 1.0)
            return PoolScores(list(pool), scores.uncertainty[rows], scores.descriptors[rows]), True
    images, labels = _load_pairs(project, labelled)
    scores, _ = yield from strategy_scores_job(
        strategy, settings, images, labels, pool, project.load_image, seed=settings.seed, cancel=cancel
    )
    check(cancel)
    project.save_scores(key, scores.arrays())
    return scores, False


@dataclass
class RetrainResult:
    version: ModelVersion
    previous_metrics: dict[str, float] | None


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
    from .io import open_lazy
    from .largeimage import is_large, segment_large

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
