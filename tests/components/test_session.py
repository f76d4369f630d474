"""The Qt-free session: navigation, autosave and texts, driven without any GUI toolkit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import small_image_project

from qsa_gui.components.events import EventEmitter
from qsa_gui.components.outcomes import import_cancelled, import_outcome
from qsa_gui.components.records import display_record, history_rows
from qsa_gui.components.session import Session
from qsa_gui.core.errors import ProjectError
from qsa_gui.core.project.store import STATUS_IN_PROGRESS, STATUS_LABELLED, ImportReport, Project


@pytest.fixture
def project(tmp_path: Path):
    p = small_image_project(tmp_path, 4, seed=3)
    yield p
    p.close()


class Canvas:
    """Stands in for napari's labels layer: the session reads what is being painted from it."""

    def __init__(self) -> None:
        self.labels: np.ndarray | None = None

    def show(self, view) -> None:
        self.labels = None if view is None else view.labels.copy()


def _session(project: Project) -> tuple[Session, Canvas, list]:
    s, canvas, seen = Session(), Canvas(), []
    s.labels_source = lambda: canvas.labels
    for name in ("project_changed", "records_changed", "message", "status"):
        getattr(s, name).connect(lambda *a, n=name: seen.append((n, *a)))
    s.set_project(project)
    return s, canvas, seen


def test_session_module_imports_without_qt() -> None:
    code = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'qtpy', 'napari', 'PyQt5', 'PyQt6'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "import qsa_gui.components.session, qsa_gui.components.outcomes, qsa_gui.components.records\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_navigation_wraps_and_follows_the_given_order(project: Project) -> None:
    s, canvas, seen = _session(project)
    ids = [r.id for r in project.images]
    assert seen[-1] == ("project_changed", project) and ("records_changed", None) in seen
    first = s.initial_image()
    assert first == ids[0]  # nothing in progress, no suggestions: the first unlabelled image
    canvas.show(s.load_view(first))
    assert s.current_image_id == first and canvas.labels.shape == project.image(first).shape
    assert s.step_target([], +1) == ids[1]
    assert s.step_target([], -1) == ids[-1]  # wraps around
    order = [ids[2], ids[0], ids[3]]  # the gallery's visible (filtered, sorted) order
    assert s.step_target(order, +1) == ids[3]
    assert s.step_target(order, -1) == ids[2]
    assert s.step_target([ids[1]], -1) == ids[1]  # current not visible: the last visible one
    assert s.load_view("no-such-image") is None and s.last_level == "error"
    assert s.current_image_id == first  # a failed load keeps the current image


def test_autosave_writes_only_changed_labels_and_retries_after_a_failure(project, monkeypatch) -> None:
    s, canvas, seen = _session(project)
    a = s.initial_image()
    canvas.show(s.load_view(a))
    assert not s.flush()  # nothing painted: nothing written
    assert s.labels_edited() == s.autosave_ms and s.dirty
    assert not s.flush()  # "edited" to the same pixels: still nothing to write
    canvas.labels[2:6, 3:9] = 7
    s.labels_edited()
    real = project.save_labels

    def full_disk(*args, **kwargs):
        raise ProjectError("labels/x.tif: no space left on device (simulated)")

    monkeypatch.setattr(project, "save_labels", full_disk)
    assert not s.flush() and s.dirty and "Could not save" in s.last_message
    monkeypatch.setattr(project, "save_labels", real)
    b = [i for i in project.unlabelled_ids() if i != a][0]
    canvas.show(s.load_view(b))  # switching images flushes the strokes first
    assert (project.load_labels(a) == 7).any() and project.image(a).status == STATUS_IN_PROGRESS
    assert ("records_changed", a) in seen and not s.dirty
    assert s.initial_image() == a  # reopening goes back to the image in progress


def test_mark_done_texts_and_counts(project: Project) -> None:
    s, canvas, _ = _session(project)
    canvas.show(s.load_view(s.initial_image()))
    assert s.counts_text() == "0 / 4 labelled"
    header = s.header()
    assert header.name == "Glands" and header.counts == "0 / 4 labelled"
    assert header.detail == "No segmentation model yet"
    canvas.labels[1:5, 1:5], canvas.labels[10:14, 10:20] = 1, 2
    saved, nxt = s.mark_done()
    assert saved and nxt is None  # no suggestion round yet
    assert s.last_message.startswith(f"{project.images[0].name} marked done (2 gland(s)); 1 / 4 labelled.")
    assert "No suggested image left" in s.last_message
    assert project.images[0].status == STATUS_LABELLED
    assert "● labelled" in s.image_text({"labelled": "#0f0"}, "#f0f")
    assert s.round_text() == "No suggestions yet: press Suggest." and s.suggestion_rows() == []
    assert s.suggest_button_text() == "Suggest"
    assert s.has_image and not s.has_model and s.labelled() == [project.images[0].id]


def test_heat_cache_is_bounded_and_keyed_by_source(project: Project) -> None:
    s, canvas, _ = _session(project)
    canvas.show(s.load_view(s.initial_image()))
    assert s.heat_source() is None and not s.has_heatmap
    assert s.cached_heat() is None  # no round, no model: nothing to show
    for k in range(12):
        s.store_heat(f"i{k}", "model:seg-v0001", np.zeros((2, 2), np.float32))
    assert len(s.heat_cache) == 8 and ("i0", "model:seg-v0001") not in s.heat_cache
    s.store_heat(s.current_image_id, "disagreement:ens-1", np.ones((2, 2), np.float32))
    assert s.cached_heat("disagreement:ens-1").sum() == 4 and s.cached_heat("model:seg-v0002") is None


def test_close_forgets_everything(project: Project) -> None:
    s, canvas, seen = _session(project)
    canvas.show(s.load_view(s.initial_image()))
    assert s.take_project() is project
    assert s.project is None and s.current_image_id is None and s.header().name == "No project open"
    assert s.display_records() == [] and s.step_target([], 1) is None


def test_event_emitter_connect_disconnect_and_a_failing_callback() -> None:
    e, got = EventEmitter("x"), []

    def boom(*_a):
        raise RuntimeError("broken view")

    e.connect(boom)
    e.connect(got.append)
    e.connect(got.append)  # once only
    e.emit(1)
    assert got == [1] and len(e) == 2
    e.disconnect(got.append)
    e.emit(2)
    assert got == [1]


def test_outcome_texts_of_import() -> None:
    report = ImportReport(added=["a"], skipped=[("/x/broken.png", "not an image")])
    text, level, details = import_outcome(report)
    assert text == "Imported 1 image(s). Skipped 1: broken.png (not an image)" and level == "warning"
    assert details == "/x/broken.png: not an image"
    assert "3 of 5 image(s) were imported before the cancel" in import_cancelled(3, 5)[0]
    assert "nothing was changed" in import_cancelled(0, 5)[0]


def test_display_record_ranks_and_history_rows(project: Project) -> None:
    rec = project.images[0]
    assert display_record(rec, {rec.id: 1}).suggestion == {"rank": 1}
    assert display_record(rec, {}).suggestion is None
    rows = history_rows([{"round": 2, "models": [{"version": "v1"}, {"version": "v2"}]}])
    assert [(r["version"], r["round"]) for r in rows] == [("v1", 2), ("v2", 2)]
