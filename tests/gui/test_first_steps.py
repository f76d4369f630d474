"""First steps (Xvfb): the empty state's four starts, files dropped into the project (never
napari's reader), the last project reopened at start, and our welcome instead of napari's."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

pytest.importorskip("napari")

from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from qtpy.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

from qsa_gui._qt import napari_private  # noqa: E402
from qsa_gui._qt.assistant import AssistantWidget, dialogs  # noqa: E402
from qsa_gui._qt.drops import sort_drop  # noqa: E402
from qsa_gui.app.first_steps import KEY_REOPEN_LAST  # noqa: E402
from qsa_gui.app.main import build_window  # noqa: E402
from qsa_gui.app.recent import RecentProjects, make_settings  # noqa: E402
from qsa_gui.app.window import MainWindow  # noqa: E402
from qsa_gui.core.data.images import write_image  # noqa: E402
from qsa_gui.core.data.synth import generate_sample  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

JOB_MS = 60_000


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return write_demo_project(tmp_path_factory.mktemp("t") / "demo", n_images=4, size=64)


@pytest.fixture
def demo(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "demo")
    return tmp_path / "demo"


@pytest.fixture
def pngs(tmp_path: Path) -> list[str]:
    out = []
    for k in range(2):
        p = tmp_path / "drop" / f"new_{k}.png"
        p.parent.mkdir(exist_ok=True)
        write_image(p, generate_sample(k, size=(40, 48)).image)
        out.append(str(p))
    return out


@pytest.fixture
def windows(qtbot, make_napari_viewer):
    made: list[MainWindow] = []
    yield made
    for w in made:
        w.confirm_close = lambda _name: True
        w.close()
        w.deleteLater()
    made.clear()
    qtbot.wait(10)
    gc.collect()  # the window/viewer cycles, before napari's QtViewer leak check


@pytest.fixture
def make_window(windows, make_napari_viewer, tmp_path):
    def factory(**kw) -> MainWindow:
        kw.setdefault("settings", make_settings(tmp_path / "s.ini"))
        w = MainWindow(viewer=make_napari_viewer(), confirm_close=lambda _n: True, **kw)
        windows.append(w)
        return w

    return factory


def drop(widget, paths: list[str]) -> tuple[bool, bool]:
    """Drag ``paths`` over ``widget`` and drop them, as a file manager does; (enter, drop) accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(widget, enter)
    event = QDropEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)
    return enter.isAccepted(), event.isAccepted()


def test_sort_drop_opens_a_project_folder_and_expands_plain_folders(demo, pngs):
    assert sort_drop([str(demo)]).project == str(demo)
    folder = Path(pngs[0]).parent
    (folder / "notes.txt").write_text("x")
    assert sort_drop([str(folder)]).files == pngs  # image files inside, sorted; not the .txt
    assert sort_drop([str(folder / "notes.txt")]).files == [str(folder / "notes.txt")]  # import says why


def test_empty_panel_offers_four_starts_and_import_creates_a_project(qtbot, tmp_path, pngs, monkeypatch):
    w = AssistantWidget(None, warm_up=False)
    qtbot.addWidget(w)
    texts = [b.text() for b in (w.empty_new_button, w.empty_open_button, w.empty_import_button,
                                w.empty_demo_button)]  # fmt: skip
    assert texts == ["New project…", "Open project…", "Import images…", "New demo project…"]
    monkeypatch.setattr(dialogs, "ask_image_files", lambda _parent: list(pngs))
    monkeypatch.setattr(dialogs, "ask_folder", lambda _parent, _title: str(tmp_path / "fresh"))
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_MS):
        w.empty_import_button.click()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)
    assert w.project is not None and w.project.folder.name == "fresh"
    assert sorted(r.name for r in w.project.images) == ["new_0.png", "new_1.png"]
    w.shutdown()


def test_window_drop_imports_into_the_open_project_not_napari(qtbot, make_window, demo, pngs):
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    assert window.open_project(demo)
    before, layers = len(window.assistant.project.images), len(window.viewer.layers)
    canvas = napari_private.drop_targets(window.viewer)[0]
    with qtbot.waitSignal(window.assistant.runner.finished, timeout=JOB_MS):
        assert drop(canvas, pngs) == (True, True)
    qtbot.waitUntil(lambda: not window.assistant.is_busy, timeout=5000)
    assert len(window.assistant.project.images) == before + 2
    assert len(window.viewer.layers) == layers  # no plain napari layer outside the project
    # a project folder dropped on the window opens
    other = demo.parent / "other"
    shutil.copytree(demo, other)
    (other / ".lock").unlink(missing_ok=True)
    drop(window.assistant, [str(other)])
    assert Path(window.assistant.project.folder).resolve() == other.resolve()


