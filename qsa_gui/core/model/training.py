"""Training an :class:`~qsa_gui.core.model.fcn.SAFCN`: targets, patch sampling, augmentation, the loop.

The loop is a job (see :mod:`qsa_gui.core.jobs`): a float phase, then optionally the INQ
schedule (Zhou et al. 2017): at each accumulated portion the largest weights of every layer
are quantized and frozen, the rest retrained with a fresh optimizer (learning-rate reset), and
the final portion (1.0) quantizes everything with no training after it.

Training mutates the model in place. Callers pass a fresh copy and must not save the model of a
cancelled job (:class:`~qsa_gui.core.errors.Cancelled` propagates out of the generator and the
model is left half-trained).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from qsa_gui.core.model.fcn import SAFCN, pick_device
from qsa_gui.core.quant.inq import check_bits

from ..jobs import CancelToken, Job, Progress, check

DEFAULT_PORTIONS: tuple[float, ...] = (0.5, 0.75, 0.875, 1.0)


def make_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gland mask and contour mask (float32, H x W) from an instance label image.

    The contour is every object's inner boundary (against background *and* against touching
    objects) dilated by one pixel, so two touching glands are separated by a band about four
    pixels wide that the contour head learns and post-processing removes.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be H x W, got shape {lab.shape}")
    gland = (lab > 0).astype(np.float32)
    if not gland.any():
        return gland, np.zeros_like(gland)
    edges = find_boundaries(lab, connectivity=1, mode="inner", background=0)
    contour = ndi.binary_dilation(edges, structure=np.ones((3, 3), bool))
    return gland, contour.astype(np.float32)


@dataclass
class TrainConfig:
    """Everything that decides a training run (seeded: same config and data -> same model on CPU)."""

    iterations: int = 300
    batch_size: int = 4
    patch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    bits: int | None = None
    inq_portions: tuple[float, ...] = DEFAULT_PORTIONS
    inq_iterations: int = 50
    inq_lr: float | None = None  # None: same as lr (reset at every INQ step)
    seed: int = 0
    device: str | None = None  # None: pick_device()
    augment: bool = True
    contour_weight: float = 1.0
    dice_weight: float = 1.0
    foreground_fraction: float = 0.7  # share of patches centred on a gland pixel
    final_lr_fraction: float = 0.05  # cosine decay within each phase down to lr * this
    progress_every: int = 5

    def __post_init__(self) -> None:
        def pos_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {v!r}")

        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 0:
            raise ValueError(f"TrainConfig.iterations must be >= 0, got {self.iterations!r}")
        for name in ("batch_size", "patch_size", "progress_every"):
            pos_int(name)
        if isinstance(self.inq_iterations, bool) or not isinstance(self.inq_iterations, int):
            raise ValueError("TrainConfig.inq_iterations must be an integer")
        if self.inq_iterations < 0:
            raise ValueError("TrainConfig.inq_iterations must be >= 0")
        if not self.lr > 0 or (self.inq_lr is not None and not self.inq_lr > 0):
            raise ValueError("TrainConfig: learning rates must be > 0")
        if self.weight_decay < 0 or self.contour_weight < 0 or self.dice_weight < 0:
            raise ValueError("TrainConfig: weight_decay and loss weights must be >= 0")
        if not 0.0 <= self.foreground_fraction <= 1.0 or not 0.0 < self.final_lr_fraction <= 1.0:
            raise ValueError("TrainConfig: foreground_fraction in [0,1], final_lr_fraction in (0,1]")
        check_bits(self.bits, "TrainConfig.bits", allow_float=True)
        portions = tuple(float(p) for p in self.inq_portions)
        if (
            not portions
            or any(not 0.0 < p <= 1.0 for p in portions)
            or any(b <= a for a, b in zip(portions, portions[1:], strict=False))
            or portions[-1] != 1.0
        ):
            raise ValueError(
                f"TrainConfig.inq_portions must increase within (0, 1] and end at 1.0: {portions}"
            )
        self.inq_portions = portions


@dataclass
class TrainResult:
    """What a finished run reports; ``final_loss`` is the mean of the last 10 iterations' losses."""

    loss_history: list[float]
    final_loss: float
    bits: int | None
    seconds: float
    iterations_done: int


