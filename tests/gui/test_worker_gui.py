"""The panel's jobs in a worker process: a killed worker, a cancel, a retrain that updates the GUI.

Real napari viewer (Xvfb), real spawned worker, real ``os.kill(pid, SIGKILL)``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS, demo_truth

from qsa_gui._qt.actions import ACTIONS  # noqa: E402
from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.worker import shared_pool  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

N_IMAGES, SIZE = 8, 128
LONG = TINY_SETTINGS.updated(iterations=100_000)  # never ends on its own within a test
JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    path = write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)
    with Project.open(path) as p:
        for image_id in p.unlabelled_ids()[:3]:
            p.save_labels(image_id, demo_truth(N_IMAGES, SIZE, p.image(image_id).name), done=True)
    return path


@pytest.fixture
def assistant(make_assistant, qtbot):
    w = make_assistant(autosave_ms=600_000)  # strokes painted during the job stay unsaved
    assert w.runner.process_jobs, "the shipped default runs Suggest / Retrain / Segment in a worker"
    return w


def disk_state(folder: Path) -> dict[str, bytes]:
    """project.json, every label file, prediction and model file, by path (scores are a cache)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and rel.parts[0] != "scores" and rel.name != ".lock":
            out[rel.as_posix()] = path.read_bytes()
    return out


def start_long_retrain(qtbot, w: AssistantWidget) -> None:
    w.settings_override = LONG.to_dict()
    w.retrain()
    qtbot.waitUntil(
        lambda: w.runner.last_progress is not None and "train" in w.runner.last_progress.stage,
        timeout=JOB_TIMEOUT_MS,
    )


def paint(w: AssistantWidget, value: int) -> np.ndarray:
    layer = w.layers.labels
    ys, xs = np.mgrid[10:30, 10:40]
    layer.data_setitem((ys.ravel(), xs.ravel()), value)
    return np.array(layer.data, copy=True)


def test_sigkill_mid_retrain_keeps_the_gui_the_project_and_the_strokes(assistant, demo: Path, qtbot):
    w = assistant
    assert w.open_project(demo)
    w.show_image(w.project.unlabelled_ids()[0])
    start_long_retrain(qtbot, w)
    before = disk_state(demo)
    strokes = paint(w, 9)  # painted while the job runs: not saved yet
    assert w.session.dirty
    (pid,) = shared_pool().active_pids()
    with qtbot.waitSignal(w.runner.failed, timeout=10_000) as blocker:
        os.kill(pid, signal.SIGKILL)
    message = blocker.args[0]
    assert "SIGKILL" in message and "\n" not in message
    assert w.last_level == "error" and "SIGKILL" in w.last_message
    assert disk_state(demo) == before  # manifest, labels, models: byte for byte
    assert not [p.name for p in (demo / "predictions").glob(".*")] + [
        p.name for p in (demo / "models").glob(".*")
    ]
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), strokes)
    assert w.session.dirty and w.project is not None and w.project.current_model is None
    assert not w.is_busy and ACTIONS["retrain"].enabled(w.session)

    # still usable: the next Retrain (a fresh worker) commits and the GUI shows it
    w.settings_override = TINY_SETTINGS.to_dict()
    with qtbot.waitSignal(w.runner.finished, timeout=JOB_TIMEOUT_MS) as done:
        w.retrain()
    qtbot.waitUntil(lambda: not w.is_busy, timeout=5000)
    version = done.args[0].version.version
    assert w.project.current_model == version and w.session.header().has_project
    assert version in w.last_message
    assert ACTIONS["segment_current"].enabled(w.session)
    with Project.open(demo, read_only=True) as on_disk:
        assert on_disk.current_model == version
        np.testing.assert_array_equal(on_disk.load_labels(w.current_image_id), strokes)  # flushed at start


def test_cancel_in_the_worker_takes_effect_within_a_second(assistant, demo: Path, qtbot):
    w = assistant
    assert w.open_project(demo)
    start_long_retrain(qtbot, w)
    before = disk_state(demo)
    t0 = time.monotonic()
    with qtbot.waitSignal(w.runner.cancelled, timeout=1000):
        w.cancel_job()
    assert time.monotonic() - t0 < 1.0
    assert disk_state(demo) == before and w.project.current_model is None
    assert "cancelled" in w.last_message.lower()
    assert not w.is_busy and ACTIONS["retrain"].enabled(w.session)
