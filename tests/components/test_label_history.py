"""Label history without Qt: rows in words, and restoring never loses unsaved strokes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import small_image_project

from qsa_gui.components.label_history import restore_version, version_rows
from qsa_gui.components.session import Session
from qsa_gui.core.project.store import STATUS_IN_PROGRESS, STATUS_LABELLED


@pytest.fixture
def project(tmp_path: Path):
    p = small_image_project(tmp_path, 2, seed=5)
    yield p
    p.close()


def _labels(shape: tuple[int, int], n: int) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for k in range(n):
        out[2 + 3 * k : 4 + 3 * k, 2:6] = k + 1
    return out


def test_rows_newest_first_in_words(project) -> None:
    a = project.unlabelled_ids()[0]
    shape = project.image(a).shape
    project.save_labels(a, _labels(shape, 1), done=True, user="ana")
    project.save_labels(a, _labels(shape, 3), done=True, user="ben")
    project.restore_labels(a, 1, user="ana")
    rows = version_rows(project, a)
    assert [r.version for r in rows] == [3, 2, 1]
    assert rows[0].current and rows[0].note == "current, restored from version 1"
    assert [r.glands for r in rows] == [1, 3, 1] and [r.who for r in rows] == ["ana", "ben", "ana"]
    assert all(r.finished and r.state == "finished" for r in rows)
    assert len(rows[0].when) == 16 and rows[0].when[4] == "-"


def test_restore_saves_unsaved_strokes_first_then_restores(project) -> None:
    a = project.unlabelled_ids()[0]
    shape = project.image(a).shape
    first, second = _labels(shape, 1), _labels(shape, 2)
    project.save_labels(a, first, done=True)
    project.save_labels(a, second, done=True)
    s = Session()
    canvas = {"labels": None}
    s.labels_source = lambda: canvas["labels"]
    s.set_project(project)
    view = s.load_view(a)
    canvas["labels"] = view.labels
    painted = second.copy()
    painted[10:14, 10:14] = 7  # strokes not autosaved yet
    canvas["labels"] = painted
    s.labels_edited()
    shown = restore_version(s, 1)
    np.testing.assert_array_equal(shown, first)
    np.testing.assert_array_equal(project.load_labels(a), first)
    versions = project.label_versions(a)
    # 1, 2 finished; 3 = the unsaved strokes (a draft); 4 = the restored copy of 1
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    np.testing.assert_array_equal(project.load_label_version(a, 3), painted)
    assert versions[-1]["restored_from"] == 1 and project.image(a).status == STATUS_LABELLED
    assert not s.dirty and np.array_equal(s.saved_labels, first)
    # restoring the strokes' draft brings them back, as an in-progress image
    np.testing.assert_array_equal(restore_version(s, 3), painted)
    assert project.image(a).status == STATUS_IN_PROGRESS


def test_restore_of_a_missing_version_reports_and_changes_nothing(project) -> None:
    a = project.unlabelled_ids()[0]
    project.save_labels(a, _labels(project.image(a).shape, 1), done=True)
    s = Session()
    messages: list = []
    s.message.connect(lambda text, level: messages.append((level, text)))
    s.set_project(project)
    s.load_view(a)
    before = project.label_versions(a)
    assert restore_version(s, 9) is None
    assert project.label_versions(a) == before
    assert messages[-1][0] == "error" and "version 9" in messages[-1][1]
