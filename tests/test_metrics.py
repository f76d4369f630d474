"""GlaS metrics against hand-computed cases and a brute-force reference on tiny images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from qsa_gui.core.model import metrics
from qsa_gui.core.model.metrics import (
    evaluate_pair,
    evaluate_set,
    hausdorff_distance,
    object_dice,
    object_f1,
    object_hausdorff,
    object_stats,
    pixel_dice,
)


def _img(shape=(30, 30), *boxes):
    """Label image with box k (r0, r1, c0, c1, inclusive ends, id) painted in order."""
    out = np.zeros(shape, np.int32)
    for r0, r1, c0, c1, lab in boxes:
        out[r0 : r1 + 1, c0 : c1 + 1] = lab
    return out


def _all(seg, gt):
    d = evaluate_pair(seg, gt)
    return d["object_f1"], d["object_dice"], d["object_hausdorff"], d["pixel_dice"]


# ------------------------------------------------------------------ hand-built cases


def test_perfect_match_with_different_ids():
    gt = _img((30, 30), (2, 11, 2, 11, 1), (15, 24, 15, 27, 2))
    seg = _img((30, 30), (2, 11, 2, 11, 9), (15, 24, 15, 27, 4))
    assert _all(seg, gt) == (1.0, 1.0, 0.0, 1.0)


def test_split_gland():
    # G: 10x10 = 100 px; A takes 6 columns (60 px, > 50% -> TP), B 4 columns (40 px -> FP).
    gt = _img((30, 30), (5, 14, 5, 14, 1))
    seg = _img((30, 30), (5, 14, 5, 10, 1), (5, 14, 11, 14, 2))
    f1, dice, haus, pdice = _all(seg, gt)
    assert f1 == pytest.approx(2 / 3)  # TP 1, FP 1, FN 0
    # S side: .6 * Dice(G,A)=.75 + .4 * Dice(G,B)=80/140; G side: Dice(G, A) = .75.
    assert dice == pytest.approx(0.5 * (0.6 * 0.75 + 0.4 * 80 / 140 + 0.75))
    assert dice == pytest.approx(5 / 7)
    # H(G, A) = 4 (G's last column to A's), H(G, B) = 6.
    assert haus == pytest.approx(0.5 * ((0.6 * 4 + 0.4 * 6) + 4))
    assert pdice == 1.0


def test_merged_glands():
    gt = _img((30, 30), (5, 14, 2, 11, 1), (5, 14, 14, 23, 2))
    seg = _img((30, 30), (5, 14, 2, 23, 1))  # 220 px covering both and the gap
    f1, dice, haus, pdice = _all(seg, gt)
    assert f1 == pytest.approx(2 / 3)  # one TP, FN 1
    assert dice == pytest.approx(200 / 320)  # every Dice is 2*100/(100+220)
    assert haus == pytest.approx(12.0)  # 12 columns beyond each gland
    assert pdice == pytest.approx(2 * 200 / 420)


def test_missed_gland():
    gt = _img((30, 30), (5, 14, 2, 11, 1), (5, 14, 16, 25, 2))
    seg = _img((30, 30), (5, 14, 2, 11, 3))
    f1, dice, haus, _ = _all(seg, gt)
    assert f1 == pytest.approx(2 / 3)
    assert dice == pytest.approx(0.5 * (1.0 + 0.5))
    # The missed gland is matched to the nearest segment by Hausdorff: a 14-column translate.
    assert haus == pytest.approx(0.5 * (0.0 + 0.5 * 14.0))


def test_false_object():
    gt = _img((30, 30), (2, 11, 2, 11, 1))
    seg = _img((30, 30), (2, 11, 2, 11, 1), (2, 6, 20, 24, 2))  # extra 5x5 = 25 px
    f1, dice, haus, _ = _all(seg, gt)
    assert f1 == pytest.approx(2 / 3)
    assert dice == pytest.approx(0.5 * (0.8 + 1.0))
    # H(extra, G): G's corner (11, 2) to the extra's corner (6, 20): sqrt(5^2 + 18^2).
    assert haus == pytest.approx(0.5 * 0.2 * math.sqrt(349))


def test_both_empty_and_one_empty():
    z = np.zeros((8, 9), np.int32)
    one = _img((8, 9), (1, 3, 1, 3, 1))
    assert _all(z, z) == (1.0, 1.0, 0.0, 1.0)
    for seg, gt in ((z, one), (one, z)):
        f1, dice, haus, pdice = _all(seg, gt)
        assert (f1, dice, pdice) == (0.0, 0.0, 0.0)
        assert haus == float("inf")


def test_hausdorff_of_offset_squares_is_exact():
    a = _img((40, 40), (5, 14, 5, 14, 1))
    b = _img((40, 40), (8, 17, 9, 18, 1))  # translated by (3, 4)
    assert hausdorff_distance(a > 0, b > 0) == 5.0
    assert object_hausdorff(a, b) == 5.0
    far = _img((40, 40), (30, 34, 30, 34, 1))
    assert hausdorff_distance(a > 0, far > 0) == pytest.approx(math.hypot(30 - 5, 30 - 5))  # (5,5) to (30,30)


def test_hausdorff_reaches_inside_a_lumen():
    """A filled disc vs a ring: the farthest point is the lumen centre, not a boundary pixel."""
    yy, xx = np.mgrid[:41, :41]
    r = np.hypot(yy - 20, xx - 20)
    ring = (r <= 15) & (r >= 9)
    disc = r <= 15
    expected = _brute_hausdorff(ring, disc)
    assert expected > 8
    assert hausdorff_distance(ring, disc) == pytest.approx(expected)
    assert object_hausdorff(disc.astype(np.int32), ring.astype(np.int32)) == pytest.approx(expected)


def test_tie_goes_to_lowest_gt_id_like_official_mode():
    # S overlaps G1 (area 20) and G2 (area 12) by 10 px each: partner G1, 10/20 is not > 50%.
    gt = _img((20, 20), (0, 1, 0, 9, 1), (2, 2, 0, 11, 2))
    seg = _img((20, 20), (1, 2, 0, 9, 1))
    st = object_stats(seg, gt)
    assert (st.tp, st.fp, st.fn) == (0, 1, 2)
    # Swap which gland has the lower id: now the small gland is the partner and S is a TP.
    st2 = object_stats(seg, np.where(gt == 1, 2, np.where(gt == 2, 1, 0)))
    assert (st2.tp, st2.fp, st2.fn) == (1, 0, 1)


def test_noncontiguous_ids_equal_relabelled():
    gt = _img((30, 30), (2, 11, 2, 11, 900), (15, 24, 15, 27, 5), (20, 28, 2, 8, 2**30))
    seg = _img((30, 30), (3, 12, 2, 8, 7), (3, 12, 9, 11, 70000), (16, 24, 14, 26, 12))
    gt_r = np.searchsorted(np.unique(gt), gt).astype(np.int32)
    seg_r = np.searchsorted(np.unique(seg), seg).astype(np.int32)
    assert gt_r.max() == 3 and seg_r.max() == 3
    assert evaluate_pair(seg, gt) == evaluate_pair(seg_r, gt_r)
    assert evaluate_pair(seg.astype(np.uint16 if seg.max() < 65536 else np.int64), gt.astype(np.int64)) == (
        evaluate_pair(seg_r.astype(np.uint8), gt_r)
    )


def test_bool_inputs_are_single_objects():
    a = _img((20, 20), (2, 8, 2, 8, 1))
    b = _img((20, 20), (3, 9, 2, 8, 1))
    assert evaluate_pair(a > 0, b > 0) == evaluate_pair(a, b)


def test_input_validation():
    with pytest.raises(ValueError, match=r"\(5, 6\).*\(6, 5\)"):
        object_f1(np.zeros((5, 6), int), np.zeros((6, 5), int))
    with pytest.raises(ValueError, match="integer"):
        object_dice(np.zeros((5, 5), float), np.zeros((5, 5), int))
    with pytest.raises(ValueError, match="negative"):
        pixel_dice(np.full((5, 5), -1), np.zeros((5, 5), int))
    with pytest.raises(ValueError):
        evaluate_set([np.zeros((4, 4), int)], [])
    with pytest.raises(ValueError, match="image 1"):
        evaluate_set([np.zeros((4, 4), int)] * 2, [np.zeros((4, 4), int), np.zeros((4, 5), int)])


# ------------------------------------------------------------------ set aggregation


def test_evaluate_set_pools_over_images():
    split_gt = _img((30, 30), (5, 14, 5, 14, 1))
    split_seg = _img((30, 30), (5, 14, 5, 10, 1), (5, 14, 11, 14, 2))
    small = _img((30, 30), (20, 24, 20, 24, 3))  # 25 px, perfect
    res = evaluate_set([split_seg, small], [split_gt, small])
    assert res["n_images"] == 2
    assert res["object_f1"] == pytest.approx(0.8)  # pooled TP 2, FP 1, FN 0 (mean would be 5/6)
    # S side (60*.75 + 40*4/7 + 25)/125 = 26/35; G side (100*.75 + 25)/125 = 28/35.
    assert res["object_dice"] == pytest.approx(27 / 35)
    # S side (60*4 + 40*6 + 0)/125; G side (100*4 + 0)/125.
    assert res["object_hausdorff"] == pytest.approx(0.5 * (480 / 125 + 400 / 125))
    assert res["pixel_dice"] == 1.0
    # A single image set equals the per-image numbers.
    assert evaluate_set([split_seg], [split_gt]) == evaluate_pair(split_seg, split_gt)


def test_evaluate_set_edge_cases():
    z = np.zeros((6, 6), np.int32)
    one = _img((6, 6), (1, 2, 1, 2, 1))
    assert evaluate_set([z, z], [z, z])["object_f1"] == 1.0
    res = evaluate_set([one, one], [one, z])  # a false object in an image without glands
    assert res["object_hausdorff"] == float("inf")
    assert res["object_f1"] == pytest.approx(2 / 3)
    assert res["object_dice"] == pytest.approx(0.5 * (0.5 + 1.0))
    assert evaluate_set([], [])["n_images"] == 0


# ------------------------------------------------------------------ brute-force cross-check


def _brute_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    d = cdist(np.argwhere(a), np.argwhere(b))
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def _brute(seg: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """Literal reading of the GlaS definitions, one object at a time."""
    ls = [v for v in np.unique(seg) if v]
    lg = [v for v in np.unique(gt) if v]
    if not ls and not lg:
        return 1.0, 1.0, 0.0
    if not ls or not lg:
        return 0.0, 0.0, math.inf

    def partner(other, mask):
        vals, cnt = np.unique(other[mask], return_counts=True)
        cnt = np.where(vals == 0, -1, cnt)
        return vals[np.argmax(cnt)] if cnt.max() > 0 else 0

    tp = 0
    for j in ls:
        i = partner(gt, seg == j)
        if i and ((seg == j) & (gt == i)).sum() / (gt == i).sum() > 0.5:
            tp += 1
    f1 = 2 * tp / (2 * tp + (len(ls) - tp) + (len(lg) - tp)) if tp else 0.0

    def side(x, y, lx, ly):
        dice = haus = 0.0
        for v in lx:
            m = x == v
            w = m.sum() / (x > 0).sum()
            p = partner(y, m)
            if p:
                dice += w * 2 * (m & (y == p)).sum() / (m.sum() + (y == p).sum())
                haus += w * _brute_hausdorff(m, y == p)
            else:
                haus += w * min(_brute_hausdorff(m, y == u) for u in ly)
        return dice, haus

    d1, h1 = side(seg, gt, ls, lg)
    d2, h2 = side(gt, seg, lg, ls)
    return f1, 0.5 * (d1 + d2), 0.5 * (h1 + h2)


def _random_labels(rng: np.random.Generator, shape=(24, 24), n_max=5) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for _ in range(int(rng.integers(1, n_max + 1))):
        r0, c0 = rng.integers(0, shape[0] - 3, 2)
        h, w = rng.integers(2, 9, 2)
        out[r0 : r0 + h, c0 : c0 + w] = rng.integers(1, 50)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_on_random_images(seed):
    rng = np.random.default_rng(seed)
    seg, gt = _random_labels(rng), _random_labels(rng)
    f1, dice, haus = _brute(seg, gt)
    d = evaluate_pair(seg, gt)
    assert d["object_f1"] == pytest.approx(f1)
    assert d["object_dice"] == pytest.approx(dice)
    assert d["object_hausdorff"] == pytest.approx(haus)
    # Dice and Hausdorff are symmetric in (seg, gt) by construction; pixel Dice too.
    e = evaluate_pair(gt, seg)
    assert e["object_dice"] == pytest.approx(d["object_dice"])
    assert e["object_hausdorff"] == pytest.approx(d["object_hausdorff"])
    assert e["pixel_dice"] == pytest.approx(d["pixel_dice"])
    assert 0.0 <= d["object_f1"] <= 1.0 and 0.0 <= d["object_dice"] <= 1.0


def test_per_image_helpers_agree_with_stats():
    rng = np.random.default_rng(99)
    seg, gt = _random_labels(rng), _random_labels(rng)
    st = object_stats(seg, gt)
    assert object_f1(seg, gt) == st.f1()
    assert object_dice(seg, gt) == st.object_dice()
    assert object_hausdorff(seg, gt) == st.object_hausdorff()
    assert pixel_dice(seg, gt) == st.pixel_dice()
    assert metrics.pool_stats([st]).f1() == st.f1()
