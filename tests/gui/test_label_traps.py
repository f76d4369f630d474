"""The pathologist's walk-through traps, in a real napari viewer (Xvfb): labels must not lie.

Mark done without Accept / after deleting the labels layer, undoing Accept, closing the napari
dock during a job, a foreign layer becoming active, stale job outcomes, numbers without words.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_qsa._widget import AssistantDock  # noqa: E402
from qsa_testkit import TINY_SETTINGS, demo_truth  # noqa: E402

from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui._qt.gallery.model import score_text  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

TINY = TINY_SETTINGS
N_IMAGES, SIZE = 8, 128
JOB_TIMEOUT_MS = 120_000
PLUGIN = "qsa-gui"  # the npe2 manifest name (= the distribution name)


def truth(project: Project, image_id: str) -> np.ndarray:
    return demo_truth(N_IMAGES, SIZE, project.image(image_id).name)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(TINY, autosave_ms=200)


def run(qtbot, w: AssistantWidget, action) -> None:
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_TIMEOUT_MS):
        action()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)


def test_mark_done_on_an_empty_segmented_image_asks_and_offers_accept(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    p, a = w.project, w.current_image_id
    w.show_prediction(truth(p, a))  # a prediction is showing, nothing accepted
    asked: list[bool] = []
    w.ask_mark_done_empty = lambda shown: asked.append(shown) or "keep"
    w.mark_done()
    assert asked == [True] and p.load_labels(a) is None and p.image(a).status == "unlabelled"
    assert "Not marked done" in w.last_message
    w.ask_mark_done_empty = lambda shown: asked.append(shown) or "accept"
    w.mark_done()
    assert p.image(a).status == "labelled"
    np.testing.assert_array_equal(p.load_labels(a), truth(p, a))
    assert "marked done (" in w.last_message and "(0 gland" not in w.last_message
    # an empty image may still be marked done, but only when the user says so
    b = p.unlabelled_ids()[0]
    w.show_image(b)
    w.ask_mark_done_empty = lambda shown: asked.append(shown) or "empty"
    w.mark_done()
    assert asked[-1] is False and p.image(b).status == "labelled" and not p.load_labels(b).any()


def test_mark_done_after_deleting_the_labels_layer_recreates_it(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    p, a = w.project, w.current_image_id
    layer = w.layers.labels
    layer.data_setitem((np.array([5, 6]), np.array([5, 6])), np.array([3, 3]))  # a stroke
    w._flush_labels()  # noqa: SLF001 - autosave at once
    saved = p.load_labels(a).copy()
    w.viewer.layers.remove(layer)
    w.ask_mark_done_empty = lambda shown: pytest.fail("must not ask: nothing is saved from a missing layer")
    w.mark_done()
    assert p.image(a).status == "in_progress" and w.current_image_id == a
    assert w.layers.labels is not None and w.viewer.layers.selection.active is w.layers.labels
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), saved)
    assert w.last_level == "warning" and "deleted" in w.last_message
    w.mark_done()  # the recreated layer is the one saved now
    assert p.image(a).status == "labelled"


def test_undo_accept_brings_the_prediction_back(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    p, a = w.project, w.current_image_id
    pred = truth(p, a)
    w.show_prediction(pred)
    w.accept_prediction()
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), pred)
    assert w.layers.get("prediction") is None and not w.accept_button.isEnabled()
    w.layers.labels.undo()  # Ctrl+Z
    assert not np.asarray(w.layers.labels.data).any()
    assert w.layers.get("prediction") is not None and w.accept_button.isEnabled()
    np.testing.assert_array_equal(np.asarray(w.layers.get("prediction").data), pred)
    qtbot.wait(w.autosave_ms + 300)
    assert p.load_labels(a) is None and p.image(a).status == "unlabelled"  # no label file written
    w.accept_prediction()  # accepted and kept: saved by the next switch
    w.next_image()
    np.testing.assert_array_equal(p.load_labels(a), pred)


def test_foreign_layer_does_not_steal_the_brush(assistant, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    viewer = w.viewer
    viewer.add_image(np.zeros((32, 32), np.uint8), name="sample")
    qtbot.waitUntil(lambda: viewer.layers.selection.active is w.layers.labels, timeout=3000)
    assert list(viewer.layers)[-1] is w.layers.labels
    assert w.last_level == "warning" and "sample" in w.last_message


def test_stale_outcomes_are_reset_and_scores_need_a_model(assistant, demo: Path, tmp_path: Path, qtbot):
    w = assistant
    w.open_project(demo)
    run(qtbot, w, w.suggest)  # nothing labelled: picked for variety, no model scores
    rnd = w.project.latest_round()
    assert rnd.strategy == "diverse"
    recs = {r.id: r for r in w.gallery.model.records}
    assert all(score_text(recs[i]) == "" for i in rnd.image_ids)
    assert {row[1][3] for row in w.session.suggestion_rows()} == {"–"}
    assert "u = uncertainty" in w.suggestion_table.horizontalHeaderItem(3).toolTip()
    assert w.progress_panel.title_label.text().endswith("done") and "Round 1" in w.last_message
    w.export_to(tmp_path / "out")  # a new job: the previous outcome is not shown beside it
    assert w.last_message == "" and not w.message_label.isVisible()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=JOB_TIMEOUT_MS)
    other = write_demo_project(tmp_path / "q", n_images=4, size=64)
    w.open_project(other)
    assert w.progress_panel.title_label.text() == "Idle" and w.progress_panel.bar.value() == 0
    assert w.progress_panel.stage_label.text() == ""


def test_closing_the_napari_dock_during_a_job_cancels_it_and_releases_the_lock(
    make_napari_viewer, demo: Path, qtbot
):
    with Project.open(demo) as p:
        for image_id in p.unlabelled_ids()[:2]:
            p.save_labels(image_id, truth(p, image_id), done=True)
    viewer = make_napari_viewer()
    dock, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Annotation assistant")
    assert isinstance(w, AssistantDock)
    try:
        w.open_project(demo)
        w.settings_override = TINY.updated(iterations=100_000).to_dict()
        w.retrain()
        qtbot.waitUntil(lambda: len(w.loss_values) >= 1, timeout=JOB_TIMEOUT_MS)
        asked: list[int] = []
        w.confirm_cancel_job = lambda: asked.append(1) or False  # "Keep working"
        dock.title.close_button.click()  # napari's x
        assert asked == [1] and w.runner.is_running and dock.widget() is w
        w.confirm_cancel_job = lambda: asked.append(2) or True  # "Cancel job and close"
        dock.title.close_button.click()
        assert asked == [1, 2] and not w.runner.is_running and w.project is None
        with Project.open(demo) as again:  # napari's process no longer holds the lock
            assert again.current_model is None
    finally:
        w.shutdown()
