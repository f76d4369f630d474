"""Laptop screens, image switches and start-up: the window fits 1280x720, a switch never
removes a napari layer (napari's gc.collect froze the window 0.9-2.1 s), the view is re-fitted
on resize and the GUI starts without torch.

The real gap target (< 50 ms per switch) is held by ``benchmarks/bench_gui_responsiveness.py
--case switch``; here the bound is generous for a shared CI machine under Xvfb.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qtpy.QtCore import QSize  # noqa: E402

from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui.core.data.images import write_image  # noqa: E402
from qsa_gui.core.data.synth import generate_sample  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: 1280x720 less a title bar and a desktop panel; 1366x768 likewise.
SCREENS = {"1280x720": QSize(1280, 720 - 70), "1366x768": QSize(1366, 768 - 70)}
SIZES = ((96, 96), (160, 128), (72, 200))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A project of three image sizes (switching always changes the size)."""
    paths = []
    for i, (h, w) in enumerate(SIZES):
        paths.append(tmp_path / f"img{i}.png")
        write_image(paths[-1], generate_sample(i, size=(h, w)).image)
    with Project.create(tmp_path / "mixed", name="mixed") as project:
        project.import_images(paths)
    return tmp_path / "mixed"


@pytest.fixture
def assistant(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    w = AssistantWidget(viewer, warm_up=False)
    viewer.window.add_dock_widget(w, name="Annotation assistant", area="right")
    w.autosave_ms = 200
    yield w
    w.shutdown()


def _fits(hint: QSize, screen: QSize) -> bool:
    return hint.width() <= screen.width() and hint.height() <= screen.height()


def test_desktop_window_fits_laptop_screens_and_the_canvas_gets_most_of_the_width(
    qtbot, make_napari_viewer, tmp_path
):
    from qsa_gui.app.recent import make_settings
    from qsa_gui.app.window import MainWindow

    window = MainWindow(
        settings=make_settings(str(tmp_path / "s.ini")),
        viewer=make_napari_viewer(),
        assistant_factory=lambda v: AssistantWidget(v, shortcuts=False, warm_up=False),
        confirm_close=lambda _name: True,
    )
    window.show()
    for name, screen in SCREENS.items():
        assert _fits(window.minimumSizeHint(), screen), (name, window.minimumSizeHint())
    for width, height in ((1024, 650), (1280, 650), (1366, 698)):
        window.resize(width, height)
        qtbot.waitUntil(lambda w=width: window.centralWidget().width() >= 0.5 * w - 8, timeout=3000)
        assert window.height() == height  # not held taller by a minimum height
    assert window.tools_dock.widget().widget() is window.qt_viewer.controls
    window.close()
    window.deleteLater()
    qtbot.wait(10)
    gc.collect()  # the window/viewer cycles, before napari's QtViewer leak check


def test_napari_dock_fits_laptop_screens(assistant):
    for name, screen in SCREENS.items():
        assert _fits(assistant.minimumSizeHint(), screen), name
        assert _fits(assistant.viewer.window._qt_window.minimumSizeHint(), screen), name
    assert assistant.sizeHint().width() <= 360  # a dock's width, not its widest table's
    # sections fold to their title line (a short dock may have folded the tabs by itself)
    section = assistant.tabs_section
    if section.expanded:
        section.button.click()
    section.button.click()  # the user opens it: from now on the choice is theirs
    assert section.expanded and assistant.fold_when_tight.user_chose
    full = section.sizeHint().height()
    section.button.click()
    assert not section.expanded and not assistant.tabs.isVisibleTo(section)
    assert section.maximumHeight() < full
    section.button.click()
    assert section.expanded and assistant.tabs.isVisibleTo(section)


def test_the_panel_fits_its_height_by_shrinking_the_gallery_not_by_scrolling(assistant, mixed, qtbot):
    """A word-wrapped message line once made the panel height-for-width: the scroll area then
    kept it at its preferred height (1130 px in a 900 px window) and scrolled instead of
    shrinking the gallery; with the tabs open everything now fits 900 px without a scroll bar."""
    assistant.open_project(mixed)
    assistant.session.say("a message long enough to wrap over several lines in the panel's message line " * 3)
    section = assistant.tabs_section
    if not section.expanded:
        section.button.click()
    assistant.viewer.window._qt_window.resize(1400, 900)
    bar = assistant.scroll_area.verticalScrollBar()
    content = assistant.scroll_area.widget()
    qtbot.waitUntil(lambda: content.height() == assistant.scroll_area.viewport().height(), timeout=3000)
    assert bar.maximum() == 0 and section.expanded
    assert content.sizeHint().height() > content.height()  # shrunk below its preferred height
    assert not content.layout().hasHeightForWidth()


def test_a_short_window_folds_the_tabs_before_the_gallery_loses_its_row(assistant, mixed, qtbot):
    """On a 1280x720 screen the folded tabs alone left the gallery 129 px, and a tile (thumbnail,
    name, status) is about 190: the Model section (Suggest, Retrain: once a session) folds next,
    never Annotate, and the thumbnails shrink as far as still needed to keep a whole row."""
    from qsa_gui._qt.gallery.widget import MIN_THUMBNAIL

    gallery = assistant.gallery
    assistant.open_project(mixed)
    assistant.viewer.window._qt_window.resize(1400, 1000)
    qtbot.waitUntil(lambda: gallery.isVisible() and not gallery.shrunk, timeout=3000)  # room: full size
    assistant.viewer.window._qt_window.resize(SCREENS["1280x720"])
    tabs, model = assistant.tabs_section, assistant.model_section
    qtbot.waitUntil(lambda: not tabs.expanded and not model.expanded, timeout=3000)  # for the user
    assert not assistant.fold_when_tight.user_chose and assistant.annotate_section.expanded
    qtbot.wait(300)  # the layout settles (a height read mid-resize proves nothing)
    assert gallery.row_fits()  # a whole row of tiles: each image's status in view
    assert MIN_THUMBNAIL <= gallery.delegate.thumbnail_size <= gallery.full_thumbnail_size
    assert assistant.scroll_area.verticalScrollBar().maximum() == 0  # and nothing scrolls
    model.button.click()  # the user opens Model again: theirs now, never folded for them
    qtbot.wait(300)
    assert model.expanded  # (the tiles shrink further, down to their minimum; below that it scrolls)
    assistant.viewer.window._qt_window.resize(1400, 1000)
    qtbot.waitUntil(lambda: not gallery.shrunk, timeout=3000)  # and grow back with the room


def test_switching_between_sizes_reuses_layers_and_keeps_strokes(assistant, mixed, qtbot):
    w = assistant
    assert w.open_project(mixed)
    ids = [r.id for r in w.project.images]
    removed: list[str] = []
    w.viewer.layers.events.removed.connect(lambda e: removed.append(e.value.name))
    first = {role: w.layers.get(role) for role in ("image", "labels")}
    w.show_image(ids[0])
    layer = w.layers.labels
    layer.paint((10, 10), 5)  # an undoable stroke on image 0
    assert layer._undo_history
    # the gap per switch is a speed goal: measured in benchmarks/bench_gui_responsiveness.py
    # --case switch, not asserted here (a loaded CI machine made it flaky); what makes it fast
    # is asserted: layers updated in place, never removed (napari's gc.collect never runs)
    for image_id in ids[1:] + ids[:1]:
        w.show_image(image_id)
        qtbot.wait(50)
        h, wd = w.project.image(image_id).shape
        assert w.layers.get("image").data.shape == (h, wd, 3)
        assert w.layers.labels.data.shape == (h, wd)
        assert not w.layers.labels._undo_history  # undo never crosses images
    assert removed == []  # in place: napari's gc.collect never ran
    assert all(w.layers.get(role) is layer for role, layer in first.items())
    assert w.project.load_labels(ids[0])[10, 10] == 5  # the stroke was saved on the first switch
    qtbot.waitUntil(lambda: w.session.pixels.cached_ids != [], timeout=5000)  # neighbours prefetched
    hits = w.session.pixels.hits
    w.session.pixels.wait_idle(5.0)
    w.next_image()
    assert w.session.pixels.hits == hits + 1


def test_a_missing_prediction_parks_its_layer_and_the_view_refits_on_resize(assistant, mixed, qtbot):
    w = assistant
    assert w.open_project(mixed)
    ids = [r.id for r in w.project.images]
    pred = np.zeros(w.project.image(ids[1]).shape, np.int32)
    pred[5:30, 5:30] = 1
    w.project.save_prediction(ids[1], pred, "seg-v0001")
    w.show_image(ids[1])
    shown = w.layers.get("prediction")
    np.testing.assert_array_equal(shown.data, pred)
    w.show_image(ids[2])  # no prediction there
    assert w.layers.get("prediction") is None and not w.accept_button.isEnabled()
    assert shown in list(w.viewer.layers) and not shown.visible  # parked, not removed
    w.show_image(ids[1])
    assert w.layers.get("prediction") is shown and shown.visible  # reused, not re-created
    np.testing.assert_array_equal(shown.data, pred)
    w.accept_prediction()  # an explicit action does remove it
    assert "prediction" not in [layer.name for layer in w.viewer.layers]

    fitter = w.view_fitter
    qtbot.wait(200)
    fits = fitter.fits
    window = w.viewer.window._qt_window
    window.resize(window.width() - 200, window.height() - 100)
    qtbot.waitUntil(lambda: fitter.fits > fits, timeout=3000)
    w.viewer.camera.zoom = w.viewer.camera.zoom * 2.5  # the user zooms in: that view stays
    fits = fitter.fits
    window.resize(window.width() + 150, window.height())
    qtbot.wait(300)
    assert fitter.fits == fits


def test_the_gui_starts_without_importing_torch(tmp_path):
    code = (
        "import sys\n"
        "from qsa_gui.app.main import ensure_app\n"
        "app = ensure_app()\n"
        "from qsa_gui._qt.assistant import AssistantWidget\n"
        "from qsa_gui.core.workflow.demo_project import write_demo_project\n"
        f"path = write_demo_project({str(tmp_path / 'demo')!r}, n_images=4, size=64)\n"
        "w = AssistantWidget(None, warm_up=False)\n"
        "assert w.open_project(path) and w.current_image_id is not None\n"
        "w.next_image(); w.shutdown()\n"
        "print('torch' in sys.modules)\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "OMP_NUM_THREADS": "1"}
    import os

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env={**os.environ, **env}
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_splash_shows_progress(qtbot):
    from qsa_gui.app.splash import show_splash

    splash = show_splash()
    qtbot.addWidget(splash)
    splash.step("Loading napari…")
    assert splash.isVisible() and splash.message() == "Loading napari…"
    assert splash.steps == ["Starting…", "Loading napari…"]
    shot = splash.grab().toImage()
    background = shot.pixelColor(2, 2)
    assert background.name() == "#262930"
    grid = [(x, y) for x in range(0, shot.width(), 7) for y in range(0, shot.height(), 7)]
    painted = {shot.pixelColor(x, y).name() for x, y in grid}
    assert len(painted) > 5  # icon, name and the progress line drawn over the background
    splash.close()
