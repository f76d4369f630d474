"""probs_to_instances on hand-built probability maps with known instance structure."""

from __future__ import annotations

import numpy as np
import pytest

from qsa_gui.core.model.postprocess import default_min_size, probs_to_instances


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - cy, xx - cx) <= r


def _prob(mask, hi=0.9, lo=0.05):
    return np.where(mask, hi, lo).astype(np.float32)


def _check_ids(labels):
    assert labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids.tolist() == list(range(len(ids)))  # 0..N, contiguous


SHAPE = (64, 96)


def _touching_discs():
    a = _disc(SHAPE, 32, 30, 18)
    b = _disc(SHAPE, 32, 64, 18)  # overlaps a in a lens around column 47
    contour = np.zeros(SHAPE, bool)
    contour[:, 46:49] = (a | b)[:, 46:49]  # the touching band, 3 px wide
    return a, b, contour


def test_touching_discs_split_by_contour():
    a, b, contour = _touching_discs()
    labels = probs_to_instances(_prob(a | b), _prob(contour))
    _check_ids(labels)
    assert labels.max() == 2
    assert np.array_equal(labels > 0, a | b)  # the contour band is given back to the glands
    left, right = labels[32, 20], labels[32, 75]
    assert left != right and left > 0 and right > 0
    # Each instance is its disc, up to the band where they touch.
    away = np.ones(SHAPE, bool)
    away[:, 44:51] = False
    assert np.array_equal((labels == left) & away, a & ~b & away)
    assert np.array_equal((labels == right) & away, b & ~a & away)


def test_touching_discs_merge_without_contour():
    a, b, _ = _touching_discs()
    labels = probs_to_instances(_prob(a | b), np.zeros(SHAPE, np.float32))
    assert labels.max() == 1
    assert np.array_equal(labels > 0, a | b)


def test_small_specks_removed():
    big = _disc(SHAPE, 32, 48, 15)
    specks = np.zeros(SHAPE, bool)
    for r, c in ((3, 3), (60, 90), (5, 80)):
        specks[r - 1 : r + 2, c - 1 : c + 2] = True  # 3x3 = 9 px
    gland = _prob(big | specks)
    none = np.zeros(SHAPE, np.float32)
    assert default_min_size(SHAPE) == 16
    labels = probs_to_instances(gland, none)
    assert labels.max() == 1 and np.array_equal(labels > 0, big)
    kept = probs_to_instances(gland, none, min_size=0)
    _check_ids(kept)
    assert kept.max() == 4
    assert probs_to_instances(gland, none, min_size=10_000).max() == 0


def test_empty_maps_give_zeros():
    out = probs_to_instances(np.zeros(SHAPE, np.float32), np.zeros(SHAPE, np.float32))
    assert out.dtype == np.int32 and out.shape == SHAPE and not out.any()
    high_contour_only = probs_to_instances(np.zeros(SHAPE), np.ones(SHAPE))
    assert not high_contour_only.any()


def test_ring_gland_lumen_is_filled():
    ring = _disc(SHAPE, 32, 48, 20) & ~_disc(SHAPE, 32, 48, 8)
    # Contour on the gland's outer and inner (lumen) boundary, as a DCAN contour map would be.
    edge = ring & ~(_disc(SHAPE, 32, 48, 18) & ~_disc(SHAPE, 32, 48, 10))
    labels = probs_to_instances(_prob(ring), _prob(edge))
    assert labels.max() == 1
    assert np.array_equal(labels > 0, _disc(SHAPE, 32, 48, 20))


def test_instance_inside_lumen_is_absorbed():
    ring = _disc(SHAPE, 32, 48, 20) & ~_disc(SHAPE, 32, 48, 8)
    inner = _disc(SHAPE, 32, 48, 4)  # a separate blob inside the lumen
    labels = probs_to_instances(_prob(ring | inner), np.zeros(SHAPE, np.float32))
    assert labels.max() == 1
    assert np.array_equal(labels > 0, _disc(SHAPE, 32, 48, 20))


def test_stroma_enclosed_by_several_glands_stays_background():
    # An annulus cut into four glands by contour lines: the centre is enclosed by four
    # instances together, by none alone, so it is not a lumen.
    ring = _disc(SHAPE, 32, 48, 28) & ~_disc(SHAPE, 32, 48, 12)
    contour = np.zeros(SHAPE, bool)
    contour[31:34, :] = True
    contour[:, 47:50] = True
    labels = probs_to_instances(_prob(ring), _prob(contour & ring))
    _check_ids(labels)
    assert labels.max() == 4
    assert labels[32, 48] == 0
    assert np.array_equal(labels > 0, ring)
    quads = {labels[15, 30], labels[15, 66], labels[50, 30], labels[50, 66]}
    assert quads == {1, 2, 3, 4}


def test_gland_entirely_under_contour_is_kept():
    bar = np.zeros(SHAPE, bool)
    bar[10:14, 10:40] = True  # thin gland, all of it marked as contour: no seed
    labels = probs_to_instances(_prob(bar), _prob(bar))
    assert labels.max() == 1 and np.array_equal(labels > 0, bar)


def test_thresholds_and_validation():
    d = _disc(SHAPE, 32, 48, 15)
    g = np.where(d, 0.6, 0.0).astype(np.float32)
    none = np.zeros(SHAPE, np.float32)
    assert probs_to_instances(g, none).max() == 1
    assert probs_to_instances(g, none, threshold=0.7).max() == 0
    with pytest.raises(ValueError, match="differ"):
        probs_to_instances(g, none[:10])
    with pytest.raises(ValueError, match="2-D"):
        probs_to_instances(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        probs_to_instances(np.full(SHAPE, np.nan), none)
