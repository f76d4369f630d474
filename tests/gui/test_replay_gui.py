"""The History tab's replay: a real worker process answers "would suggestions have saved labels
here?" on the project's own labels, in words, with the curves on request (napari under Xvfb)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS, demo_truth

from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

N_IMAGES, SIZE = 8, 96
JOB_TIMEOUT_MS = 180_000
FAST = TINY_SETTINGS.updated(iterations=3, ensemble_iterations=2, finetune_iterations=2, inq_iterations=1)


def _demo(tmp_path: Path, n_labelled: int) -> Path:
    path = write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)
    with Project.open(path) as p:
        for image_id in p.unlabelled_ids()[:n_labelled]:
            p.save_labels(image_id, demo_truth(N_IMAGES, SIZE, p.image(image_id).name), done=True)
    return path


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(FAST)


def test_replay_answers_in_words_and_shows_the_curves(assistant: AssistantWidget, tmp_path: Path, qtbot):
    w = assistant
    assert w.open_project(_demo(tmp_path, N_IMAGES))
    before = (Path(w.project.folder) / "project.json").read_bytes()
    w.tabs.setCurrentWidget(w.history_page)
    row = w.replay
    assert row.answer.isHidden() and not row.curves.isEnabled()
    row.repeats.setValue(2)
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_TIMEOUT_MS):
        row.button.click()
        assert w.runner.is_running and w.runner.job_name == "Replay"
    qtbot.waitUntil(lambda: row.result is not None, timeout=5000)
    text = row.answer.text()
    assert text.startswith(f"On your {N_IMAGES} labelled images") and "of 2 repeats" in text
    assert not row.answer.isHidden() and "qsa − random" in row.answer.toolTip()  # the numbers
    assert sorted({r["seed"] for r in row.result.rows}) == [0, 1]
    # it only read the project
    assert (Path(w.project.folder) / "project.json").read_bytes() == before
    row.curves.click()
    qtbot.waitUntil(lambda: row.dialog is not None and row.dialog.isVisible(), timeout=5000)
    axes = row.dialog.figure.axes
    assert len(axes) == 2 and axes[0].lines and axes[1].lines  # curves and paired difference
    # another project: the old answer goes
    w.open_project(_demo(tmp_path / "other", 2))
    assert row.answer.isHidden() and not row.curves.isEnabled() and not row.dialog.isVisible()


def test_replay_with_too_few_labels_says_so_and_starts_nothing(assistant: AssistantWidget, tmp_path: Path):
    """2 labelled pool images and the demo's 2 labelled test images: too few."""
    w = assistant
    assert w.open_project(_demo(tmp_path, 2))
    w.replay.button.click()
    assert not w.runner.is_running
    assert "needs at least 6 labelled images" in w.replay.answer.text() and "has 4" in w.replay.answer.text()
