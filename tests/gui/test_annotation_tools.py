"""The annotation tools in a real napari viewer (Xvfb): paint mode and brush on open, traced
glands, new-gland numbers, the gland list with delete and undo, outlines, the keyboard help."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS  # noqa: E402

from qsa_gui._qt.actions import ACTIONS, NAPARI_KEYS  # noqa: E402
from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui._qt.polygon_tool import LASSO_MODE, OUTLINE_LAYER_NAME  # noqa: E402
from qsa_gui.components.annotation import brush_size_for, gland_areas, polygon_indices  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

N_IMAGES, SIZE = 6, 128
SQUARE = np.array([[4.5, 4.5], [4.5, 24.5], [24.5, 24.5], [24.5, 4.5]])  # rows / cols 5..24


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(TINY_SETTINGS, warm_up=False, autosave_ms=50)


def _labels(w: AssistantWidget) -> np.ndarray:
    return np.array(w.layers.labels.data, copy=True)


def _wait_saved(qtbot, w: AssistantWidget) -> None:
    """The autosave wrote what the labels layer shows."""
    p, a = w.project, w.current_image_id
    qtbot.waitUntil(lambda: not w.session.dirty and p.load_labels(a) is not None, timeout=5000)
    np.testing.assert_array_equal(p.load_labels(a), w.layers.labels.data)


def test_an_opened_image_is_ready_to_paint(assistant, demo: Path):
    w = assistant
    w.open_project(demo)
    layer = w.layers.labels
    assert w.viewer.layers.selection.active is layer
    assert layer.mode == "paint"
    assert layer.brush_size == brush_size_for(layer.data.shape)
    assert layer.selected_label == int(np.max(layer.data)) + 1
    # the user's own brush size is kept on the next image, the number is fresh again
    layer.brush_size = 9
    w.next_image()
    layer = w.layers.labels
    assert layer.brush_size == 9 and layer.mode == "paint"
    assert layer.selected_label == int(np.max(layer.data)) + 1


def test_a_traced_outline_fills_one_new_gland_saved_and_undoable(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    layer = w.layers.labels
    before = _labels(w)
    new = int(before.max()) + 1
    assert w.trigger("trace_gland")
    shapes = w.glands.tool.shapes
    assert shapes.name == OUTLINE_LAYER_NAME and shapes.mode == LASSO_MODE
    assert w.viewer.layers.selection.active is shapes and w.trace_button.isChecked()
    shapes.add(SQUARE, shape_type="polygon")  # what napari emits when a lasso is finished
    after = _labels(w)
    rr, cc = polygon_indices(SQUARE, before.shape)
    inside = np.zeros(before.shape, bool)
    inside[rr, cc] = True
    assert inside.sum() == 400
    assert set(np.unique(after[inside])) == {new}  # one new instance: exactly the polygon's pixels
    np.testing.assert_array_equal(after[~inside], before[~inside])
    qtbot.waitUntil(lambda: len(shapes.data) == 0, timeout=2000)  # only the labels keep the outline
    assert layer.selected_label == new + 1  # the next gland gets the next number
    assert f"Gland {new} filled" in w.last_message
    _wait_saved(qtbot, w)
    # Ctrl+Z while tracing (napari sends it to the outline layer) undoes the fill: one step of
    # the labels layer's history; Ctrl+Shift+Z redoes it
    from app_model.types import KeyBinding

    assert w.viewer.layers.selection.active is shapes
    shapes.keymap[KeyBinding.from_str("Ctrl+Z")](shapes)
    np.testing.assert_array_equal(layer.data, before)
    shapes.keymap[KeyBinding.from_str("Ctrl+Shift+Z")](shapes)
    np.testing.assert_array_equal(layer.data, after)
    layer.undo()
    # another layer made active (an image switch) ends the tool
    w.next_image()
    qtbot.waitUntil(lambda: not w.glands.tool.active, timeout=2000)
    assert OUTLINE_LAYER_NAME not in [lay.name for lay in w.viewer.layers]
    assert not w.trace_button.isChecked()


def _stroke(qtbot, layer, coord) -> None:
    """One brush dab with the selected number, then the event loop's turn (as after a stroke)."""
    layer.paint(coord, layer.selected_label)
    qtbot.wait(20)