class PatchSampler:
    """Random training patches: image, gland and contour stacked so augmentation stays aligned.

    ``foreground_fraction`` of the patches are centred on a random gland pixel (glands are what
    the expert labelled and what the loss is about); the rest are uniform. Images smaller than a
    patch are reflect-padded (labels too, so they stay consistent).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        patch_size: int,
        rng: np.random.Generator,
        *,
        foreground_fraction: float = 0.7,
        augment: bool = True,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} label images")
        if not images:
            raise ValueError("no training images")
        self.patch = patch_size
        self.rng = rng
        self.fg_fraction = foreground_fraction
        self.augment = augment
        self.stacks: list[np.ndarray] = []
        self.fg_coords: list[np.ndarray] = []
        for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
            rgb = _as_float_rgb(img, i)
            lab = np.asarray(lab)
            if lab.shape != rgb.shape[:2]:
                raise ValueError(f"image {i}: labels {lab.shape} do not match image {rgb.shape[:2]}")
            gland, contour = make_targets(lab)
            stack = np.concatenate([rgb, gland[..., None], contour[..., None]], axis=2)
            h, w = stack.shape[:2]
            ph, pw = max(0, patch_size - h), max(0, patch_size - w)
            if ph or pw:
                stack = np.pad(stack, ((0, ph), (0, pw), (0, 0)), mode="reflect")
            self.stacks.append(np.ascontiguousarray(stack, dtype=np.float32))
            self.fg_coords.append(np.argwhere(stack[..., 3] > 0.5).astype(np.int32))
        fg = np.concatenate([s[..., 4].ravel() for s in self.stacks])
        frac = float(fg.mean())
        # Contour pixels are rare: weight them by sqrt(neg/pos) (a full ratio over-thickens them).
        self.contour_pos_weight = float(np.clip(math.sqrt((1 - frac) / max(frac, 1e-6)), 1.0, 10.0))

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One batch: images N x 3 x P x P, gland N x 1 x P x P, contour N x 1 x P x P."""
        p = self.patch
        out = np.empty((batch_size, p, p, 5), np.float32)
        for b in range(batch_size):
            k = int(self.rng.integers(len(self.stacks)))
            stack = self.stacks[k]
            h, w = stack.shape[:2]
            coords = self.fg_coords[k]
            if len(coords) and self.rng.random() < self.fg_fraction:
                cy, cx = coords[int(self.rng.integers(len(coords)))]
                y = int(np.clip(cy - p // 2 + self.rng.integers(-p // 4, p // 4 + 1), 0, h - p))
                x = int(np.clip(cx - p // 2 + self.rng.integers(-p // 4, p // 4 + 1), 0, w - p))
            else:
                y = int(self.rng.integers(h - p + 1))
                x = int(self.rng.integers(w - p + 1))
            patch = stack[y : y + p, x : x + p]
            if self.augment:
                patch = self._augment(patch)
            out[b] = patch
        t = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
        return t[:, :3], t[:, 3:4], t[:, 4:5]

    def _augment(self, patch: np.ndarray) -> np.ndarray:
        """Flips, 90-degree rotations, mild stain (per-channel gain/offset) and saturation jitter."""
        rng = self.rng
        patch = np.rot90(patch, int(rng.integers(4)))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = np.array(patch, dtype=np.float32)  # own, contiguous copy
        rgb = patch[..., :3]
        gain = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        offset = rng.uniform(-0.04, 0.04, size=3).astype(np.float32)
        sat = np.float32(rng.uniform(0.85, 1.15))
        gray = rgb.mean(axis=2, keepdims=True)
        rgb = gray + (rgb - gray) * sat
        patch[..., :3] = np.clip(rgb * gain + offset, 0.0, 1.0)
        return patch


def _as_float_rgb(img: np.ndarray, index: int) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image {index}: expected H x W x 3, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return a.astype(np.float32)


def segmentation_loss(
    gland_logit: torch.Tensor,
    contour_logit: torch.Tensor,
    gland: torch.Tensor,
    contour: torch.Tensor,
    *,
    contour_pos_weight: float = 1.0,
    contour_weight: float = 1.0,
    dice_weight: float = 1.0,
) -> torch.Tensor:
    """BCE + soft Dice on the gland map, plus positively weighted BCE on the rare contour pixels."""
    bce = F.binary_cross_entropy_with_logits(gland_logit, gland)
    prob = torch.sigmoid(gland_logit)
    inter = (prob * gland).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum() + gland.sum() + 1.0)
    pos_weight = torch.tensor(contour_pos_weight, dtype=contour_logit.dtype, device=contour_logit.device)
    cbce = F.binary_cross_entropy_with_logits(contour_logit, contour, pos_weight=pos_weight)
    return bce + dice_weight * dice + contour_weight * cbce


def _cosine_lr(base: float, final_fraction: float, step: int, total: int) -> float:
    if total <= 1:
        return base
    t = step / (total - 1)
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * t)))


