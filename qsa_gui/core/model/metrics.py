"""GlaS challenge metrics: object F1, object Dice, object Hausdorff and pixel Dice.

Definitions follow Sirinukunwattana et al. 2017 ("Gland segmentation in colon histology images:
The GlaS challenge contest") and the official evaluation code (``evaluation_v6``):

* matching: the partner of an object is the object of the other image it overlaps most
  (background excluded; ties go to the lowest label id, like Matlab's ``mode``);
* F1: a segmented object is a true positive when it covers more than 50% of the area of its
  partner ground-truth object; FP = the other segmented objects; FN = #gt - TP. Two disjoint
  segments cannot both cover more than half of one gland, so each gland is matched at most once;
* object Dice / Hausdorff: 1/2 [sum_i w_i D(G_i, S*(G_i)) + sum_j v_j D(G*(S_j), S_j)] with
  area weights w_i = |G_i| / sum|G|, v_j = |S_j| / sum|S|. An object overlapping nothing scores
  Dice 0 and, for Hausdorff, is matched to the object of the other image nearest in Hausdorff
  distance (infinite when that image has no object at all);
* both images empty: F1 = Dice = 1, Hausdorff 0; one empty: F1 = Dice = 0, Hausdorff inf.

Set aggregation (``evaluate_set``) is the challenge's pooled form, not a mean of per-image
scores: TP/FP/FN are summed over the set before F1 is formed, and the Dice / Hausdorff weights
are |G_i| / (sum of all gland areas in the set) and |S_j| / (sum of all segmented areas in the
set), so a large gland counts for more than a small one wherever it sits. Pixel Dice is pooled
the same way (2 * sum|A & B| / (sum|A| + sum|B|)). Consequence: one image where one side has
objects and the other none makes the set Hausdorff infinite, exactly as it would be per image.

Everything per pixel is vectorised (bincount overlap table, ``find_objects`` boxes, Euclidean
distance transforms on union bounding boxes); Python loops only run over object pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "ObjectStats",
    "evaluate_pair",
    "evaluate_set",
    "hausdorff_distance",
    "object_dice",
    "object_f1",
    "object_hausdorff",
    "object_stats",
    "pixel_dice",
    "pool_stats",
]

_INF = float("inf")


def _check_pair(seg: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two label images: same 2-D shape, integer (or bool) dtype, no negative ids."""
    seg = np.asarray(seg)
    gt = np.asarray(gt)
    if seg.shape != gt.shape:
        raise ValueError(f"label images differ in shape: seg {seg.shape} vs gt {gt.shape}")
    if seg.ndim != 2:
        raise ValueError(f"label images must be 2-D (H x W), got shape {seg.shape}")
    for name, arr in (("seg", seg), ("gt", gt)):
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be an integer label image, got dtype {arr.dtype}")
        if arr.size and arr.dtype != bool and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
            raise ValueError(f"{name} has negative label ids")
    return seg, gt


