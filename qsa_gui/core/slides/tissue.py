"""Tissue detection on a low-resolution view of a slide: Otsu on HSV saturation, specks and holes
removed, outlines as polygons in level-0 pixels.

Why saturation: glass is white or grey (saturation ~0) whatever its brightness, stained tissue is
pink and purple; Otsu's threshold adapts to the stain, and a floor keeps an empty slide empty
(Otsu on pure background noise would call half of it tissue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .slide_base import SlideBase

LOW_RES_MAX_SIDE = 2048
SATURATION_FLOOR = 0.07  # below this nothing is tissue (empty glass, faint dust)
MIN_PIECE_UM2 = 20_000.0  # specks and holes smaller than this (about 140 um across) are removed


@dataclass(frozen=True)
class LowRes:
    """A low-resolution view: uint8 RGB ``image`` and the level-0 pixels per view pixel."""

    image: np.ndarray
    downsample: float


@dataclass(frozen=True)
class TissueMask:
    """Tissue (True) on the low-resolution grid; ``outlines`` are closed (N, 2) arrays of level-0
    (x, y) pixel coordinates, outer boundaries and holes alike (a GUI draws them as paths)."""

    mask: np.ndarray
    downsample: float
    threshold: float
    outlines: tuple[np.ndarray, ...]

    @property
    def fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    def fraction_in(self, box: tuple[int, int, int, int]) -> float:
        """Tissue fraction of the level-0 box ``(y0, y1, x0, x1)``."""
        y0, y1, x0, x1 = (int(v / self.downsample) for v in box)
        y1, x1 = max(y1, y0 + 1), max(x1, x0 + 1)
        part = self.mask[y0:y1, x0:x1]
        return float(part.mean()) if part.size else 0.0


def low_res(slide: SlideBase, max_side: int = LOW_RES_MAX_SIDE) -> LowRes:
    """The slide at most ``max_side`` pixels on its longer side, with bounded memory: the finest
    pyramid level that small is read whole; without one, the coarsest level is read a band of rows
    at a time and block-averaged (a 60000 x 60000 single-level slide never sits in memory)."""
    levels = slide.info.levels
    small = [i for i, lv in enumerate(levels) if max(lv.shape) <= max_side]
    if small:
        i = min(small, key=lambda k: levels[k].downsample)
        h, w = levels[i].shape
        return LowRes(slide.read(i, 0, h, 0, w), levels[i].downsample)
    i = max(range(len(levels)), key=lambda k: levels[k].downsample)
    h, w = levels[i].shape
    f = math.ceil(max(h, w) / max_side)
    oh, ow = h // f, w // f
    if oh < 1 or ow < 1:
        return LowRes(slide.read(i, 0, h, 0, w), levels[i].downsample)
    out = np.empty((oh, ow, 3), np.uint8)
    band = max(1, (8_000_000 // max(1, w * 3)) // f) * f
    for y in range(0, oh * f, band):
        y1 = min(oh * f, y + band)
        block = slide.read(i, y, y1, 0, ow * f).astype(np.float32)
        block = block.reshape((y1 - y) // f, f, ow, f, 3).mean(axis=(1, 3))
        out[y // f : y1 // f] = np.rint(block).astype(np.uint8)
    return LowRes(out, levels[i].downsample * f)


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation in [0, 1] of uint8 RGB."""
    a = rgb.astype(np.float32)
    hi, lo = a.max(axis=2), a.min(axis=2)
    return np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0).astype(np.float32)


def detect_tissue(view: LowRes, mpp: float | None = None, min_piece_um2: float = MIN_PIECE_UM2) -> TissueMask:
    """Tissue on ``view`` (Otsu on saturation, floor :data:`SATURATION_FLOOR`), with pieces and
    holes smaller than ``min_piece_um2`` removed (at most 1 % of the view; 0.1 % when the pixel size
    is unknown)."""
    from skimage.filters import threshold_otsu
    from skimage.morphology import remove_small_objects

    sat = saturation(view.image)
    if sat.size == 0 or float(sat.max() - sat.min()) < 1e-3:
        thr = 1.0
    else:
        thr = float(threshold_otsu(sat))
    thr = max(thr, SATURATION_FLOOR)
    mask = sat > thr
    min_px = int(0.001 * mask.size)
    if mpp:  # physical size, but never more than 1% of the view (a small test slide keeps its tissue)
        min_px = min(int(min_piece_um2 / (mpp * view.downsample) ** 2), int(0.01 * mask.size))
    if min_px >= 1:
        from scipy.ndimage import binary_fill_holes

        mask = remove_small_objects(mask, max_size=min_px)
        holes = binary_fill_holes(mask) & ~mask  # enclosed only: glass at the border is no hole
        mask |= holes & ~remove_small_objects(holes, max_size=min_px)
    return TissueMask(mask, view.downsample, thr, outlines(mask, view.downsample))


def outlines(mask: np.ndarray, downsample: float, tolerance: float = 1.0) -> tuple[np.ndarray, ...]:
    """Closed polygon outlines of ``mask`` in level-0 (x, y), simplified by ``tolerance`` mask px."""
    from skimage.measure import approximate_polygon, find_contours

    if not mask.any():
        return ()
    padded = np.pad(mask.astype(np.float32), 1)
    out = []
    for c in find_contours(padded, 0.5):
        c = approximate_polygon(c, tolerance) - 1.0  # (row, col) on the unpadded grid
        if len(c) >= 4:
            xy = np.stack([(c[:, 1] + 0.5) * downsample, (c[:, 0] + 0.5) * downsample], axis=1)
            out.append(xy.astype(np.float64))
    return tuple(out)
