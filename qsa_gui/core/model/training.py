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
from dataclasses import dataclass, field

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
    # Early stopping of the float phase: every ``early_stop_every`` iterations the loss on a fixed
    # held-out patch batch is measured; after ``early_stop_patience`` checks without a 1% gain the
    # phase ends (``iterations`` stays the cap). None: always run ``iterations``.
    early_stop_patience: int | None = None
    early_stop_every: int = 10
    early_stop_patches: int = 16

    def __post_init__(self) -> None:
        def pos_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {v!r}")

        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 0:
            raise ValueError(f"TrainConfig.iterations must be >= 0, got {self.iterations!r}")
        for name in ("batch_size", "patch_size", "progress_every", "early_stop_every", "early_stop_patches"):
            pos_int(name)
        if self.early_stop_patience is not None:
            pos_int("early_stop_patience")
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
    """What a finished run reports; ``final_loss`` is the mean of the last 10 iterations' losses.

    ``float_iterations``: iterations of the float phase actually run (below ``iterations`` when
    early stopping ended it); ``held_out_history``: the held-out patch losses it was judged on.
    """

    loss_history: list[float]
    final_loss: float
    bits: int | None
    seconds: float
    iterations_done: int
    float_iterations: int = 0
    held_out_history: list[float] = field(default_factory=list)


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


class EarlyStopping:
    """Plateau rule on a held-out loss: stop after ``patience`` checks without a relative gain.

    A check counts as progress when the loss falls below ``best * (1 - min_rel_gain)``; the
    learning curves of the suggestive members flatten long before a fixed budget ends, and
    their selection only needs the members' disagreement, not the last percent of loss.
    """

    def __init__(self, patience: int, min_rel_gain: float = 0.01) -> None:
        if patience < 1:
            raise ValueError("patience must be >= 1")
        self.patience = patience
        self.min_rel_gain = min_rel_gain
        self.best = math.inf
        self.bad = 0

    def update(self, loss: float) -> bool:
        """Record one held-out loss; True when training should stop."""
        if loss < self.best * (1.0 - self.min_rel_gain) or self.best == math.inf:
            self.best = min(self.best, loss)
            self.bad = 0
        else:
            self.bad += 1
        return self.bad >= self.patience


def _probe_batch(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """A fixed, un-augmented patch batch (own RNG, so the training patches stay as without it)."""
    rng = np.random.default_rng([config.seed, 7919])
    probe = PatchSampler(
        images, labels, config.patch_size, rng, foreground_fraction=config.foreground_fraction, augment=False
    )
    x, g, c = probe.sample(config.early_stop_patches)
    return x, g, c, probe.contour_pos_weight


def train_fcn(
    model: SAFCN,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    config: TrainConfig,
    cancel: CancelToken | None = None,
    held_out: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
) -> Job[TrainResult]:
    """Train ``model`` in place on (image, instance labels) pairs; a job returning TrainResult.

    Seeds torch's global RNG (dropout) and a numpy Generator (patches, augmentation) from
    ``config.seed``, so CPU runs are reproducible. Checks ``cancel`` every iteration.
    With ``config.early_stop_patience`` the float phase ends once the loss on patches of
    ``held_out`` (images the model does not train on, e.g. a bootstrap's out-of-bag images;
    default: fixed patches of the training images) stops improving. Weights and inputs are
    channels-last while training (measured ~1.3x faster per iteration on CPU at the small width).
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
    model.to(device=device, memory_format=torch.channels_last)
    model.train()
    probe = None
    if config.early_stop_patience is not None and config.iterations > 0:
        src = held_out if held_out is not None and len(held_out[0]) > 0 else (images, labels)
        px, pg, pc, pw = _probe_batch(src[0], src[1], config)
        probe = (
            px.to(device).contiguous(memory_format=torch.channels_last),
            pg.to(device),
            pc.to(device),
            pw,
        )
    held_out_history: list[float] = []

    def probe_loss() -> float:
        assert probe is not None
        model.eval()
        with torch.no_grad():
            out = model(probe[0])
            value = segmentation_loss(
                out.gland,
                out.contour,
                probe[1],
                probe[2],
                contour_pos_weight=probe[3],
                contour_weight=config.contour_weight,
                dice_weight=config.dice_weight,
            )
        model.train()
        return float(value)

    train_portions = [p for p in config.inq_portions if p < 1.0] if config.bits is not None else []
    total = config.iterations + len(train_portions) * config.inq_iterations
    history: list[float] = []
    running: float | None = None

    def run_phase(
        stage: str,
        n_iter: int,
        base_lr: float,
        controller: object | None,
        stopper: EarlyStopping | None = None,
    ) -> Job[int]:
        """Returns the iterations run (fewer than ``n_iter`` when ``stopper`` ended the phase)."""
        nonlocal running
        if n_iter <= 0:
            return 0
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=base_lr, weight_decay=config.weight_decay)
        for it in range(n_iter):
            check(cancel)
            lr = _cosine_lr(base_lr, config.final_lr_fraction, it, n_iter)
            for group in opt.param_groups:
                group["lr"] = lr
            x, g, c = sampler.sample(config.batch_size)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            g, c = g.to(device), c.to(device)
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
            stop = False
            if stopper is not None and (it + 1) % config.early_stop_every == 0 and it + 1 < n_iter:
                held_out_history.append(probe_loss())
                stop = stopper.update(held_out_history[-1])
            if (it + 1) % config.progress_every == 0 or it + 1 == n_iter or stop:
                yield Progress(
                    stage=stage,
                    fraction=len(history) / max(total, 1),
                    message=f"iteration {it + 1}/{n_iter}" + (" (loss plateaued: stopping)" if stop else ""),
                    metrics={"loss": running, "lr": lr},
                )
            if stop:
                return it + 1
        return n_iter

    yield Progress(stage="train", fraction=0.0, message="starting")
    stopper = EarlyStopping(config.early_stop_patience) if probe is not None else None
    float_done = yield from run_phase("train", config.iterations, config.lr, None, stopper)
    total = float_done + len(train_portions) * config.inq_iterations

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
    model.to(memory_format=torch.contiguous_format)  # callers and model files expect plain layout
    tail = history[-10:]
    return TrainResult(
        loss_history=history,
        final_loss=float(np.mean(tail)) if tail else float("nan"),
        bits=config.bits,
        seconds=time.perf_counter() - t0,
        iterations_done=len(history),
        float_iterations=float_done,
        held_out_history=held_out_history,
    )


__all__ = [
    "DEFAULT_PORTIONS",
    "EarlyStopping",
    "PatchSampler",
    "TrainConfig",
    "TrainResult",
    "make_targets",
    "segmentation_loss",
    "train_fcn",
]
