"""The SA-shaped fully convolutional network, its presets, tiled inference and model files.

Shape (Yang et al. 2017, as publicly re-implemented): a stem of plain 3x3 convs at full
resolution, then stages of bottleneck residual blocks (1x1 -> 3x3 -> 1x1 + shortcut) separated
by 2x2 max-pooling with growing widths; the decoder brings every encoder scale back to input
resolution with transposed convs (kernel = stride = 2, stacked), concatenates them and ends with
a 3x3 and a 1x1 conv giving two logits per pixel: gland and contour (DCAN-style, to split
touching glands). The image descriptor used by suggestive annotation is the channel-wise spatial
mean of the last encoder feature map.

Normalisation defaults to BatchNorm ("batch"). In eval mode it is a fixed per-channel affine
map, so the network is translation equivariant (for shifts that are multiples of
``size_multiple``) and tiled inference matches a whole-image forward away from tile borders;
MC-dropout keeps it in eval mode too. Training batches of 4-8 patches still give it tens of
thousands of pixels per channel, and on the disc test problem it trained reliably where a
per-pixel channel LayerNorm ("layer": batch-free, also equivariant) stalled for 3 of 5 seeds.
GroupNorm ("group") trains well but its image-wide statistics make every tile see a different
normalisation, so tiled and whole-image predictions differ: avoid it with predict_tiled.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFileError
from ..jobs import CancelToken, check
from .presets import NORMS, PRESETS, FCNConfig, preset_config  # noqa: F401 - re-exported


class FCNOutput(NamedTuple):
    """Per-pixel logits (N x 1 x H x W) and the image descriptor (N x C)."""

    gland: torch.Tensor
    contour: torch.Tensor
    descriptor: torch.Tensor


class TiledPrediction(NamedTuple):
    """Whole-image probabilities (H x W float32) and descriptor ((C,) float32)."""

    gland: np.ndarray
    contour: np.ndarray
    descriptor: np.ndarray


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each pixel: batch- and position-independent statistics."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "layer":
        return ChannelLayerNorm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    groups = math.gcd(channels, 8)
    return nn.GroupNorm(groups, channels)


def _conv_norm_relu(cin: int, cout: int, kernel: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce -> 3x3 -> 1x1 expand, plus (projected) shortcut."""

    def __init__(self, cin: int, cout: int, ratio: int, norm: str) -> None:
        super().__init__()
        mid = max(cout // ratio, 4)
        self.body = nn.Sequential(
            _conv_norm_relu(cin, mid, 1, norm),
            _conv_norm_relu(mid, mid, 3, norm),
            nn.Conv2d(mid, cout, 1, bias=False),
            _norm(norm, cout),
        )
        # Zero the last norm's scale so each block starts as the identity: stable early training.
        last = self.body[-1]
        if hasattr(last, "weight") and last.weight is not None:
            nn.init.zeros_(last.weight)
        self.shortcut: nn.Module
        if cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _norm(norm, cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SAFCN(nn.Module):
    """The SA-shaped FCN; ``forward`` needs H and W to be multiples of ``size_multiple``."""

    def __init__(self, config: FCNConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        stem: list[nn.Module] = []
        cin = 3
        for _ in range(c.stem_convs):
            stem.append(_conv_norm_relu(cin, c.stem_width, 3, c.norm))
            cin = c.stem_width
        self.stem = nn.Sequential(*stem)
        self.stages = nn.ModuleList()
        for width, n_blocks in zip(c.stage_widths, c.blocks_per_stage, strict=True):
            blocks: list[nn.Module] = []
            for _ in range(n_blocks):
                blocks.append(Bottleneck(cin, width, c.bottleneck_ratio, c.norm))
                cin = width
            self.stages.append(nn.Sequential(*blocks))
        # One branch per encoder scale (the stem's full-resolution map included), each brought
        # to full resolution by k stacked stride-2 transposed convs (k = the scale's poolings).
        self.up = nn.ModuleList()
        scale_widths = (c.stem_width, *c.stage_widths)
        dw = c.decoder_width
        for k, width in enumerate(scale_widths):
            layers: list[nn.Module] = []
            if k == 0:
                layers.append(nn.Conv2d(width, dw, 1, bias=False))
            else:
                layers.append(nn.ConvTranspose2d(width, dw, 2, stride=2, bias=False))
                for _ in range(k - 1):
                    layers.append(nn.ConvTranspose2d(dw, dw, 2, stride=2, bias=False))
            layers += [_norm(c.norm, dw), nn.ReLU(inplace=True)]
            self.up.append(nn.Sequential(*layers))
        n_scales = len(scale_widths)
        self.head = nn.Sequential(
            nn.Dropout2d(c.dropout),
            _conv_norm_relu(n_scales * dw, dw, 3, c.norm),
            nn.Dropout2d(c.dropout),
            nn.Conv2d(dw, 2, 1),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        final = self.head[-1]
        assert isinstance(final, nn.Conv2d)
        nn.init.normal_(final.weight, std=0.01)
        # Start near the class priors: gland roughly balanced, contour pixels rare.
        with torch.no_grad():
            final.bias.copy_(torch.tensor([0.0, -2.0]))

    @property
    def descriptor_dim(self) -> int:
        return self.config.stage_widths[-1]

    @property
    def size_multiple(self) -> int:
        return 2 ** len(self.config.stage_widths)

    def forward(self, x: torch.Tensor) -> FCNOutput:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"SAFCN expects N x 3 x H x W, got {tuple(x.shape)}")
        m = self.size_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"SAFCN: H and W must be multiples of {m}, got {tuple(x.shape[2:])}")
        feats = [self.stem(x)]
        h = feats[0]
        for stage in self.stages:
            h = stage(F.max_pool2d(h, 2))
            feats.append(h)
        descriptor = h.mean(dim=(2, 3))
        fused = torch.cat([up(f) for up, f in zip(self.up, feats, strict=True)], dim=1)
        logits = self.head(fused)
        return FCNOutput(logits[:, 0:1], logits[:, 1:2], descriptor)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given (e.g. "cpu" to force CPU), else CUDA when available, else CPU."""
    if prefer:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} requested but CUDA is not available")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_MC_FLAG = "_qsa_mc_dropout"


@contextlib.contextmanager
def mc_dropout(model: nn.Module) -> Iterator[nn.Module]:
    """Inference with dropout active (MC-dropout): norms in eval mode, dropout layers sampling.

    :func:`predict_tiled` sees the flag this sets and leaves the modes alone. Every module's
    previous mode is restored on exit.
    """
    modes = {m: m.training for m in model.modules()}
    previous_flag = getattr(model, _MC_FLAG, False)
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        setattr(model, _MC_FLAG, True)
        yield model
    finally:
        setattr(model, _MC_FLAG, previous_flag)
        for m, mode in modes.items():
            m.training = mode


def _ramp(length: int, ramp: int) -> np.ndarray:
    """1-D blending window: raised cosine over ``ramp`` pixels at both ends, 1 inside.

    Windows of neighbouring tiles overlapping by exactly ``ramp`` sum to 1; elsewhere the
    accumulated weight is normalised away, so image borders (one tile only) keep full values.
    """
    w = np.ones(length, dtype=np.float64)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        t = (np.arange(ramp) + 0.5) / ramp
        rise = 0.5 - 0.5 * np.cos(np.pi * t)
        w[:ramp] = rise
        w[length - ramp :] = rise[::-1]
    return w


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _starts(size: int, tile: int, stride: int) -> list[int]:
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(starts[-1] + stride)
    return starts


def predict_tiled(
    model: SAFCN,
    image: np.ndarray,
    *,
    tile: int = 256,
    overlap: int = 32,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    cancel: CancelToken | None = None,
) -> TiledPrediction:
    """Gland/contour probabilities and the descriptor of an image of any size.

    Tiles start at multiples of ``size_multiple`` (so pooling grids line up and tiles agree in
    their overlap), the image is reflect-padded at the bottom/right to cover the last tile,
    and overlapping tiles are blended with a raised-cosine window. Only H x W float32
    accumulators live on the host; tiles go to the device ``batch_size`` at a time. Out of
    device memory (``torch.cuda.OutOfMemoryError``), the batch is halved, then the tile, and at
    last the model moves to the CPU (it stays there), each step announced by a
    :class:`GPUMemoryWarning`. The
    descriptor is the mean of the tiles' descriptors weighted by each tile's area inside the
    image. ``device=None`` uses the model's device; another device moves the model there.
    ``batch_size=None``: one tile at a time on the CPU (a batch of large tiles falls out of the
    caches: measured 2x slower per pixel), four elsewhere. Inputs and weights are channels-last
    (measured 1.2-2x faster on CPU). Runs in eval mode unless inside :func:`mc_dropout`.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"predict_tiled expects an H x W x 3 image, got shape {img.shape}")
    if batch_size is not None and batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    m = model.size_multiple
    if tile < m:
        raise ValueError(f"tile must be at least size_multiple={m}, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap}")
    img = img.astype(np.float32, copy=False)
    tile = (tile // m) * m
    if device is None:
        try:
            dev = next(model.parameters()).device
        except StopIteration:  # pragma: no cover - every SAFCN has parameters
            dev = torch.device("cpu")
    else:
        dev = torch.device(device)
        model.to(dev)
    if batch_size is None:
        batch_size = 1 if dev.type == "cpu" else 4
    model.to(memory_format=torch.channels_last)
    on_cpu_fallback = False
    tile0, batch0 = tile, batch_size
    while True:
        try:
            return _predict_tiled_once(model, img, tile, overlap, batch_size, dev, cancel)
        except Exception as exc:
            if not _is_out_of_memory(exc):
                raise
            _release_memory(dev)
            smaller = ((tile // 2) // m) * m
            if smaller >= max(m, 64) and overlap < smaller:
                warnings.warn(
                    f"out of {dev.type} memory at {tile} px tiles; retrying with {smaller} px tiles",
                    GPUMemoryWarning,
                    stacklevel=2,
                )
                tile, batch_size = smaller, 1
                continue
            if on_cpu_fallback or not (dev.type != "cpu" or isinstance(exc, torch.cuda.OutOfMemoryError)):
                raise
            warnings.warn(
                f"out of {dev.type} memory even with one {tile} px tile; continuing on the CPU (slower)",
                GPUMemoryWarning,
                stacklevel=2,
            )
            on_cpu_fallback = True
            dev = torch.device("cpu")
            model.to(dev)
            tile, batch_size = tile0, batch0  # host memory is another budget: start again


class GPUMemoryWarning(RuntimeWarning):
    """predict_tiled ran out of accelerator memory and went on with smaller batches or tiles,
    or on the CPU: slower, same kind of result (smaller tiles only change the blending)."""


def _is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError other backends raise for the same thing."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _release_memory(dev: torch.device) -> None:
    if dev.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _predict_tiled_once(
    model: SAFCN,
    img: np.ndarray,
    tile: int,
    overlap: int,
    batch_size: int,
    dev: torch.device,
    cancel: CancelToken | None,
) -> TiledPrediction:
    """One pass of :func:`predict_tiled` at a fixed tile size; a batch that runs out of memory is
    retried as halves (per-tile results do not depend on the batch in eval mode)."""
    m = model.size_multiple
    h, w = img.shape[:2]
    # Effective overlap is rounded up so that the stride is a multiple of size_multiple.
    stride = max(m, ((tile - overlap) // m) * m)
    th, tw = min(tile, _round_up(h, m)), min(tile, _round_up(w, m))
    ys, xs = _starts(h, th, stride), _starts(w, tw, stride)
    ph, pw = ys[-1] + th, xs[-1] + tw
    padded = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect") if (ph, pw) != (h, w) else img
    wy, wx = _ramp(th, th - stride), _ramp(tw, tw - stride)
    window = np.outer(wy, wx).astype(np.float32)

    gland = np.zeros((h, w), np.float32)
    contour = np.zeros((h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    desc_sum = np.zeros(model.descriptor_dim, np.float64)
    area_sum = 0.0
    boxes = [(y, x) for y in ys for x in xs]
    in_mc = bool(getattr(model, _MC_FLAG, False))
    was_training = model.training
    try:
        if not in_mc:
            model.eval()
        with torch.inference_mode():
            i = 0
            while i < len(boxes):
                check(cancel)
                chunk = boxes[i : i + batch_size]
                batch = np.stack([padded[y : y + th, x : x + tw] for y, x in chunk])
                try:
                    # N x H x W x 3 seen as N x 3 x H x W is already channels-last: no copy
                    x_t = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).to(dev)
                    out = model(x_t)
                    g = torch.sigmoid(out.gland[:, 0]).float().cpu().numpy()
                    c = torch.sigmoid(out.contour[:, 0]).float().cpu().numpy()
                    d = out.descriptor.double().cpu().numpy()
                except Exception as exc:
                    if batch_size == 1 or not _is_out_of_memory(exc):
                        raise
                    x_t = out = None  # type: ignore[assignment]
                    _release_memory(dev)
                    batch_size = max(1, batch_size // 2)
                    warnings.warn(
                        f"out of {dev.type} memory; predicting {batch_size} tile(s) at a time",
                        GPUMemoryWarning,
                        stacklevel=3,
                    )
                    continue
                for j, (y, x) in enumerate(chunk):
                    vh, vw = min(th, h - y), min(tw, w - x)
                    win = window[:vh, :vw]
                    gland[y : y + vh, x : x + vw] += g[j, :vh, :vw] * win
                    contour[y : y + vh, x : x + vw] += c[j, :vh, :vw] * win
                    weight[y : y + vh, x : x + vw] += win
                    area = float(vh * vw)
                    desc_sum += d[j] * area
                    area_sum += area
                i += len(chunk)
    finally:
        if not in_mc:
            model.train(was_training)
    np.divide(gland, weight, out=gland)
    np.divide(contour, weight, out=contour)
    return TiledPrediction(gland, contour, (desc_sum / area_sum).astype(np.float32))


def save_fcn(path: str | Path, model: SAFCN, *, bits: int | None, meta: dict, quantizer: str = "inq") -> int:
    """Write ``model`` (float32 or packed weights of ``quantizer``) with its config; returns bytes."""
    from qsa_gui.core.quant.modelfile import save_model

    full_meta = dict(meta)
    full_meta["config"] = model.config.to_dict()
    return save_model(path, model, bits=bits, meta=full_meta, quantizer=quantizer)


def load_fcn(path: str | Path, device: str | torch.device | None = None) -> tuple[SAFCN, dict]:
    """Rebuild an :class:`SAFCN` from a model file (never unpickles); model in eval mode."""
    from qsa_gui.core.quant.modelfile import load_model_state

    state, meta = load_model_state(path)
    try:
        config = FCNConfig.from_dict(meta.get("config") if isinstance(meta, dict) else None)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(path, f"invalid network configuration: {exc}") from None
    model = SAFCN(config)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(path, f"weights do not fit the network: {first}") from None
    model.to(pick_device() if device is None else torch.device(device))
    model.eval()
    return model, meta


__all__ = [
    "FCNConfig",
    "FCNOutput",
    "GPUMemoryWarning",
    "PRESETS",
    "SAFCN",
    "TiledPrediction",
    "count_parameters",
    "load_fcn",
    "mc_dropout",
    "pick_device",
    "predict_tiled",
    "save_fcn",
]
