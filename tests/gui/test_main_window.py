"""Tests of the standalone main window (qsa_gui.app): embedding, menus, shortcuts, persistence.

Every window gets its own INI settings file in ``tmp_path`` (never the user's settings) and a
napari viewer from napari's ``make_napari_viewer`` fixture (which checks that no QtViewer leaks).
Dialogs are injected callables, so nothing modal blocks the event loop.
"""

from __future__ import annotations

import gc
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS  # noqa: E402
from qtpy.QtCore import QSettings, Qt  # noqa: E402
from qtpy.QtGui import QKeySequence  # noqa: E402

from qsa_gui.app import dialogs  # noqa: E402
from qsa_gui.app.main import build_window, main, parse_args  # noqa: E402
from qsa_gui.app.recent import (  # noqa: E402
    KEY_RECENT,
    MAX_RECENT,
    RecentProjects,
    is_project_folder,
    make_settings,
)
from qsa_gui.app.window import MainWindow  # noqa: E402
from qsa_gui.core.project.store import STATUS_LABELLED, Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402
from qsa_gui.resources import sample_images  # noqa: E402

#: Jobs in these tests must be tiny: 2 cores shared by the whole suite.
TINY = replace(
    TINY_SETTINGS, iterations=8, ensemble_iterations=6, inq_iterations=2, seg_bits=None, ensemble_bits=None
)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    """One small demo project per module (8 images of 128 px: 6 pool + 2 labelled test images)."""
    return write_demo_project(tmp_path_factory.mktemp("template") / "demo", n_images=8, size=128)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo project for one test (tests paint and save labels)."""
    dest = tmp_path / "demo"
    shutil.copytree(demo_template, dest)
    return dest


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "qsa-gui.ini"


@pytest.fixture
def windows(qtbot, make_napari_viewer):
    """Windows to close (confirm 'yes') and delete at the end of the test.

    Depends on ``make_napari_viewer`` so that it is torn down first: napari's fixture then checks
    that no QtViewer outlived its window.
    """
    made: list[MainWindow] = []
    yield made
    for window in made:
        window.confirm_close = lambda name: True
        window.close()
        window.deleteLater()
    made.clear()
    qtbot.wait(10)
    gc.collect()  # the window/viewer reference cycles, before napari's QtViewer leak check


@pytest.fixture
def make_window(windows, make_napari_viewer, settings_file):
    """Factory: a MainWindow with temp settings and an injected 'yes' to the close question."""

    def factory(**kwargs) -> MainWindow:
        kwargs.setdefault("settings", make_settings(settings_file))
        kwargs.setdefault("confirm_close", lambda name: True)
        kwargs.setdefault("viewer", make_napari_viewer())
        window = MainWindow(**kwargs)
        window.notify_error = lambda title, msg: pytest.fail(f"unexpected error dialog: {title}: {msg}")
        windows.append(window)
        return window

    return factory


def _show_active(qtbot, window: MainWindow) -> None:
    """Shortcuts only fire in the active window (Xvfb has no window manager to activate it)."""
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.raise_()
    qtbot.waitActive(window)


def _menu(window: MainWindow, title: str):
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    raise AssertionError(f"no menu {title!r}")


def _texts(menu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def _keys(action) -> list[str]:
    return [s.toString(QKeySequence.SequenceFormat.PortableText) for s in action.shortcuts()]


# ---------------------------------------------------------------------------------------------


def test_window_embeds_canvas_and_opens_demo_project(qtbot, make_window, demo):
    window = make_window()
    assert window.centralWidget() is window.qt_viewer
    assert window.tools_dock.widget().widget() is window.qt_viewer.controls  # in a scroll area
    assert window.assistant_dock.widget() is window.assistant
    assert window.dockWidgetArea(window.assistant_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.dockWidgetArea(window.tools_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert window.windowTitle() == "qsa-gui"
    assert not window.windowIcon().isNull()  # the shipped icon (resources/icons)
    assert "No project" in window._project_label.text()
    assert not window.menu_actions["mark_done"].isEnabled()

    assert window.open_project(demo)
    project = window.assistant.project
    assert project is not None and Path(project.folder).resolve() == demo.resolve()
    assert window.windowTitle().startswith("Generated glands (demo)")
    assert "0/6 labelled" in window._project_label.text()  # 8 images: 6 pool + 2 test
    assert window.menu_actions["mark_done"].isEnabled()
    # the assistant showed an image: its labels layer is what Undo/Redo act on
    qtbot.waitUntil(lambda: window.assistant.current_image_id is not None, timeout=5000)
    record = project.image(window.assistant.current_image_id)
    window._refresh_status()
    assert record.name in window._image_label.text()
    layer = window.labels_layer()
    assert layer is not None and layer.data.shape == tuple(record.shape)
    # no model yet: the heat-map cannot be shown, and the tooltip says why
    heat = window.menu_actions["heatmap"]
    assert not heat.isEnabled() and "Retrain" in heat.toolTip()


def test_menus_actions_and_shortcuts(qtbot, make_window):
    window = make_window()
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Edit", "Annotate", "View", "Help"]
    file_texts = _texts(_menu(window, "File"))
    for text in (
        "New project…",
        "Open project…",
        "Open recent",
        "Import images…",
        "Export labels and model…",
        "Quit",
    ):
        assert text in file_texts
    assert _texts(_menu(window, "Edit")) == ["Undo", "Redo", "Label history…"]
    assert _keys(window.menu_actions["label_history"]) == ["Ctrl+H"]
    assert "Uncertainty heat-map" in _texts(_menu(window, "View"))
    assert "About qsa-gui" in _texts(_menu(window, "Help"))

    acts = window.menu_actions
    assert _keys(acts["next_image"]) == ["N", "Right"]
    assert _keys(acts["previous_image"]) == ["Shift+N", "Left"]
    assert _keys(acts["mark_done"]) == ["Ctrl+D"]
    assert _keys(acts["next_suggested"]) == ["Ctrl+Shift+N"]
    assert _keys(acts["undo"]) == ["Ctrl+Z"]
    assert _keys(acts["redo"])[0] == "Ctrl+Shift+Z"
    assert _keys(acts["open_project"]) == ["Ctrl+O"]
    assert _keys(acts["new_project"]) == ["Ctrl+N"]
    # no shortcut is bound twice (an ambiguous shortcut fires nothing in Qt)
    every = [k for a in acts.values() for k in _keys(a)]
    assert len(every) == len(set(every))
    # none of our shortcuts takes a key napari's Labels layer uses (P = paint mode, E, F, L, M, ...)
    from app_model.types import KeyBinding
    from napari.utils.shortcuts import _default_shortcuts

    napari_label_keys = {
        str(KeyBinding.from_int(int(combo)))
        for name, combos in _default_shortcuts.items()
        if "label" in name or "brush" in name
        for combo in combos
    }
    assert {"P", "2", "E", "Z"} <= napari_label_keys
    ours = {str(KeyBinding.from_str(k)) for k in every}
    assert not ours & napari_label_keys, ours & napari_label_keys
    assert {row[0] for row in window.shortcut_rows()} >= {"Next image", "Undo", "Mark image done"}


def test_keyboard_on_canvas_navigates_and_keeps_napari_paint_keys(qtbot, make_window, demo):
    window = make_window()
    qtbot.addWidget(window)
    _show_active(qtbot, window)
    assert window.open_project(demo)
    qtbot.waitUntil(lambda: window.assistant.current_image_id is not None, timeout=5000)
    canvas = window.qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=3000)
    first = window.assistant.current_image_id
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.assistant.current_image_id != first, timeout=5000)
    qtbot.keyClick(canvas, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.assistant.current_image_id == first, timeout=5000)
    # napari's own Labels keys still reach the canvas: "2" = paint mode, "1" = erase mode
    layer = window.labels_layer()
    window.viewer.layers.selection.active = layer
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: str(layer.mode) == "paint", timeout=3000)
    qtbot.keyClick(canvas, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: str(layer.mode) == "erase", timeout=3000)


def test_undo_redo_delegate_to_labels_layer(qtbot, make_window, demo):
    window = make_window()
    assert not window.undo()  # no labels layer yet: nothing to do, no error
    assert window.open_project(demo)
    qtbot.waitUntil(lambda: window.labels_layer() is not None, timeout=5000)
    layer = window.labels_layer()
    before = np.array(layer.data, copy=True)
    layer.brush_size = 9
    layer.paint((40, 50), 3)  # one brush dab = one undo step
    painted = np.asarray(layer.data) == 3
    assert painted.sum() > 20 and painted[40, 50]
    window.menu_actions["undo"].trigger()
    np.testing.assert_array_equal(np.asarray(layer.data), before)
    window.menu_actions["redo"].trigger()
    np.testing.assert_array_equal(np.asarray(layer.data) == 3, painted)
    # Ctrl+Z on the canvas goes through the same action
    _show_active(qtbot, window)
    window.qt_viewer.canvas.native.setFocus()
    qtbot.keyClick(window.qt_viewer.canvas.native, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not (np.asarray(layer.data) == 3).any(), timeout=3000)


def test_recent_projects_persist_and_prune(tmp_path, settings_file):
    folders = []
    for i in range(MAX_RECENT + 2):
        folder = tmp_path / f"p{i}"
        Project.create(folder, name=f"p{i}").close()
        folders.append(str(folder.resolve()))
    recent = RecentProjects(make_settings(settings_file))
    for folder in folders:
        recent.add(folder)
    assert recent.paths() == folders[::-1][:MAX_RECENT]  # newest first, at most 8
    recent.add(folders[5])  # reopening moves it to the front, no duplicate
    expected = [folders[5]] + [f for f in folders[::-1][:MAX_RECENT] if f != folders[5]]
    assert recent.paths() == expected
    # persisted in the INI file: a fresh QSettings object reads the same list
    again = RecentProjects(QSettings(str(settings_file), QSettings.Format.IniFormat))
    assert again.paths(prune=False) == expected
    # a project folder that is gone is pruned, in the stored value too
    shutil.rmtree(folders[9])
    (Path(folders[8]) / "project.json").unlink()  # not a project any more
    assert again.paths() == [f for f in expected if f not in (folders[8], folders[9])]
    third = QSettings(str(settings_file), QSettings.Format.IniFormat)
    assert folders[9] not in third.value(KEY_RECENT) and folders[8] not in third.value(KEY_RECENT)
    # garbage in the settings file is ignored, not a crash
    third.setValue(KEY_RECENT, "not json")
    assert RecentProjects(third).paths() == []


def test_window_recent_menu(qtbot, make_window, demo, tmp_path):
    window = make_window()
    assert window.open_project(demo)
    window._rebuild_recent_menu()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(demo.resolve())]
    assert window.recent.paths() == [str(demo.resolve())]
    # a second project comes first; opening from the menu entry reopens the first
    other = tmp_path / "other"
    Project.create(other, name="Other").close()
    assert window.open_project(other)
    window._rebuild_recent_menu()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(other.resolve()), str(demo.resolve())]
    entries[1].trigger()
    assert Path(window.assistant.project.folder).resolve() == demo.resolve()


def test_geometry_and_docks_restored_in_second_window(qtbot, make_window, settings_file):
    first = make_window()
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.resize(1234, 876)  # above the docks' minimum height, below Xvfb's 1600x1000 screen
    first.layers_dock.hide()
    qtbot.waitUntil(lambda: (first.width(), first.height()) == (1234, 876), timeout=3000)
    first.close()
    assert not first.isVisible()
    assert first.restored_state is False  # nothing was stored before

    second = make_window()
    assert second.restored_state is True
    second.show()
    qtbot.waitExposed(second)
    assert (second.width(), second.height()) == (1234, 876)
    assert second.layers_dock.isHidden() and not second.assistant_dock.isHidden()


def test_close_with_running_job_asks(qtbot, make_window, demo):
    # three labelled pool images so Retrain has something to train on
    with Project.open(demo) as project:
        for image_id in project.unlabelled_ids("pool")[:3]:
            labels = np.zeros(project.image(image_id).shape, np.int32)
            labels[20:60, 30:70] = 1
            project.save_labels(image_id, labels, done=True)
    asked: list[str] = []
    answers = iter([False, True])

    def confirm(name: str) -> bool:
        asked.append(name)
        return next(answers)

    window = make_window(confirm_close=confirm)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_project(demo)
    assistant = window.assistant
    assistant.settings_override = TINY.updated(iterations=100_000)  # runs until cancelled
    assistant.retrain()
    qtbot.waitUntil(lambda: assistant.is_busy, timeout=5000)
    assert not window.menu_actions["retrain"].isEnabled() and window.menu_actions["cancel_job"].isEnabled()

    assert not window.close()  # "Keep working"
    assert window.isVisible() and assistant.is_busy and assistant.project is not None
    assert len(asked) == 1
    assert dialogs.confirm_close_text(asked[0]) == f"A job is running ({asked[0]}). Cancel it and quit?"
    assert "retrain" in asked[0].lower()

    assert window.close()  # "Cancel job and quit"
    assert len(asked) == 2
    assert not window.isVisible() and not assistant.is_busy
    with Project.open(demo, read_only=True) as project:  # the cancelled job committed nothing
        assert project.models == [] and project.current_model is None
        assert len(project.labelled_ids("pool")) == 3


def test_build_window_demo_and_project_arguments(qtbot, windows, make_napari_viewer, tmp_path, settings_file):
    folder = tmp_path / "new-demo"
    args = ["--demo", str(folder), "--demo-images", "8", "--demo-size", "128"]

    def build(argv: list[str], **kwargs) -> MainWindow:
        kwargs.setdefault("settings", make_settings(settings_file))
        window = build_window(argv, viewer=make_napari_viewer(), confirm_close=lambda name: True, **kwargs)
        windows.append(window)
        return window

    window = build(args)
    assert window.assistant.is_busy  # the demo is generated in a job, off the GUI thread
    qtbot.waitUntil(lambda: window.assistant.project is not None, timeout=30000)
    assert is_project_folder(folder)
    project = window.assistant.project
    # 8 generated images plus the shipped real H&E samples (unlabelled, in the pool)
    assert len(project.images) == 8 + len(sample_images()) and len(project.labelled_ids("test")) == 2
    assert all(r.status != STATUS_LABELLED for r in project.images if r.split == "pool")
    assert window.recent.paths() == [str(folder.resolve())]
    window.close()
    stamp = (folder / "project.json").stat().st_mtime_ns

    # --demo on an existing demo opens it without rewriting; PATH alone opens a project
    asked: list[Path] = []
    for argv in (args, [str(folder)]):
        window = build(argv, ask_demo=asked.append)
        assert not window.assistant.is_busy
        assert Path(window.assistant.project.folder).resolve() == folder.resolve()
        window.close()
    assert asked == []  # a project was named: no demo offer
    assert (folder / "project.json").stat().st_mtime_ns == stamp


def test_first_start_offers_demo_only_without_recent_projects(qtbot, windows, make_napari_viewer, tmp_path):
    settings = make_settings(tmp_path / "fresh.ini")
    asked: list[Path] = []

    def decline(default: Path) -> None:
        asked.append(default)
        return None

    def build(argv: list[str], ask) -> MainWindow:
        window = build_window(argv, settings=settings, viewer=make_napari_viewer(), ask_demo=ask)
        windows.append(window)
        return window

    window = build([], decline)
    assert asked == [Path.home() / "qsa-gui-demo"]
    assert window.assistant.project is None and not window.assistant.is_busy
    window.close()
    # accepting the offer into a chosen folder creates and opens the demo there
    chosen = tmp_path / "chosen-demo"
    window = build(["--demo-images", "8", "--demo-size", "128"], lambda default: chosen)
    qtbot.waitUntil(lambda: window.assistant.project is not None, timeout=30000)
    assert Path(window.assistant.project.folder).resolve() == chosen.resolve()
    window.close()
    # with a recent project there is no offer: it is reopened (test_first_steps.py: the setting)
    asked.clear()
    window = build([], decline)
    assert asked == [] and Path(window.assistant.project.folder).resolve() == chosen.resolve()
    window.close()


def test_demo_refuses_a_foreign_non_empty_folder(qtbot, make_window, tmp_path):
    window = make_window()
    errors: list[str] = []
    window.notify_error = lambda title, msg: errors.append(msg)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    assert not window.open_demo(foreign, n_images=8, size=128)
    assert errors and "not a qsa-gui project" in errors[0]
    assert not window.assistant.is_busy and sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


def test_parse_args_and_about_text():
    args = parse_args(["--demo", "/x/demo", "--demo-images", "10"])
    assert args.demo and args.project == "/x/demo" and args.demo_images == 10 and args.demo_size == 256
    assert parse_args([]).project is None
    with pytest.raises(SystemExit):
        parse_args(["--demo-images", "1"])
    with pytest.raises(SystemExit) as exit_info:  # answered before any window or event loop
        main(["--version"])
    assert exit_info.value.code == 0
    from qsa_gui import __version__

    text = dialogs.about_html()
    assert __version__ in text and "1803.04907" in text and "1706.04737" in text
    assert dialogs.LICENCE in text
