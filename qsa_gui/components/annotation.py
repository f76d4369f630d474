"""The geometry and rules behind the annotation tools, without Qt: brush size, gland numbers,
polygon filling, gland areas and deletion.

Why Qt-free: what a lasso fills, which number the next gland gets and what Delete removes decide
what is saved as ground truth; here they are plain functions on ``int32`` instance images
(0 = background), tested without a display. The napari side (``_qt/polygon_tool.py``,
``_qt/assistant/glands.py``) only applies the index sets these functions return, through the
labels layer's ``data_setitem`` so that each one is a single undo step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.draw import polygon as _polygon

#: Brush diameter as a fraction of the image's shorter side. Glands of H&E crops (GlaS: 522 x 775)
#: are 5-20 % of the shorter side across, so a brush of about 1.5 % outlines a small gland in a
#: few strokes and still follows a lumen's edge; the clamp keeps tiny crops and whole slides usable.
BRUSH_FRACTION = 0.015
BRUSH_MIN, BRUSH_MAX = 3, 60
#: Above this many distinct label values per pixel, counting by ``np.unique`` beats ``np.bincount``
#: (whose memory grows with the largest label, not with the number of glands).
BINCOUNT_MAX_LABEL_FACTOR = 4
#: Vertices used to turn a napari ellipse (four corners of its box) into a polygon.
ELLIPSE_VERTICES = 64
INT32_MAX = int(np.iinfo(np.int32).max)

Indices = tuple[np.ndarray, np.ndarray]


def brush_size_for(shape: Sequence[int]) -> int:
    """The brush diameter (pixels) for an image of ``shape`` (rows, cols, ...)."""
    short = min(int(shape[0]), int(shape[1]))
    return int(np.clip(round(short * BRUSH_FRACTION), BRUSH_MIN, BRUSH_MAX))


@dataclass
class BrushMemory:
    """Scales the brush to each image unless the user chose a size of their own.

    ``choose`` returns the scaled size while the brush still has the size this object set last
    (or has never been set), and the user's size once they changed it: a size picked for a
    tricky image is kept on the next one, a size nobody picked follows the image.
    """

    auto: int | None = None

    def choose(self, shape: Sequence[int], current: int | None) -> int:
        if self.auto is not None and current is not None and int(current) != self.auto:
            return int(current)
        self.auto = brush_size_for(shape)
        return self.auto


def fresh_label(labels: np.ndarray) -> int:
    """A label number no gland uses yet: the largest + 1 (the smallest unused one at int32's end)."""
    data = np.asarray(labels)
    top = int(data.max()) if data.size else 0
    if top < INT32_MAX:
        return max(top, 0) + 1
    used = np.unique(data)
    gaps = np.setdiff1d(np.arange(1, used.size + 2, dtype=np.int64), used)
    return int(gaps[0])


def polygon_indices(
    vertices: np.ndarray,
    shape: Sequence[int],
    labels: np.ndarray | None = None,
    preserve: bool = False,
) -> Indices:
    """Pixels inside the polygon ``vertices`` (N x 2, row / col in pixel coordinates), clipped to
    ``shape``; with ``preserve`` only those that are background in ``labels`` (napari's
    "preserve labels" option: a new gland never eats into its neighbours)."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 3 or v.shape[1] < 2:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    rr, cc = _polygon(v[:, -2], v[:, -1], shape=(int(shape[0]), int(shape[1])))
    if preserve and labels is not None and rr.size:
        keep = np.asarray(labels)[rr, cc] == 0
        rr, cc = rr[keep], cc[keep]
    return rr.astype(np.intp, copy=False), cc.astype(np.intp, copy=False)


def ellipse_vertices(corners: np.ndarray, n: int = ELLIPSE_VERTICES) -> np.ndarray:
    """A polygon of ``n`` vertices along the ellipse inscribed in napari's four box corners
    (possibly rotated: corners in order around the box)."""
    c = np.asarray(corners, dtype=np.float64)[:, -2:]
    centre = c.mean(axis=0)
    u, v = (c[1] - c[0]) / 2.0, (c[3] - c[0]) / 2.0
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[:, None]
    return centre + np.cos(t) * u + np.sin(t) * v


def gland_areas(labels: np.ndarray | None) -> list[tuple[int, int]]:
    """``(label, area in pixels)`` of every gland, by label number (one pass: ``np.bincount``)."""
    if labels is None:
        return []
    data = np.asarray(labels).ravel()
    if data.size == 0:
        return []
    top, low = int(data.max()), int(data.min())
    if top <= 0:
        return []
    if low >= 0 and top <= BINCOUNT_MAX_LABEL_FACTOR * data.size:
        counts = np.bincount(data, minlength=top + 1)
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        return [(int(i), int(counts[i])) for i in ids]
    values, counts = np.unique(data, return_counts=True)
    return [(int(v), int(n)) for v, n in zip(values, counts, strict=True) if v > 0]


def gland_count_text(areas: Sequence[tuple[int, int]]) -> str:
    n = len(areas)
    if n == 0:
        return "No glands yet: paint one, or trace its outline."
    total = sum(a for _, a in areas)
    return f"{n} gland{'s' if n != 1 else ''}, {total:,} px in all"


def gland_indices(labels: np.ndarray, label: int) -> Indices:
    """Every pixel of gland ``label`` (what Delete sets to background)."""
    if label <= 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    rr, cc = np.nonzero(np.asarray(labels) == label)
    return rr, cc


def gland_centre(labels: np.ndarray, label: int) -> tuple[float, float] | None:
    """The centroid (row, col) of gland ``label``; None if no pixel has it."""
    rr, cc = gland_indices(labels, label)
    if rr.size == 0:
        return None
    return float(rr.mean()), float(cc.mean())


@dataclass
class GlandNumbering:
    """Automatic new-gland numbers: after a stroke with a fresh number, the next one is fresh too.

    ``fresh`` is the selected number while no gland uses it yet. Once an edit puts it on the
    image, :meth:`after_edit` returns a new fresh number (largest + 1), so the next stroke starts
    a new gland instead of merging into the one just painted. A number the user picked that is
    already in use (a gland to correct) is never advanced.
    """

    enabled: bool = True
    fresh: int | None = None

    def selected(self, label: int, labels: np.ndarray | None) -> None:
        """The selected number changed (by us, napari's ``M``, the picker or the label box)."""
        label = int(label)
        in_use = labels is None or bool(np.any(np.asarray(labels) == label))
        self.fresh = label if label > 0 and not in_use else None

    def start(self, labels: np.ndarray) -> int:
        """A fresh number to select now (opening an image, "New gland")."""
        self.fresh = fresh_label(labels)
        return self.fresh

    def after_edit(self, selected: int, labels: np.ndarray) -> int | None:
        """The number to select after an edit, or None to keep the selection."""
        if not self.enabled or self.fresh is None or int(selected) != self.fresh:
            return None
        if not np.any(np.asarray(labels) == self.fresh):
            return None  # erased, or an edit elsewhere: the number is still fresh
        return self.start(labels)


__all__ = [
    "BRUSH_FRACTION",
    "BRUSH_MAX",
    "BRUSH_MIN",
    "BrushMemory",
    "GlandNumbering",
    "Indices",
    "brush_size_for",
    "ellipse_vertices",
    "fresh_label",
    "gland_areas",
    "gland_centre",
    "gland_count_text",
    "gland_indices",
    "polygon_indices",
]