def test_welcome_replaces_napari_and_a_drop_on_it_starts_a_project(
    qtbot, make_window, pngs, tmp_path, monkeypatch
):
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    welcome = window.welcome
    assert welcome.isVisible()
    napari_welcome = getattr(napari_private.qt_viewer(window.viewer), "_welcome_widget", None)
    assert napari_welcome is None or not napari_welcome.isVisible()
    text = welcome.text_label.text()
    for keys in ("Ctrl+N", "Ctrl+O", "Ctrl+I", "Ctrl+Shift+N", "Ctrl+D"):
        assert keys in text
    assert "tour" not in text.lower() and "preferences" not in text.lower()
    assert set(welcome.buttons) == {"new_project", "open_project", "import_images", "demo_project"}
    monkeypatch.setattr(dialogs, "ask_folder", lambda _parent, _title: str(tmp_path / "from-drop"))
    with qtbot.waitSignal(window.assistant.runner.finished, timeout=JOB_MS):
        assert drop(welcome, pngs[:1]) == (True, True)
    qtbot.waitUntil(lambda: not window.assistant.is_busy, timeout=5000)
    assert window.assistant.project.folder.name == "from-drop" and len(window.assistant.project.images) == 1
    assert not welcome.isVisible()  # a project is open: the canvas shows it


def test_last_project_reopens_unless_off_and_a_missing_or_locked_one_is_one_line(
    qtbot, windows, make_napari_viewer, demo, tmp_path
):
    settings = make_settings(tmp_path / "r.ini")
    RecentProjects(settings).add(demo)

    def build() -> MainWindow:
        w = build_window([], settings=settings, viewer=make_napari_viewer(), ask_demo=lambda _d: None)
        w.notify_error = lambda title, msg: pytest.fail(f"error dialog: {title}: {msg}")
        windows.append(w)
        return w

    w = build()
    assert Path(w.assistant.project.folder).resolve() == demo.resolve()
    w.close()
    settings.setValue(KEY_REOPEN_LAST, False)
    w = build()
    assert w.assistant.project is None
    w.close()
    settings.setValue(KEY_REOPEN_LAST, True)
    with Project.open(demo):  # another window holds it
        w = build()
        assert w.assistant.project is None and w.assistant.boxes.open_boxes == []
        message = w.statusBar().currentMessage()
        assert "Could not reopen the last project" in message and "\n" not in message
        w.close()
    shutil.rmtree(demo)
    w = build()
    assert w.assistant.project is None and "no longer there" in w.statusBar().currentMessage()
    w.close()


def test_plugin_imports_drops_only_while_a_project_is_open(qtbot, make_napari_viewer, demo, pngs):
    from napari_qsa._widget import AssistantDock

    viewer = make_napari_viewer()
    dock = AssistantDock(viewer)
    try:
        assert not dock._drop_filter.wants(pngs)  # no project: napari opens files as usual
        assert dock.open_project(demo)
        before, layers = len(dock.project.images), len(viewer.layers)
        with qtbot.waitSignal(dock.runner.finished, timeout=JOB_MS):
            assert drop(napari_private.drop_targets(viewer)[0], pngs) == (True, True)
        qtbot.waitUntil(lambda: not dock.is_busy, timeout=5000)
        assert len(dock.project.images) == before + 2 and len(viewer.layers) == layers
    finally:
        dock.close_dock(ask=False)


def test_the_window_module_starts_without_numpy_or_the_project_store():
    """The splash paints after `qsa_gui.app.main` is imported: nothing heavy may come with it
    (numpy and the store cost ~240 ms there). A fresh interpreter, as at start-up."""
    import os
    import subprocess
    import sys

    from qsa_gui.app import recent
    from qsa_gui.core.project.records import MANIFEST

    assert recent.MANIFEST == MANIFEST
    heavy = ("numpy", "qsa_gui.core.project")
    code = f"import sys, qsa_gui.app.main; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout
