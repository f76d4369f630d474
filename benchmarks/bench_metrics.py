"""Benchmark qsa_gui.core.model.metrics against a straightforward per-object reference.

The reference mirrors the official GlaS evaluation code: a Python loop over objects, one
full-image boolean mask per object, ``np.unique`` for the max-overlap partner, and
``scipy.spatial.distance.directed_hausdorff`` on pixel coordinates (with the exhaustive
nearest-object search for objects that overlap nothing). Both are run on the same generated
label images (random ellipses, 20-40 glands, 512 x 512, with misses, splits, merges, shifts and
false objects), checked to agree, and timed interleaved. Prints JSON and writes
benchmarks/results/metrics.json.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_metrics.py [--images 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import directed_hausdorff

from qsa_gui.core.atomic import atomic_write_json
from qsa_gui.core.model import metrics

# ---------------------------------------------------------------- reference implementation


def _ids(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    return ids[ids != 0]


def _partner(other: np.ndarray, mask: np.ndarray) -> int:
    """Label of ``other`` overlapping ``mask`` most (background excluded, lowest id on ties)."""
    vals, counts = np.unique(other[mask], return_counts=True)
    keep = vals != 0
    vals, counts = vals[keep], counts[keep]
    return int(vals[np.argmax(counts)]) if len(vals) else 0


def ref_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    pa = np.argwhere(a).astype(float)
    pb = np.argwhere(b).astype(float)
    return max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])


def ref_f1(seg: np.ndarray, gt: np.ndarray) -> tuple[float, int, int, int]:
    ls, lg = _ids(seg), _ids(gt)
    tp = 0
    for j in ls:
        sj = seg == j
        i = _partner(gt, sj)
        if i:
            gi = gt == i
            if np.logical_and(sj, gi).sum() / gi.sum() > 0.5:
                tp += 1
    fp, fn = len(ls) - tp, len(lg) - tp
    if len(ls) == 0 and len(lg) == 0:
        return 1.0, tp, fp, fn
    if len(ls) == 0 or len(lg) == 0 or tp == 0:
        return 0.0, tp, fp, fn
    p, r = tp / (tp + fp), tp / (tp + fn)
    return 2 * p * r / (p + r), tp, fp, fn


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def ref_object_terms(seg: np.ndarray, gt: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """Unnormalised sums: sum_j |S_j| Dice_j, sum_i |G_i| Dice_i, same for Hausdorff, areas."""
    ls, lg = _ids(seg), _ids(gt)
    dice_s = dice_g = haus_s = haus_g = 0.0
    for j in ls:
        sj = seg == j
        i = _partner(gt, sj)
        if i:
            gi = gt == i
            dice_s += sj.sum() * _dice(gi, sj)
            h = ref_hausdorff(gi, sj)
        else:
            h = min((ref_hausdorff(gt == i2, sj) for i2 in lg), default=math.inf)
        haus_s += sj.sum() * h
    for i in lg:
        gi = gt == i
        j = _partner(seg, gi)
        if j:
            sj = seg == j
            dice_g += gi.sum() * _dice(gi, sj)
            h = ref_hausdorff(gi, sj)
        else:
            h = min((ref_hausdorff(gi, seg == j2) for j2 in ls), default=math.inf)
        haus_g += gi.sum() * h
    return dice_s, dice_g, haus_s, haus_g, int((seg > 0).sum()), int((gt > 0).sum())


def ref_evaluate_set(segs: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    tp = fp = fn = n_s = n_g = 0
    ds = dg = hs = hg = 0.0
    a_s = a_g = inter = 0
    for seg, gt in zip(segs, gts, strict=True):
        _, t, f, n = ref_f1(seg, gt)
        tp, fp, fn = tp + t, fp + f, fn + n
        n_s += len(_ids(seg))
        n_g += len(_ids(gt))
        d1, d2, h1, h2, x, y = ref_object_terms(seg, gt)
        ds, dg, hs, hg, a_s, a_g = ds + d1, dg + d2, hs + h1, hg + h2, a_s + x, a_g + y
        inter += int(np.logical_and(seg > 0, gt > 0).sum())
    if n_s == 0 and n_g == 0:
        f1 = 1.0
    elif n_s == 0 or n_g == 0 or tp == 0:
        f1 = 0.0
    else:
        p, r = tp / (tp + fp), tp / (tp + fn)
        f1 = 2 * p * r / (p + r)
    if a_s == 0 and a_g == 0:
        dice, haus = 1.0, 0.0
    elif a_s == 0 or a_g == 0:
        dice, haus = 0.0, math.inf
    else:
        dice, haus = 0.5 * (ds / a_s + dg / a_g), 0.5 * (hs / a_s + hg / a_g)
    pd = 1.0 if a_s + a_g == 0 else 2.0 * inter / (a_s + a_g)
    return {"object_f1": f1, "object_dice": dice, "object_hausdorff": haus, "pixel_dice": pd}


# ---------------------------------------------------------------- data


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, th: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    y, x = yy - cy, xx - cx
    c, s = math.cos(th), math.sin(th)
    u, v = (c * x + s * y) / rx, (-s * x + c * y) / ry
    return u * u + v * v <= 1.0


def make_pair(rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of 20-40 ellipses and a plausible imperfect segmentation of it."""
    shape = (size, size)
    gt = np.zeros(shape, np.int32)
    n = int(rng.integers(20, 41))
    params = []
    for k in range(n):
        cy, cx = rng.uniform(20, size - 20, 2)
        ry, rx = rng.uniform(10, 40, 2)
        th = rng.uniform(0, math.pi)
        params.append((cy, cx, ry, rx, th))
        gt[_ellipse(shape, cy, cx, ry, rx, th)] = k + 1
    seg = np.zeros(shape, np.int32)
    next_id = 1
    for cy, cx, ry, rx, th in params:
        r = rng.random()
        if r < 0.08:  # missed
            continue
        dy, dx = rng.integers(-4, 5, 2)
        scale = rng.uniform(0.85, 1.15)
        m = _ellipse(shape, cy + dy, cx + dx, ry * scale, rx * scale, th)
        if r < 0.18:  # split in two along a line through the centre
            yy, xx = np.nonzero(m)
            ang = rng.uniform(0, math.pi)
            side = (yy - cy) * math.cos(ang) - (xx - cx) * math.sin(ang) > 0
            seg[yy[side], xx[side]] = next_id
            seg[yy[~side], xx[~side]] = next_id + 1
            next_id += 2
        elif r < 0.25 and next_id > 1:  # merged with the previous segment
            seg[m] = next_id - 1
        else:
            seg[m] = next_id
            next_id += 1
    for _ in range(int(rng.integers(1, 5))):  # false objects
        cy, cx = rng.uniform(15, size - 15, 2)
        ry, rx = rng.uniform(5, 20, 2)
        seg[_ellipse(shape, cy, cx, ry, rx, rng.uniform(0, math.pi))] = next_id
        next_id += 1
    # Non-contiguous ids (shuffled, spread out) for both images.
    perm_s = np.concatenate([[0], rng.permutation(np.arange(1, next_id)) * 7 + 3])
    perm_g = np.concatenate([[0], rng.permutation(np.arange(1, n + 1)) * 11 + 5])
    return perm_s[seg].astype(np.int32), perm_g[gt].astype(np.int32)


# ---------------------------------------------------------------- main


def _close(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "metrics.json"))
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    pairs = [make_pair(rng, args.size) for _ in range(args.images)]
    segs = [p[0] for p in pairs]
    gts = [p[1] for p in pairs]

    # Agreement, per image and pooled over the set.
    keys = ("object_f1", "object_dice", "object_hausdorff", "pixel_dice")
    max_diff = 0.0
    for seg, gt in pairs:
        fast = metrics.evaluate_pair(seg, gt)
        ref = ref_evaluate_set([seg], [gt])
        for k in keys:
            if not _close(fast[k], ref[k]):
                raise SystemExit(f"disagreement on {k}: fast {fast[k]!r} vs reference {ref[k]!r}")
            if math.isfinite(ref[k]):
                max_diff = max(max_diff, abs(fast[k] - ref[k]))
    fast_set = metrics.evaluate_set(segs, gts)
    ref_set = ref_evaluate_set(segs, gts)
    for k in keys:
        if not _close(fast_set[k], ref_set[k]):
            raise SystemExit(f"set disagreement on {k}: fast {fast_set[k]!r} vs reference {ref_set[k]!r}")
        max_diff = max(max_diff, abs(fast_set[k] - ref_set[k]))

    # Interleaved timing: whole-set evaluation, fast then reference, repeated.
    t_fast, t_ref = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        metrics.evaluate_set(segs, gts)
        t_fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref_evaluate_set(segs, gts)
        t_ref.append(time.perf_counter() - t0)
    fast_ms = float(np.median(t_fast)) * 1000 / len(pairs)
    ref_ms = float(np.median(t_ref)) * 1000 / len(pairs)
    n_objects = [(len(np.unique(s)) - 1, len(np.unique(g)) - 1) for s, g in pairs]
    result = {
        "benchmark": "GlaS metrics (object F1 / Dice / Hausdorff + pixel Dice), per image",
        "images": len(pairs),
        "image_size": [args.size, args.size],
        "objects_seg_gt": n_objects,
        "repeats": args.repeats,
        "fast_ms_per_image": round(fast_ms, 2),
        "reference_ms_per_image": round(ref_ms, 2),
        "speed_ratio": round(ref_ms / fast_ms, 1),
        "target_ratio": 10.0,
        "agree": True,
        "max_abs_diff": max_diff,
        "set_scores": fast_set,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "note": "2 shared CPU cores, other jobs running: timings are noisy; the ratio is the figure to read.",
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