def test_new_gland_numbers_advance_after_each_fresh_stroke(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    layer = w.layers.labels
    first = layer.selected_label
    _stroke(qtbot, layer, (60, 60))  # a stroke with the fresh number
    assert layer.selected_label == first + 1
    _stroke(qtbot, layer, (100, 100))
    assert layer.selected_label == first + 2
    # correcting an existing gland: its number stays selected
    layer.selected_label = first
    _stroke(qtbot, layer, (62, 62))
    assert layer.selected_label == first
    # "New gland" (G / Alt+M) selects a fresh number and the brush
    layer.mode = "pan_zoom"
    assert w.trigger("new_gland")
    assert layer.selected_label == int(np.max(layer.data)) + 1 and layer.mode == "paint"
    # switched off, a stroke keeps its number
    w.glands.list.auto_box.setChecked(False)
    fresh = layer.selected_label
    _stroke(qtbot, layer, (20, 100))
    assert layer.selected_label == fresh


def test_a_recreated_labels_layer_gets_the_tools_too(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    w.viewer.layers.remove(w.layers.labels)
    w.mark_done()  # no labels layer: it is recreated from the saved labels, nothing is saved
    layer = w.layers.labels
    assert layer is not None
    qtbot.waitUntil(lambda: w.glands.layer is layer, timeout=2000)
    assert layer.mode == "paint" and layer.selected_label == int(np.max(layer.data)) + 1
    first = layer.selected_label
    _stroke(qtbot, layer, (40, 40))
    assert layer.selected_label == first + 1


def test_gland_list_counts_selects_deletes_and_undo_restores(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    layer = w.layers.labels
    _stroke(qtbot, layer, (30, 30))
    _stroke(qtbot, layer, (90, 90))
    glands = w.glands.list
    qtbot.waitUntil(lambda: len(glands.labels()) == len(gland_areas(layer.data)), timeout=3000)
    areas = gland_areas(layer.data)
    assert len(areas) >= 2
    assert glands.labels() == [lab for lab, _ in areas]
    assert w.tabs.tabText(w.tabs.indexOf(glands)) == f"Glands ({len(areas)})"
    shown = [int(glands.table.item(r, 1).text().replace(",", "")) for r in range(glands.table.rowCount())]
    assert shown == [a for _, a in areas]
    # selecting a row selects that gland's number and centres the view on it
    target, target_area = areas[-1]
    glands.table.selectRow(len(areas) - 1)
    assert layer.selected_label == target
    rr, cc = np.nonzero(np.asarray(layer.data) == target)
    assert w.viewer.camera.center[-2:] == pytest.approx((rr.mean(), cc.mean()))
    before = _labels(w)
    glands.delete_button.click()
    assert not np.any(layer.data == target)
    assert glands.labels() == [lab for lab, _ in areas[:-1]]
    assert f"Gland {target} deleted ({target_area:,} px)" in w.last_message
    _wait_saved(qtbot, w)
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
    qtbot.waitUntil(lambda: glands.labels() == [lab for lab, _ in areas], timeout=3000)


def test_outlines_toggle_and_stay_on_the_next_image(assistant, demo: Path):
    w = assistant
    w.open_project(demo)
    assert w.layers.labels.contour == 0
    assert w.trigger("outlines")
    assert w.layers.labels.contour > 0 and w.outline_button.isChecked()
    w.next_image()
    assert w.layers.labels.contour > 0
    w.trigger("outlines")
    assert w.layers.labels.contour == 0 and not w.outline_button.isChecked()


def test_keyboard_help_lists_every_shortcut_of_the_table(assistant, qtbot):
    w = assistant
    dialog = w.show_shortcuts()
    qtbot.addWidget(dialog)
    rows = dialog.rows()
    keys = {r[0] for r in rows}
    panel_keys = {spec.shortcut for spec in ACTIONS.values() if spec.shortcut}
    assert {"Alt+M", "Alt+T", "Alt+O", "Alt+D"} <= panel_keys <= keys
    assert {k for k, _, _ in NAPARI_KEYS} <= keys
    assert ("Alt+T", "Trace a gland outline", "everywhere") in rows


def test_window_help_lists_every_menu_shortcut(make_napari_viewer, qtbot, tmp_path: Path):
    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow

    window = MainWindow(
        settings=make_settings(tmp_path / "s.ini"), viewer=make_napari_viewer(), confirm_close=lambda n: True
    )
    try:
        dialog = window.show_shortcuts()
        keys = {r[0] for r in dialog.rows()}
        for spec in ACTIONS.values():
            if spec.menu_shortcuts:
                assert ", ".join(spec.menu_shortcuts) in keys, spec.key
        assert {"Ctrl+Q", "Ctrl+Z", "F1", "G", "T", "O"} <= {k for r in keys for k in r.split(", ")}
        assert {k for k, _, _ in NAPARI_KEYS} <= keys
        dialog.close()
        # the panel's Project menu inside the window shows the window's keys, not the dock's Alt+ keys
        from_panel = {r[0] for r in window.assistant.show_shortcuts().rows()}
        assert "F1" in from_panel and "Alt+T" not in from_panel
    finally:
        window.close()
        window.deleteLater()
        qtbot.wait(10)


def _drag_on_canvas(canvas, points, qtbot) -> None:
    """A real mouse drag on napari's canvas: press, moves with the button held, release."""
    from qtpy.QtCore import QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    left, none, mod = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier

    def send(kind, p, button, buttons) -> None:
        pos = QPointF(*p)
        glob = QPointF(canvas.mapToGlobal(pos.toPoint()))
        QApplication.sendEvent(canvas, QMouseEvent(kind, pos, glob, button, buttons, mod))

    send(QMouseEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        send(QMouseEvent.Type.MouseMove, p, none, left)
        qtbot.wait(5)
    send(QMouseEvent.Type.MouseButtonRelease, points[-1], left, none)
    qtbot.wait(50)


def test_a_lasso_drawn_with_the_mouse_becomes_a_gland(make_napari_viewer, demo: Path, qtbot):
    """napari's own lasso code path (press - drag - release on the canvas), not a programmatic add."""
    from qsa_gui._qt import napari_private

    viewer = make_napari_viewer(show=True)
    w = AssistantWidget(viewer, warm_up=False)
    try:
        w.open_project(demo)
        viewer.reset_view()
        qtbot.wait(100)
        layer = w.layers.labels
        before = _labels(w)
        assert w.trigger("trace_gland")
        canvas = napari_private.qt_viewer(viewer).canvas.native
        zoom, (crow, ccol) = viewer.camera.zoom, viewer.camera.center[-2:]
        assert zoom * 20 > 30, (zoom, canvas.width(), canvas.height())  # vertices > 10 screen px apart
        t = np.linspace(0, 2 * np.pi, 16)
        ring = np.stack([64 + 20 * np.sin(t), 64 + 20 * np.cos(t)], axis=1)  # a circle, r = 20 px
        screen = [
            (canvas.width() / 2 + (c - ccol) * zoom, canvas.height() / 2 + (r - crow) * zoom) for r, c in ring
        ]
        _drag_on_canvas(canvas, screen, qtbot)
        qtbot.waitUntil(lambda: len(w.glands.tool.shapes.data) == 0, timeout=2000)
        changed = np.asarray(layer.data) != before
        assert set(np.unique(np.asarray(layer.data)[changed])) == {int(before.max()) + 1}
        area = int(changed.sum())
        assert abs(area - np.pi * 20**2) < 0.1 * np.pi * 20**2  # the circle's area, within 10 %
        rows, cols = np.nonzero(changed)
        assert abs(rows.mean() - 64) < 2 and abs(cols.mean() - 64) < 2
    finally:
        w.shutdown()


def test_every_action_has_its_handler_and_panel_keys_are_unique():
    for spec in ACTIONS.values():
        assert callable(getattr(AssistantWidget, spec.handler, None)), spec.key
    panel = [spec.shortcut for spec in ACTIONS.values() if spec.shortcut]
    assert len(panel) == len(set(panel))
    # napari's menu mnemonics (File, View, Layers, Plugins, Window, Help) stay free in the dock
    assert not {"Alt+F", "Alt+V", "Alt+L", "Alt+P", "Alt+W", "Alt+H"} & set(panel)