def train_fcn(
    model: SAFCN,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: TrainConfig,
    cancel: CancelToken | None = None,
) -> Job[TrainResult]:
    """Train ``model`` in place on (image, instance labels) pairs; a job returning TrainResult.

    Seeds torch's global RNG (dropout) and a numpy Generator (patches, augmentation) from
    ``config.seed``, so CPU runs are reproducible. Checks ``cancel`` every iteration.
    """
    t0 = time.perf_counter()
    m = model.size_multiple
    if config.patch_size % m:
        raise ValueError(
            f"patch_size {config.patch_size} must be a multiple of the model's size_multiple {m}"
        )
    deepest = config.batch_size * (config.patch_size // m) ** 2
    if model.config.norm == "batch" and deepest < 2:
        raise ValueError("BatchNorm needs more than one value per channel: raise batch_size or patch_size")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sampler = PatchSampler(
        images,
        labels,
        config.patch_size,
        rng,
        foreground_fraction=config.foreground_fraction,
        augment=config.augment,
    )
    device = pick_device(config.device)
    model.to(device)
    model.train()

    train_portions = [p for p in config.inq_portions if p < 1.0] if config.bits is not None else []
    total = config.iterations + len(train_portions) * config.inq_iterations
    history: list[float] = []
    running: float | None = None

    def run_phase(stage: str, n_iter: int, base_lr: float, controller: object | None) -> Job[None]:
        nonlocal running
        if n_iter <= 0:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=base_lr, weight_decay=config.weight_decay)
        for it in range(n_iter):
            check(cancel)
            lr = _cosine_lr(base_lr, config.final_lr_fraction, it, n_iter)
            for group in opt.param_groups:
                group["lr"] = lr
            x, g, c = sampler.sample(config.batch_size)
            x, g, c = x.to(device), g.to(device), c.to(device)
            out = model(x)
            loss = segmentation_loss(
                out.gland,
                out.contour,
                g,
                c,
                contour_pos_weight=sampler.contour_pos_weight,
                contour_weight=config.contour_weight,
                dice_weight=config.dice_weight,
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if controller is not None:
                controller.mask_gradients()  # type: ignore[attr-defined]
            opt.step()
            if controller is not None:
                controller.restore_frozen()  # type: ignore[attr-defined]
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"training diverged at iteration {len(history) + 1} (loss {value})")
            history.append(value)
            running = value if running is None else 0.9 * running + 0.1 * value
            if (it + 1) % config.progress_every == 0 or it + 1 == n_iter:
                yield Progress(
                    stage=stage,
                    fraction=len(history) / max(total, 1),
                    message=f"iteration {it + 1}/{n_iter}",
                    metrics={"loss": running, "lr": lr},
                )

    yield Progress(stage="train", fraction=0.0, message="starting")
    yield from run_phase("train", config.iterations, config.lr, None)

    if config.bits is not None:
        from qsa_gui.core.quant.inq import INQController

        controller = INQController(model, config.bits, portions=config.inq_portions)
        inq_lr = config.inq_lr if config.inq_lr is not None else config.lr
        for portion in config.inq_portions:
            check(cancel)
            controller.step(portion)
            stage = f"inq {portion * 100:g}%"
            if portion < 1.0:
                yield from run_phase(stage, config.inq_iterations, inq_lr, controller)
            else:
                yield Progress(stage=stage, fraction=1.0, message="all weights quantized")
        if not controller.is_fully_quantized:
            raise RuntimeError("INQ schedule ended without quantizing every weight")

    model.eval()
    tail = history[-10:]
    return TrainResult(
        loss_history=history,
        final_loss=float(np.mean(tail)) if tail else float("nan"),
        bits=config.bits,
        seconds=time.perf_counter() - t0,
        iterations_done=len(history),
    )


__all__ = [
    "DEFAULT_PORTIONS",
    "PatchSampler",
    "TrainConfig",
    "TrainResult",
    "make_targets",
    "segmentation_loss",
    "train_fcn",
]
