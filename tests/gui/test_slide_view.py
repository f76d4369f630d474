"""Whole slides in the GUI (real napari viewer, Xvfb): the CMU Aperio region imported through the
panel, its overview with one rectangle per region, a click opens a region full size to paint,
Mark done turns its rectangle to the labelled colour, the gallery keeps a slide's regions together."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.utils.colormaps.standardize_color import transform_color  # noqa: E402
from qsa_testkit import TINY_SETTINGS  # noqa: E402

from qsa_gui._qt.actions import ACTIONS  # noqa: E402
from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui._qt.assistant.dialogs import IMAGE_FILTER  # noqa: E402
from qsa_gui._qt.gallery.model import group_key, tooltip_text  # noqa: E402
from qsa_gui._qt.layers import ROLE_IMAGE  # noqa: E402
from qsa_gui._qt.slide_layers import ROLE_REGIONS, ROLE_SLIDE, ROLE_TISSUE  # noqa: E402
from qsa_gui.components.slides import KIND_COLOURS, KIND_LABELLED, KIND_OTHER, KIND_SUGGESTED  # noqa: E402
from qsa_gui.core.project.records import SuggestionRound  # noqa: E402

CMU = Path(__file__).resolve().parents[1] / "data" / "cmu_small_region.svs"
JOB_TIMEOUT_MS = 60_000


@pytest.fixture
def assistant(make_assistant, qtbot, tmp_path: Path):
    w = make_assistant(TINY_SETTINGS, warm_up=False)
    w.boxes.info = lambda *a, **k: None  # no modal boxes in tests
    assert w.new_project(tmp_path / "p")
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_TIMEOUT_MS):
        w.import_images([str(CMU)])  # the panel's import path (a job)
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)
    return w


def _edge(layer, i: int) -> np.ndarray:
    return np.asarray(layer.edge_color)[i]


def test_the_slide_view_shows_the_slide_multiscale_with_one_rectangle_per_region(assistant, qtbot):
    w = assistant
    p = w.project
    slide = p.slides[0]
    regions = p.slide_regions(slide.id)
    assert w.current_image_id == regions[0].image_id  # the import opened the first region
    assert ACTIONS["show_slide"].enabled(w.session) and w.show_slide_button.isEnabled()
    assert w.trigger("show_slide") and w.slide_shown
    image = w.slide_layers.get(ROLE_SLIDE)
    assert image.multiscale and len(image.data) >= 2 and image.visible
    assert tuple(image.data.shapes[0][:2]) == tuple(slide.shape)  # level 0 at full resolution
    rects = w.slide_layers.get(ROLE_REGIONS)
    assert len(rects.data) == len(regions) and set(rects.shape_type) == {"rectangle"}
    assert list(rects.features["image_id"]) == [r.image_id for r in regions]
    np.testing.assert_allclose(_edge(rects, 0), transform_color(KIND_COLOURS[KIND_OTHER])[0])
    assert len(w.slide_layers.get(ROLE_TISSUE).data) == len(slide.tissue) >= 1
    assert not w.layers.get(ROLE_IMAGE).visible  # the region's own layers wait, hidden
    assert w.viewer.layers.selection.active is rects and "region(s)" in w.last_message
    # a lazily read level-0 box equals the region's pixels
    y0, y1, x0, x1 = regions[1].box
    pixels = np.rint(p.load_image(regions[1].image_id) * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(image.data[0][y0:y1, x0:x1]), pixels)
    # Show slide again goes back to the region, full size
    w.show_slide()
    assert not w.slide_shown and not image.visible and w.layers.get(ROLE_IMAGE).visible


def test_a_click_opens_the_region_to_paint_and_mark_done_turns_it_labelled(assistant, qtbot):
    w = assistant
    p = w.project
    sid = p.slides[0].id
    regions = p.slide_regions(sid)
    target = regions[-1]
    p.add_round(SuggestionRound(strategy="qsa", image_ids=[target.image_id, regions[0].image_id], scores={
        target.image_id: {"rank": 1, "uncertainty": 0.25, "representativeness": 0.5}}))  # fmt: skip
    w.view.refresh_all()
    w.show_slide()
    rects = w.slide_layers.get(ROLE_REGIONS)
    k = len(regions) - 1
    assert rects.features["caption"][k] == "#1 u=0.250 r=0.50"
    np.testing.assert_allclose(_edge(rects, k), transform_color(KIND_COLOURS[KIND_SUGGESTED])[0])
    # napari's mouse callback on the rectangles: press and release without moving = a click
    y0, y1, x0, x1 = target.box
    event = SimpleNamespace(position=((y0 + y1) / 2, (x0 + x1) / 2), pos=(10.0, 10.0), type="mouse_press")
    gen = w.slide_layers._on_press(rects, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert w.current_image_id == target.image_id and not w.slide_shown
    labels = w.layers.labels
    assert labels.visible and labels.data.shape == tuple(p.image(target.image_id).shape) == (522, 775)
    assert w.viewer.layers.selection.active is labels
    labels.data_setitem((np.arange(100, 140), np.arange(200, 240)), 1)  # a stroke
    w.mark_done()
    assert p.image(target.image_id).status == "labelled" and p.load_labels(target.image_id).max() == 1
    w.show_image(target.image_id)
    w.show_slide()
    assert rects.features["caption"][k] == "#1 u=0.250 r=0.50 ✓"
    np.testing.assert_allclose(_edge(rects, k), transform_color(KIND_COLOURS[KIND_LABELLED])[0])
    # a drag is a pan, not a click
    event = SimpleNamespace(position=((y0 + y1) / 2, x0 + 5), pos=(10.0, 10.0), type="mouse_press")
    gen = w.slide_layers._on_press(rects, event)
    next(gen)
    event.type, event.pos = "mouse_move", (60.0, 10.0)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert w.slide_shown
    # Next suggested leaves the slide for the next unlabelled suggestion
    w.next_suggested()
    assert w.current_image_id == regions[0].image_id and not w.slide_shown


def test_the_gallery_keeps_a_slides_regions_together_and_slides_can_be_picked(assistant):
    p = assistant.project
    for ext in ("*.svs", "*.ndpi", "*.ome.tif", "*.tiff"):
        assert ext in IMAGE_FILTER
    recs = [p.image(r.image_id) for r in p.slide_regions(p.slides[0].id)]
    order = sorted(reversed(recs), key=group_key)
    assert [r.id for r in order] == [r.id for r in recs]  # raster order: rows, then columns
    assert "region of slide cmu_small_region.svs" in tooltip_text(recs[0])
    assert assistant.gallery.visible_ids() == [r.id for r in recs]  # the gallery shows them so


def _run(qtbot, w: AssistantWidget, action) -> None:
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_TIMEOUT_MS):
        action()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)


def test_a_pathologist_suggests_paints_retrains_and_segments_the_slide(assistant, qtbot):
    """The whole-slide loop in the napari shell, every job a real worker-process job: Suggest ranks
    regions on the slide, the #1 region is painted at full resolution, Retrain, Segment slide
    writes QuPath GeoJSON (schema-checked) and outlines the glands on the slide."""
    from slide_testkit import check_qupath_geojson

    from qsa_gui._qt.slide_layers import ROLE_GLANDS

    w = assistant
    p = w.project
    slide = p.slides[0]
    assert w.segment_slide_button.isVisibleTo(w) and not w.segment_slide_button.isEnabled()  # no model
    assert "press Retrain first" in w.segment_slide_button.toolTip()
    _run(qtbot, w, w.suggest)
    w.show_slide()
    captions = list(w.slide_layers.get(ROLE_REGIONS).features["caption"])
    assert any(c.startswith("#1") for c in captions), captions
    w.next_suggested()  # leaves the slide for the #1 region, full size
    top = p.latest_round().image_ids[0]
    assert w.current_image_id == top and not w.slide_shown
    labels = w.layers.labels
    for k, (y0, y1, x0, x1) in enumerate(((150, 260, 300, 420), (320, 400, 80, 200)), start=1):
        rows, cols = np.mgrid[y0:y1, x0:x1]
        labels.data_setitem((rows.ravel(), cols.ravel()), k)  # two painted glands
    w.mark_done()
    assert p.image(top).status == "labelled" and p.load_labels(top).max() == 2
    _run(qtbot, w, w.retrain)
    assert p.current_model is not None and w.segment_slide_button.isEnabled()
    _run(qtbot, w, w.segment_slide)
    assert w.slide_shown and "Slide segmented" in w.last_message and "GeoJSON" in w.last_message
    out = Path(p.folder) / "slide-segmentations" / "cmu_small_region"
    assert (out / "summary.json").is_file() and (out / "cmu_small_region.labels.ome.zarr").is_dir()
    data = check_qupath_geojson(out / "cmu_small_region.geojson", tuple(slide.shape))
    glands = w.slide_layers.get(ROLE_GLANDS)
    assert glands is not None and glands.visible and len(glands.data) >= len(data["features"])
    assert w.viewer.layers.selection.active is w.slide_layers.get(ROLE_REGIONS)  # clicks still pick
    assert not [x for x in Path(p.folder, "slide-segmentations").iterdir() if x.name.startswith(".")]
