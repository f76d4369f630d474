"""Segmentation FCN(s) (QNT): train on all labels, predict instances, judge against the old model.

Several members can be averaged (the paper's best setting uses 5); each is quantized with INQ
when ``bits`` is set. The regression guard compares a new model with the current one on the same
held-out labelled images and keeps the old one unless the new one is at least as good.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from qsa_gui.core.model.fcn import SAFCN, FCNConfig, load_fcn, predict_tiled, preset_config, save_fcn
from qsa_gui.core.model.metrics import evaluate_set
from qsa_gui.core.model.postprocess import probs_to_instances
from qsa_gui.core.model.quantized_training import train_quantized
from qsa_gui.core.model.training import TrainConfig

from ..errors import ModelFileError
from ..jobs import CancelToken, Job, Progress, check, sub_job


@dataclass(frozen=True)
class ModelSetConfig:
    """A set of FCNs built and trained alike: the fields the suggestive ensemble
    (:class:`~qsa_gui.core.active.ensemble.EnsembleConfig`) and the segmenter share."""

    n_models: int = 1
    preset: str = "small"
    bits: int | None = 7  # INQ bits of every member; None: float weights
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    quantizer: str = "inq"  # with bits set: inq, or dorefa / twn (codebook, 1 / 2 bits)

    def fcn_config(self) -> FCNConfig:
        return preset_config(self.preset)


@dataclass(frozen=True)
class SegmenterConfig(ModelSetConfig):
    """How the segmentation FCN(s) are built and trained, plus how they tile large images."""

    tile: int = 256
    overlap: int = 32


@dataclass
class Segmenter:
    """One or several FCNs whose probabilities are averaged, then turned into instances."""

    models: list[SAFCN]
    tile: int = 256
    overlap: int = 32
    quantizer: str = "inq"  # how quantized members are packed when saved

    def probabilities(
        self, image: np.ndarray, device: str | None = None, cancel: CancelToken | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        gland = None
        contour = None
        for model in self.models:
            pred = predict_tiled(
                model, image, tile=self.tile, overlap=self.overlap, device=device, cancel=cancel
            )
            gland = pred.gland if gland is None else gland + pred.gland
            contour = pred.contour if contour is None else contour + pred.contour
        assert gland is not None and contour is not None
        n = len(self.models)
        return gland / n, contour / n

    def predict(
        self, image: np.ndarray, device: str | None = None, cancel: CancelToken | None = None
    ) -> np.ndarray:
        gland, contour = self.probabilities(image, device, cancel)
        return probs_to_instances(gland, contour)

    def save(self, folder: str | Path, *, bits: int | None, meta: dict) -> int:
        """Write the members into ``folder`` (created); callers rename it into place atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        total = 0
        for i, model in enumerate(self.models):
            member_meta = dict(
                meta, member=i, n_members=len(self.models), tile=self.tile, overlap=self.overlap
            )
            if self.quantizer != "inq":
                member_meta["quantizer"] = self.quantizer
            total += save_fcn(
                folder / f"member_{i}.qsam", model, bits=bits, meta=member_meta, quantizer=self.quantizer
            )
        return total

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Segmenter:
        folder = Path(folder)
        files = sorted(folder.glob("member_*.qsam"), key=lambda p: int(p.stem.split("_")[1]))
        if not files:
            raise ModelFileError(folder, "no model members (member_*.qsam) in this model folder")
        models = []
        meta: dict = {}
        for f in files:
            model, meta = load_fcn(f, device=device)
            models.append(model)
        expected = int(meta.get("n_members", len(files)))
        if expected != len(files):
            raise ModelFileError(folder, f"model has {expected} members but {len(files)} member files")
        quantizer = str(meta.get("quantizer", "inq"))
        return cls(models, int(meta.get("tile", 256)), int(meta.get("overlap", 32)), quantizer)


def _hash_unit(text: str) -> float:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def validation_split(ids: Sequence[str], fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Stable held-out split of labelled ids: an image's side depends only on its id.

    Stability matters for the regression guard: old and new models are compared on the same
    images, and an image once held out stays held out as the labelled set grows. With fewer than
    three labelled images nothing is held out; otherwise at least one and at most half are.
    """
    ids = list(ids)
    if len(ids) < 3:
        return ids, []
    ranked = sorted(ids, key=_hash_unit)
    n_val = sum(1 for s in ids if _hash_unit(s) < fraction)
    n_val = min(max(n_val, 1), len(ids) // 2)
    held = set(ranked[:n_val])
    return [s for s in ids if s not in held], [s for s in ids if s in held]


def train_segmenter(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: SegmenterConfig,
    cancel: CancelToken | None = None,
    init: Segmenter | None = None,
) -> Job[Segmenter]:
    """Train ``config.n_models`` FCNs on all of ``images``; ``init`` fine-tunes an earlier model."""
    if len(images) == 0:
        raise ValueError("the segmentation model needs at least one labelled image")
    models = []
    n = config.n_models
    for member in range(n):
        check(cancel)
        torch.manual_seed(config.seed * 1000 + 17 + member)
        model = SAFCN(config.fcn_config())
        if init is not None and member < len(init.models):
            model.load_state_dict(init.models[member].state_dict())
        tc = replace(config.train, bits=config.bits, seed=config.seed * 1000 + 17 + member)
        yield from sub_job(
            train_quantized(model, list(images), list(labels), tc, config.quantizer, cancel),
            member / n,
            (member + 1) / n,
            stage_prefix=f"segmentation model {member + 1}/{n}: " if n > 1 else "",
        )
        models.append(model)
    return Segmenter(models, tile=config.tile, overlap=config.overlap, quantizer=config.quantizer)


def evaluate_segmenter(
    segmenter: Segmenter,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    device: str | None = None,
    cancel: CancelToken | None = None,
    stage: str = "validating",
) -> Job[dict[str, float]]:
    """GlaS metrics of ``segmenter`` on labelled images (pooled over the set, as the challenge)."""
    preds = []
    for i, image in enumerate(images):
        check(cancel)
        preds.append(segmenter.predict(image, device=device, cancel=cancel))
        yield Progress(stage, (i + 1) / max(1, len(images)), f"{i + 1}/{len(images)} images")
    return evaluate_set(preds, list(labels))


def guard_score(metrics: dict[str, float]) -> float:
    """One number to compare model versions: mean of object F1 and object Dice (higher is better)."""
    f1 = metrics.get("object_f1", float("nan"))
    dice = metrics.get("object_dice", float("nan"))
    if math.isnan(f1) or math.isnan(dice):
        return float("-inf")
    return 0.5 * (f1 + dice)


def is_not_worse(new: dict[str, float], old: dict[str, float] | None, tolerance: float = 0.0) -> bool:
    """Regression guard: accept ``new`` unless it scores below ``old`` on the same images."""
    if old is None:
        return True
    return guard_score(new) >= guard_score(old) - tolerance
