"""The annotation tools' geometry and rules without Qt: brush, numbers, polygon fill, areas."""

from __future__ import annotations

import numpy as np
import pytest

from qsa_gui.components.annotation import (
    BRUSH_MAX,
    BRUSH_MIN,
    BrushMemory,
    GlandNumbering,
    brush_size_for,
    ellipse_vertices,
    fresh_label,
    gland_areas,
    gland_centre,
    gland_count_text,
    gland_indices,
    polygon_indices,
)


def test_brush_scales_with_the_shorter_side_and_is_clamped():
    assert brush_size_for((522, 775)) == 8  # GlaS: 1.5 % of 522
    assert brush_size_for((1000, 4000, 3)) == 15
    assert brush_size_for((64, 64)) == BRUSH_MIN
    assert brush_size_for((100_000, 80_000)) == BRUSH_MAX


def test_brush_memory_follows_the_image_until_the_user_picks_a_size():
    m = BrushMemory()
    assert m.choose((522, 775), current=10) == 8  # napari's default 10 is nobody's choice
    assert m.choose((1000, 1000), current=8) == 15  # still ours: follows the image
    assert m.choose((522, 775), current=25) == 25  # the user chose 25: kept
    assert m.choose((64, 64), current=25) == 25


def test_fresh_label_is_max_plus_one_and_never_overflows_int32():
    assert fresh_label(np.zeros((4, 4), np.int32)) == 1
    a = np.zeros((4, 4), np.int32)
    a[0, 0], a[1, 1] = 3, 7
    assert fresh_label(a) == 8
    a[2, 2] = np.iinfo(np.int32).max
    assert fresh_label(a) == 1  # the smallest unused number at the end of int32


def test_polygon_indices_fill_exactly_the_pixels_inside():
    # an axis-aligned square with vertices on pixel edges covers whole pixels: rows/cols 10..19
    square = np.array([[9.5, 9.5], [9.5, 19.5], [19.5, 19.5], [19.5, 9.5]])
    rr, cc = polygon_indices(square, (64, 64))
    assert rr.size == 100 and (rr.min(), rr.max(), cc.min(), cc.max()) == (10, 19, 10, 19)
    # a right triangle: pixel centres with col <= row (and inside the legs), by hand
    tri = np.array([[-0.5, -0.5], [30.5, -0.5], [30.5, 30.5]])
    rr, cc = polygon_indices(tri, (64, 64))
    mask = np.zeros((64, 64), bool)
    mask[rr, cc] = True
    r, c = np.mgrid[0:64, 0:64]
    expected = (r <= 30) & (c <= r)
    assert np.array_equal(mask, expected)
    # clipped to the image, degenerate outlines fill nothing
    rr, cc = polygon_indices(np.array([[-10, -10], [-10, 5], [5, 5], [5, -10.0]]), (8, 8))
    assert rr.min() >= 0 and cc.min() >= 0 and rr.size == 36
    assert polygon_indices(np.array([[1, 1], [5, 5.0]]), (8, 8))[0].size == 0


def test_polygon_indices_preserve_spares_existing_glands():
    labels = np.zeros((32, 32), np.int32)
    labels[10:20, 10:15] = 4
    square = np.array([[9.5, 9.5], [9.5, 19.5], [19.5, 19.5], [19.5, 9.5]])
    rr, cc = polygon_indices(square, labels.shape, labels, preserve=True)
    assert rr.size == 50 and not labels[rr, cc].any()
    assert polygon_indices(square, labels.shape, labels, preserve=False)[0].size == 100


def test_ellipse_vertices_trace_the_inscribed_ellipse():
    corners = np.array([[10.0, 20.0], [10.0, 40.0], [30.0, 40.0], [30.0, 20.0]])
    v = ellipse_vertices(corners, n=32)
    assert v.shape == (32, 2)
    centre = np.array([20.0, 30.0])
    # every vertex on the ellipse with semi-axes 10 (rows) and 10 (cols)
    d = (v - centre) / np.array([10.0, 10.0])
    np.testing.assert_allclose((d**2).sum(axis=1), 1.0, atol=1e-9)


def test_gland_areas_count_by_bincount_and_by_unique_alike():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=(50, 40)).astype(np.int32)
    expected = [(v, int((labels == v).sum())) for v in range(1, 6) if (labels == v).any()]
    assert gland_areas(labels) == expected
    sparse = labels.copy()
    sparse[sparse == 5] = 10_000_000  # a huge number: np.unique path, same answer
    got = dict(gland_areas(sparse))
    assert got[10_000_000] == dict(expected)[5] and len(got) == len(expected)
    assert gland_areas(np.zeros((3, 3), np.int32)) == [] and gland_areas(None) == []
    assert gland_count_text([(1, 10), (2, 5)]) == "2 glands, 15 px in all"
    assert "No glands" in gland_count_text([])


def test_gland_indices_and_centre():
    labels = np.zeros((20, 20), np.int32)
    labels[2:6, 10:14] = 3
    rr, cc = gland_indices(labels, 3)
    assert rr.size == 16
    assert gland_centre(labels, 3) == pytest.approx((3.5, 11.5))
    assert gland_centre(labels, 9) is None
    assert gland_indices(labels, 0)[0].size == 0  # background is never "a gland"


def test_numbering_advances_only_after_a_fresh_number_was_used():
    labels = np.zeros((10, 10), np.int32)
    n = GlandNumbering()
    assert n.start(labels) == 1
    assert n.after_edit(1, labels) is None  # nothing painted with 1 yet (e.g. an erase)
    labels[0:3, 0:3] = 1  # the stroke
    assert n.after_edit(1, labels) == 2
    # the user picks gland 1 to correct it: painting with it never advances
    n.selected(1, labels)
    labels[3, 3] = 1
    assert n.fresh is None and n.after_edit(1, labels) is None
    # napari's own "new label" (M) selects an unused number: it is fresh, and advances
    n.selected(5, labels)
    labels[8, 8] = 5
    assert n.after_edit(5, labels) == 6
    # switched off: the number stays
    n.enabled = False
    n.selected(6, labels)
    labels[9, 9] = 6
    assert n.after_edit(6, labels) is None
