"""Qt-free rules that keep labels honest: Mark done checks, undoing Accept, plain-word texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qsa_testkit import small_image_project

from qsa_gui.components import guards
from qsa_gui.components.outcomes import retrain_outcome, validation_text
from qsa_gui.components.records import quality_word, suggestion_scores
from qsa_gui.components.session import Session
from qsa_gui.core.project.records import ModelVersion
from qsa_gui.core.project.store import Project
from qsa_gui.core.workflow.results import RetrainResult


@pytest.fixture
def project(tmp_path: Path):
    p = small_image_project(tmp_path, 3, seed=5)
    yield p
    p.close()


def test_done_check_and_gland_count() -> None:
    assert guards.done_check(None) == guards.DONE_NO_LAYER
    assert guards.done_check(np.zeros((4, 4), np.int32)) == guards.DONE_EMPTY
    labels = np.zeros((4, 4), np.int32)
    labels[0, 0], labels[3, 3] = 2, 5
    assert guards.done_check(labels) == guards.DONE_OK and guards.count_glands(labels) == 2


def test_mark_done_never_saves_from_a_missing_layer(project: Project) -> None:
    s = Session()
    s.set_project(project)
    view = s.load_view(project.images[0].id)
    assert view is not None
    s.labels_source = lambda: None  # the labels layer was deleted
    saved, _ = s.mark_done()
    assert not saved and project.load_labels(view.image_id) is None
    assert project.image(view.image_id).status == "unlabelled" and s.last_level == "warning"


def test_accept_memo_gives_the_prediction_back_only_for_the_pre_accept_state(project: Project) -> None:
    s = Session()
    s.set_project(project)
    image_id = project.images[0].id
    view = s.load_view(image_id)
    canvas = {"labels": view.labels.copy()}
    s.labels_source = lambda: canvas["labels"]
    prediction = np.zeros_like(view.labels)
    prediction[2:6, 2:6] = 1
    s.accept.remember(image_id, prediction, canvas["labels"])
    canvas["labels"] = prediction.copy()  # accepted
    assert s.accept_undone() is None and s.accept.pending
    canvas["labels"] = view.labels.copy()  # Ctrl+Z
    back = s.accept_undone()
    np.testing.assert_array_equal(back, prediction)
    assert not s.accept.pending and s.prediction_shown
    s.dirty = True
    assert not s.flush() and project.load_labels(image_id) is None  # nothing written for the undo


def test_begin_job_and_project_switch_clear_the_last_outcome(project: Project) -> None:
    s = Session()
    s.set_project(project)
    seen = []
    s.message.connect(lambda text, level: seen.append(text))
    s.report("Suggest cancelled: nothing was changed.", "warning")
    s.begin_job("Retrain")
    assert s.last_message == "" and seen[-1] == ""
    s.report("old outcome")
    s.take_project()
    assert s.last_message == ""


def test_scores_of_a_model_free_round_are_not_shown() -> None:
    assert suggestion_scores({"strategy": "diverse", "uncertainty": 0.0, "representativeness": 0.0}) == {}
    assert suggestion_scores({"strategy": "qsa", "uncertainty": 0.2, "representativeness": None}) == {
        "uncertainty": 0.2
    }


def _result(f1: float | None, previous: float | None, accepted: bool = True) -> RetrainResult:
    metrics = {} if f1 is None else {"object_f1": f1, "pixel_dice": 0.6}
    parent = None if previous is None else "seg-v0001"
    version = ModelVersion("seg-v0002", "models/seg-v0002", n_labelled=3, metrics=metrics,
                           accepted=accepted, parent=parent)  # fmt: skip
    return RetrainResult(version, None if previous is None else {"object_f1": previous, "pixel_dice": 0.5})


def test_model_quality_in_words() -> None:
    assert [quality_word(x) for x in (0.9, 0.7, 0.69, 0.5, 0.18, None)] == [
        "good", "good", "fair", "fair", "poor", None,
    ]  # fmt: skip
    text, level = retrain_outcome(_result(0.18, 0.10))
    assert "accepted" not in text and "kept (better than the previous one)" in text
    assert "quality poor" in text and level == "warning"  # never a green success
    text, level = retrain_outcome(_result(0.8, None))
    assert "kept (the first model)" in text and "quality good" in text and level == "info"
    assert "too few labelled images" in retrain_outcome(_result(None, None))[0]
    assert "kept (better than the previous one)" in validation_text(_result(0.18, 0.10))
    assert "quality <b>poor</b>" in validation_text(_result(0.18, 0.10))
