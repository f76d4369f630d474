"""A slide's pyramid as lazy arrays a viewer slices (napari's multiscale image layer).

Why an array over :meth:`SlideBase.read` and not the zarr store itself: the store's axes differ by
format (YXS for SVS, SYX for some OME-TIFFs, gray, 16-bit, alpha), while ``SlideBase.read`` already
returns uint8 RGB for every one; wrapping it gives the viewer one (H, W, 3) uint8 shape per level
and decodes only the tiles of the box it asks for. A pyramid whose coarsest level is still large
(a single-level slide, like the CMU test region) gets the low-resolution view as an extra level,
so a zoomed-out canvas never decodes the whole of level 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .slide_base import SlideBase
from .tissue import low_res

#: A pyramid whose coarsest level is larger than this (longer side) gets an extra low-res level.
COARSEST_MAX_SIDE = 2048
OVERVIEW_SIDE = 1024


class LevelArray:
    """Level ``level`` of an open slide as a read-only (H, W, 3) uint8 array-like."""

    def __init__(self, slide: SlideBase, level: int) -> None:
        self.slide = slide
        self.level = int(level)
        h, w = slide.info.levels[self.level].shape
        self.shape: tuple[int, int, int] = (int(h), int(w), 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3
        self.size = h * w * 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (3 - len(key) + 1) + key[i + 1 :]
        key = tuple(key) + (slice(None),) * (3 - len(key))
        ky, kx, kc = key
        (y0, y1, sy), ry = _bounds(ky, self.shape[0])
        (x0, x1, sx), rx = _bounds(kx, self.shape[1])
        if y1 <= y0 or x1 <= x0:
            out = np.zeros((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
        else:
            out = self.slide.read(self.level, y0, y1, x0, x1)
        out = out[::sy, ::sx]
        out = out[kc] if isinstance(kc, int) else out[:, :, kc]
        if rx:
            out = out[:, 0]
        if ry:
            out = out[0]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self[:, :, :]
        return a if dtype is None else a.astype(dtype)


def _bounds(k: Any, n: int) -> tuple[tuple[int, int, int], bool]:
    """(start, stop, step) of an index along an axis of length ``n``, and whether it drops the axis."""
    if isinstance(k, (int, np.integer)):
        i = int(k) + (n if int(k) < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"index {k} out of range for axis of size {n}")
        return (i, i + 1, 1), True
    if isinstance(k, slice):
        start, stop, step = k.indices(n)
        if step < 1:
            raise IndexError("slide levels are read forwards only")
        return (start, max(start, stop), step), False
    raise TypeError(f"unsupported index {k!r} for a slide level")


def display_levels(slide: SlideBase) -> list[Any]:
    """The levels for a multiscale viewer layer, finest first: lazy ones of the pyramid, plus the
    low-resolution view when the coarsest is larger than :data:`COARSEST_MAX_SIDE`."""
    levels: list[Any] = [LevelArray(slide, i) for i in range(len(slide.info.levels))]
    levels.sort(key=lambda a: -a.shape[0])
    if max(levels[-1].shape[:2]) > COARSEST_MAX_SIDE:
        view = low_res(slide, OVERVIEW_SIDE)
        if view.image.shape[0] < levels[-1].shape[0]:
            levels.append(view.image)
    return levels


__all__ = ["COARSEST_MAX_SIDE", "LevelArray", "display_levels"]
