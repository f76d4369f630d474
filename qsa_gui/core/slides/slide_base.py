"""What every slide reader shares: the slide's description and the interface callers use.

Why apart from the readers: the tifffile reader (:mod:`.reader`) and the OpenSlide reader
(:mod:`.openslide_reader`) both implement :class:`SlideBase`; regions, tissue detection, the
slide view and segmentation use only it, so they never know which library opened the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Objective power <-> pixel size when only one is known: 20x ~ 0.5 um/px (Aperio, Hamamatsu).
MICRONS_AT_1X = 10.0


@dataclass(frozen=True)
class SlideLevel:
    """One pyramid level: ``shape`` (H, W) and its ``downsample`` from level 0."""

    shape: tuple[int, int]
    downsample: float


@dataclass(frozen=True)
class SlideInfo:
    """What a slide is: format, level-0 size, levels, pixel size (um/px) and objective power."""

    path: Path
    format: str
    shape: tuple[int, int]
    levels: tuple[SlideLevel, ...]
    mpp: float | None
    objective_power: float | None
    notes: tuple[str, ...] = field(default=())

    @property
    def magnification(self) -> float | None:
        """The level-0 magnification: the objective power, else derived from the pixel size."""
        if self.objective_power:
            return self.objective_power
        if self.mpp:
            return MICRONS_AT_1X / self.mpp
        return None


def metadata_notes(mpp: float | None, power: float | None) -> tuple[str, ...]:
    """What had to be assumed about the scale, said rather than guessed silently."""
    notes = []
    if mpp is None:
        notes.append("pixel size unknown (no µm/px in the file's metadata)")
    if power is None:
        notes.append(
            "objective power unknown"
            + (f"; taken as {MICRONS_AT_1X / mpp:.1f}x from the pixel size" if mpp else "")
        )
    return tuple(notes)


class SlideBase:
    """What every slide reader offers: :attr:`info`, :meth:`read` (a box of one level as uint8
    RGB, the reader's own), :meth:`read_region` (a level-0 box resampled to a given size) and
    :meth:`close`. Use as a context manager."""

    path: Path
    info: SlideInfo

    def read(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SlideBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_box(self, level: int, y0: int, y1: int, x0: int, x1: int) -> None:
        h, w = self.info.levels[level].shape
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise ValueError(f"box {(y0, y1, x0, x1)} outside level {level} of size {(h, w)}")

    def best_level(self, downsample: float) -> int:
        """The finest level no finer than needed: the largest downsample <= ``downsample``."""
        best = 0
        for i, lv in enumerate(self.info.levels):
            if lv.downsample <= downsample * 1.001:
                best = i if lv.downsample >= self.info.levels[best].downsample else best
        return best

    def read_region(self, box: tuple[int, int, int, int], out_shape: tuple[int, int]) -> np.ndarray:
        """The level-0 box ``(y0, y1, x0, x1)`` as uint8 RGB of ``out_shape`` (H, W), read from the
        finest level that is not finer than needed and area-resampled (anti-aliased)."""
        y0, y1, x0, x1 = box
        down = min((y1 - y0) / out_shape[0], (x1 - x0) / out_shape[1])
        level = self.best_level(max(1.0, down))
        d = self.info.levels[level].downsample
        lh, lw = self.info.levels[level].shape
        ly0, lx0 = min(lh - 1, int(y0 / d)), min(lw - 1, int(x0 / d))
        ly1, lx1 = max(ly0 + 1, min(lh, round(y1 / d))), max(lx0 + 1, min(lw, round(x1 / d)))
        pixels = self.read(level, ly0, ly1, lx0, lx1)
        return resample(pixels, out_shape)


def resample(pixels: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """uint8 RGB resized to ``out_shape``; unchanged when it already has it."""
    if pixels.shape[:2] == tuple(out_shape):
        return pixels
    from skimage.transform import resize

    out = resize(pixels, (*out_shape, pixels.shape[2]), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_rgb8(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """H x W (x C) slide pixels as uint8 RGB: gray replicated, alpha composited on white, wider
    integers scaled by their type's range (a slide's bit depth is fixed; no whole-slide maximum)."""
    a = raw
    if a.dtype != np.uint8:
        hi = float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else 1.0
        a = np.clip(a.astype(np.float32) * (255.0 / hi), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = np.rint(a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a[:, :, :3])
