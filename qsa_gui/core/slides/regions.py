"""A slide as a pool of regions: boxes of a chosen size at a chosen magnification covering its
tissue, each a pool item with level-0 slide coordinates.

Why regions and not tiles of the pyramid: every step of the loop (suggest, label, train, segment,
evaluate) works on images of GlaS size; a region *is* such an image, read from the slide on demand
(:func:`read_region_pixels`), so nothing else has to know slides exist. The grid covers the whole
slide; per axis the last box is moved to end at the border (boxes then overlap a little, evenly
spread) so no tissue at the right or bottom edge is lost. A box enters the pool only when at least
``min_tissue`` of it is tissue: background never does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .slide_base import SlideBase, SlideInfo
from .tissue import TissueMask

# GlaS images are 775 x 522 px at 20x (0.62 um/px scanned at 20x, as the GlaS challenge gives them).
DEFAULT_REGION_SIZE = (522, 775)
DEFAULT_MAGNIFICATION = 20.0
DEFAULT_MIN_TISSUE = 0.25


@dataclass(frozen=True)
class RegionSpec:
    """Regions of ``size`` (H, W) pixels at ``magnification``; kept when >= ``min_tissue`` tissue."""

    size: tuple[int, int] = DEFAULT_REGION_SIZE
    magnification: float = DEFAULT_MAGNIFICATION
    min_tissue: float = DEFAULT_MIN_TISSUE

    def __post_init__(self) -> None:
        h, w = self.size
        if not (16 <= h <= 8192 and 16 <= w <= 8192):
            raise ValueError(f"region size must be 16..8192 px a side, not {self.size}")
        if not 0.5 <= self.magnification <= 100:
            raise ValueError(f"magnification must be 0.5..100, not {self.magnification}")
        if not 0.0 < self.min_tissue <= 1.0:
            raise ValueError(f"min_tissue must lie in (0, 1], not {self.min_tissue}")


@dataclass(frozen=True)
class Region:
    """One region: level-0 box ``(y0, y1, x0, x1)``, its tissue fraction and grid cell."""

    box: tuple[int, int, int, int]
    tissue: float
    row: int
    col: int


@dataclass(frozen=True)
class RegionPlan:
    """The regions of a slide: ``scale`` level-0 px per region px, and what was assumed."""

    regions: tuple[Region, ...]
    scale: float
    spec: RegionSpec
    notes: tuple[str, ...]


def region_scale(info: SlideInfo, magnification: float) -> tuple[float, list[str]]:
    """Level-0 pixels per region pixel, and notes on what had to be assumed."""
    notes: list[str] = []
    mag = info.magnification
    if mag is None:
        notes.append(f"magnification unknown: regions are read at level 0, taken as {magnification:g}x")
        return 1.0, notes
    scale = mag / magnification
    if scale < 1.0:
        notes.append(f"slide scanned at {mag:g}x, below {magnification:g}x: regions are up-sampled")
    return scale, notes


def _starts(length: int, box: int) -> list[int]:
    if length <= box:
        return [0]
    n = math.ceil(length / box)
    return [int(round(v)) for v in np.linspace(0, length - box, n)]


def plan_regions(info: SlideInfo, tissue: TissueMask, spec: RegionSpec | None = None) -> RegionPlan:
    """Boxes covering the slide's tissue (see the module doc)."""
    spec = spec or RegionSpec()
    scale, notes = region_scale(info, spec.magnification)
    h0, w0 = info.shape
    bh, bw = min(h0, round(spec.size[0] * scale)), min(w0, round(spec.size[1] * scale))
    out = []
    for r, y in enumerate(_starts(h0, bh)):
        for c, x in enumerate(_starts(w0, bw)):
            box = (y, y + bh, x, x + bw)
            frac = tissue.fraction_in(box)
            if frac >= spec.min_tissue:
                out.append(Region(box, round(frac, 4), r, c))
    if bh < round(spec.size[0] * scale) or bw < round(spec.size[1] * scale):
        notes.append("slide smaller than one region: the region is the whole slide")
    return RegionPlan(tuple(out), scale, spec, tuple(notes))


def region_pixel_shape(box: tuple[int, int, int, int], scale: float) -> tuple[int, int]:
    """(H, W) of a region's image: its level-0 box divided by the scale."""
    y0, y1, x0, x1 = box
    return max(1, round((y1 - y0) / scale)), max(1, round((x1 - x0) / scale))


def read_region_pixels(slide: SlideBase, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """uint8 RGB of one region at its magnification."""
    return slide.read_region(box, region_pixel_shape(box, scale))