def _contiguous(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel to 0..n keeping the order of ids (so 'lowest id wins' ties are unchanged)."""
    flat = labels.ravel()
    if labels.dtype == bool:
        out = flat.astype(np.intp)
        return out.reshape(labels.shape), int(out.any())
    if flat.size == 0:
        return np.zeros(labels.shape, np.intp), 0
    top = int(flat.max())
    if top <= 4 * flat.size + 1024:
        # O(pixels) lookup table instead of a sort: ids are usually small.
        if flat.dtype != np.intp:
            flat = flat.astype(np.intp)
        present = np.bincount(flat, minlength=top + 1) > 0
        present[0] = False
        lut = np.cumsum(present, dtype=np.intp)
        lut[0] = 0
        out = lut[flat]
        n = int(lut[-1])
    else:
        ids, inv = np.unique(flat, return_inverse=True)
        if ids[0] != 0:
            inv = inv + 1
        out = inv.astype(np.intp)
        n = len(ids) - (1 if ids[0] == 0 else 0)
    return out.reshape(labels.shape), n


def _union_slice(a: tuple[slice, slice], b: tuple[slice, slice]) -> tuple[slice, slice]:
    return (
        slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
        slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)),
    )


def hausdorff_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Hausdorff distance (pixels, Euclidean) between two boolean masks.

    Exact: distance transform of each mask's complement, read at every pixel of the other
    mask (not only its boundary, which would miss the far side of a lumen). Both empty -> 0,
    one empty -> inf, as in the official code.
    """
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    has_a, has_b = bool(a.any()), bool(b.any())
    if not has_a and not has_b:
        return 0.0
    if not has_a or not has_b:
        return _INF
    box = _union_slice(
        ndimage.find_objects(a.astype(np.uint8))[0], ndimage.find_objects(b.astype(np.uint8))[0]
    )
    return _crop_hausdorff(a[box], b[box])


def _crop_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    """Hausdorff distance of two non-empty masks on a crop that contains both entirely."""
    d_to_a = ndimage.distance_transform_edt(~a)
    d_to_b = ndimage.distance_transform_edt(~b)
    return float(max(d_to_a[b].max(), d_to_b[a].max()))


@dataclass
class ObjectStats:
    """Unnormalised per-image sums, so images can be pooled into set-level GlaS scores.

    ``dice_s`` = sum_j |S_j| Dice(G*(S_j), S_j), ``dice_g`` = sum_i |G_i| Dice(G_i, S*(G_i)),
    likewise ``haus_s`` / ``haus_g`` (inf when an object has no possible partner);
    ``area_s`` / ``area_g`` are the total object areas, ``inter`` the foreground overlap.
    """

    tp: int
    fp: int
    fn: int
    n_seg: int
    n_gt: int
    area_s: int
    area_g: int
    inter: int
    dice_s: float
    dice_g: float
    haus_s: float
    haus_g: float

    def f1(self) -> float:
        return _f1(self.tp, self.fp, self.fn, self.n_seg, self.n_gt)

    def object_dice(self) -> float:
        return _weighted(self.dice_s, self.dice_g, self.area_s, self.area_g, both_empty=1.0, one_empty=0.0)

    def object_hausdorff(self) -> float:
        return _weighted(self.haus_s, self.haus_g, self.area_s, self.area_g, both_empty=0.0, one_empty=_INF)

    def pixel_dice(self) -> float:
        total = self.area_s + self.area_g
        return 1.0 if total == 0 else 2.0 * self.inter / total


def _f1(tp: int, fp: int, fn: int, n_seg: int, n_gt: int) -> float:
    if n_seg == 0 and n_gt == 0:
        return 1.0
    if n_seg == 0 or n_gt == 0 or tp == 0:
        return 0.0
    # 2PR/(P+R) with P = tp/(tp+fp), R = tp/(tp+fn), written without the divisions.
    return 2.0 * tp / (2.0 * tp + fp + fn)


def _weighted(
    sum_s: float, sum_g: float, area_s: int, area_g: int, *, both_empty: float, one_empty: float
) -> float:
    if area_s == 0 and area_g == 0:
        return both_empty
    if area_s == 0 or area_g == 0:
        return one_empty
    return 0.5 * (sum_s / area_s + sum_g / area_g)


def _best_partner(table: np.ndarray) -> np.ndarray:
    """For each row (object 1..n of one image), the 1-based partner id in the other image or 0.

    ``table`` excludes the background row and column; argmax picks the lowest id on ties.
    """
    if table.shape[1] == 0:
        return np.zeros(table.shape[0], np.intp)
    best = np.argmax(table, axis=1)
    has = table[np.arange(table.shape[0]), best] > 0
    return np.where(has, best + 1, 0)


class _HausdorffCache:
    """Pairwise object Hausdorff distances on union boxes, each pair computed once."""

    def __init__(self, s: np.ndarray, g: np.ndarray, n_s: int, n_g: int) -> None:
        self.s, self.g = s, g
        self.box_s = ndimage.find_objects(s, max_label=n_s)
        self.box_g = ndimage.find_objects(g, max_label=n_g)
        self.n_s, self.n_g = n_s, n_g
        self.pairs: dict[tuple[int, int], float] = {}

    def pair(self, j: int, i: int) -> float:
        """Hausdorff between segmented object j and gt object i (both 1-based)."""
        key = (j, i)
        hit = self.pairs.get(key)
        if hit is None:
            box = _union_slice(self.box_s[j - 1], self.box_g[i - 1])
            hit = _crop_hausdorff(self.s[box] == j, self.g[box] == i)
            self.pairs[key] = hit
        return hit

    def nearest(self, obj: int, from_seg: bool) -> float:
        """min over the other image's objects of the Hausdorff distance to object ``obj``.

        Exact with pruning: H(A, B) >= max over a in A of dist(a, bbox(B)), a cheap bound for
        every candidate at once; candidates are tried in order of that bound and the search
        stops when the bound reaches the best distance found.
        """
        mine = self.s if from_seg else self.g
        my_box = (self.box_s if from_seg else self.box_g)[obj - 1]
        other_boxes = self.box_g if from_seg else self.box_s
        if not other_boxes:
            return _INF
        mask = mine[my_box] == obj
        # The distance to a box is convex, so its max over the object is reached at an extreme
        # point of the object's hull: boundary pixels (not 4-surrounded) suffice.
        rows, cols = np.nonzero(mask & ~ndimage.binary_erosion(mask))
        rows = rows + my_box[0].start
        cols = cols + my_box[1].start
        r0 = np.array([b[0].start for b in other_boxes])
        r1 = np.array([b[0].stop - 1 for b in other_boxes])
        c0 = np.array([b[1].start for b in other_boxes])
        c1 = np.array([b[1].stop - 1 for b in other_boxes])
        dr = np.maximum(np.maximum(r0[None, :] - rows[:, None], rows[:, None] - r1[None, :]), 0)
        dc = np.maximum(np.maximum(c0[None, :] - cols[:, None], cols[:, None] - c1[None, :]), 0)
        lower = np.sqrt((dr * dr + dc * dc).max(axis=0))
        best = _INF
        for k in np.argsort(lower, kind="stable"):
            if lower[k] >= best:
                break
            cand = int(k) + 1
            h = self.pair(obj, cand) if from_seg else self.pair(cand, obj)
            best = min(best, h)
        return best


def object_stats(seg: np.ndarray, gt: np.ndarray, *, hausdorff: bool = True) -> ObjectStats:
    """Per-image GlaS sums for one segmentation / ground-truth pair (see ``ObjectStats``).

    ``hausdorff=False`` skips the distance transforms when only F1 / Dice are wanted.
    """
    seg, gt = _check_pair(seg, gt)
    s, n_s = _contiguous(seg)
    g, n_g = _contiguous(gt)
    table = np.bincount((s * (n_g + 1) + g).ravel(), minlength=(n_s + 1) * (n_g + 1)).reshape(
        n_s + 1, n_g + 1
    )
    area_s = table[1:, :].sum(axis=1)  # |S_j|, j = 1..n_s
    area_g = table[:, 1:].sum(axis=0)  # |G_i|, i = 1..n_g
    inner = table[1:, 1:]
    tot_s, tot_g = int(area_s.sum()), int(area_g.sum())
    inter = int(inner.sum())

    g_of_s = _best_partner(inner)  # G*(S_j)
    s_of_g = _best_partner(inner.T)  # S*(G_i)
    js = np.arange(n_s)
    is_ = np.arange(n_g)

    # F1: S_j is a TP when |S_j & G*| / |G*| > 0.5.
    if n_s and n_g:
        ov_s = np.where(g_of_s > 0, inner[js, np.maximum(g_of_s - 1, 0)], 0)
        ag = np.where(g_of_s > 0, area_g[np.maximum(g_of_s - 1, 0)], 1)
        tp = int(np.count_nonzero(2 * ov_s > ag))
    else:
        tp = 0
    fp = n_s - tp
    fn = n_g - tp

    # Dice of each object with its partner (0 without one), area weighted (unnormalised).
    dice_s = dice_g = 0.0
    if n_s and n_g:
        gi = np.maximum(g_of_s - 1, 0)
        d_s = np.where(g_of_s > 0, 2.0 * inner[js, gi] / (area_s + area_g[gi]), 0.0)
        si = np.maximum(s_of_g - 1, 0)
        d_g = np.where(s_of_g > 0, 2.0 * inner[si, is_] / (area_g + area_s[si]), 0.0)
        dice_s = float(np.dot(area_s, d_s))
        dice_g = float(np.dot(area_g, d_g))

    haus_s = haus_g = 0.0
    if hausdorff and (n_s or n_g):
        if n_s == 0 or n_g == 0:
            haus_s = _INF if n_s else 0.0
            haus_g = _INF if n_g else 0.0
        else:
            cache = _HausdorffCache(s, g, n_s, n_g)
            h_s = [
                cache.pair(j + 1, int(p)) if p else cache.nearest(j + 1, from_seg=True)
                for j, p in enumerate(g_of_s)
            ]
            h_g = [
                cache.pair(int(p), i + 1) if p else cache.nearest(i + 1, from_seg=False)
                for i, p in enumerate(s_of_g)
            ]
            haus_s = float(np.dot(area_s, h_s))
            haus_g = float(np.dot(area_g, h_g))
    return ObjectStats(
        tp=tp,
        fp=fp,
        fn=fn,
        n_seg=n_s,
        n_gt=n_g,
        area_s=tot_s,
        area_g=tot_g,
        inter=inter,
        dice_s=dice_s,
        dice_g=dice_g,
        haus_s=haus_s,
        haus_g=haus_g,
    )


def object_f1(seg: np.ndarray, gt: np.ndarray) -> float:
    """GlaS object-level F1 (detection) of one image."""
    return object_stats(seg, gt, hausdorff=False).f1()


def object_dice(seg: np.ndarray, gt: np.ndarray) -> float:
    """GlaS object-level Dice of one image (two-sided, area weighted)."""
    return object_stats(seg, gt, hausdorff=False).object_dice()


def object_hausdorff(seg: np.ndarray, gt: np.ndarray) -> float:
    """GlaS object-level Hausdorff distance of one image, in pixels (inf if one side empty)."""
    return object_stats(seg, gt).object_hausdorff()


def pixel_dice(seg: np.ndarray, gt: np.ndarray) -> float:
    """Dice of the foreground masks (seg > 0 vs gt > 0); 1 when both are empty."""
    seg, gt = _check_pair(seg, gt)
    a = seg > 0
    b = gt > 0
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * np.count_nonzero(a & b) / total


def _as_dict(stats: ObjectStats, n_images: int) -> dict[str, float]:
    return {
        "object_f1": stats.f1(),
        "object_dice": stats.object_dice(),
        "object_hausdorff": stats.object_hausdorff(),
        "pixel_dice": stats.pixel_dice(),
        "n_images": float(n_images),
    }


def evaluate_pair(seg: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """All four GlaS scores of one image (keys as ``evaluate_set``; n_images = 1)."""
    return _as_dict(object_stats(seg, gt), 1)


def pool_stats(stats: Sequence[ObjectStats]) -> ObjectStats:
    """Sum per-image stats into set-level stats (the challenge's pooled aggregation)."""
    total = ObjectStats(0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)
    for st in stats:
        total.tp += st.tp
        total.fp += st.fp
        total.fn += st.fn
        total.n_seg += st.n_seg
        total.n_gt += st.n_gt
        total.area_s += st.area_s
        total.area_g += st.area_g
        total.inter += st.inter
        total.dice_s += st.dice_s
        total.dice_g += st.dice_g
        total.haus_s += st.haus_s
        total.haus_g += st.haus_g
    return total


def evaluate_set(segs: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
    """Set-level GlaS scores, pooled over images as in the challenge (see module docstring).

    Returns object_f1, object_dice, object_hausdorff, pixel_dice and n_images.
    """
    segs = list(segs)
    gts = list(gts)
    if len(segs) != len(gts):
        raise ValueError(f"{len(segs)} segmentations but {len(gts)} ground-truth images")
    stats = []
    for k, (seg, gt) in enumerate(zip(segs, gts, strict=True)):
        try:
            stats.append(object_stats(seg, gt))
        except ValueError as exc:
            raise ValueError(f"image {k}: {exc}") from None
    return _as_dict(pool_stats(stats), len(stats))
