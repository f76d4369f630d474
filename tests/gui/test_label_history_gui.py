"""Labels never lost in the GUI: relabel, then bring an earlier version back; two windows (and a
second process) on a project whose lock a dead process left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from qsa_testkit import TINY_SETTINGS, demo_truth  # noqa: E402

from qsa_gui._qt.assistant import AssistantWidget  # noqa: E402
from qsa_gui._qt.assistant.label_history import LabelHistoryDialog  # noqa: E402
from qsa_gui.core.project.store import Project  # noqa: E402
from qsa_gui.core.workflow.demo_project import write_demo_project  # noqa: E402

N_IMAGES, SIZE = 6, 96
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo_project(tmp_path / "p", n_images=N_IMAGES, size=SIZE)


@pytest.fixture
def assistant(make_assistant, qtbot):
    return make_assistant(TINY_SETTINGS, autosave_ms=100)


def paint(w: AssistantWidget, value: int, box: tuple[slice, slice]) -> None:
    """A brush stroke through napari's own undoable path (as painting does)."""
    layer = w.layers.labels
    mask = np.zeros(layer.data.shape, bool)
    mask[box] = True
    layer.data_setitem(np.nonzero(mask), value)


def test_relabel_then_restore_the_earlier_labels(assistant: AssistantWidget, demo: Path, qtbot):
    w = assistant
    w.open_project(demo)
    p, a = w.project, w.current_image_id
    assert not w.label_history_action.isEnabled()  # nothing saved yet: no history
    first = demo_truth(N_IMAGES, SIZE, p.image(a).name)
    w.layers.labels.data_setitem(np.nonzero(first), first[np.nonzero(first)])
    w.ask_mark_done_empty = lambda shown: "empty"
    w.mark_done()  # version 1, moves on
    w.show_image(a)
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), first)
    paint(w, 0, (slice(None), slice(None)))  # the pathologist relabels from scratch...
    paint(w, 1, (slice(10, 40), slice(10, 40)))
    w.mark_done()  # version 2 replaces version 1 as the current labels
    w.show_image(a)
    assert [v["version"] for v in p.label_versions(a)] == [1, 2]
    paint(w, 2, (slice(50, 60), slice(50, 60)))  # ...and paints a stroke not saved yet
    unsaved = np.asarray(w.layers.labels.data).copy()
    assert w.label_history_action.isEnabled()
    w.trigger("label_history")
    dialog = w.label_history_dialog
    assert isinstance(dialog, LabelHistoryDialog) and dialog.isVisible()
    assert dialog.table.item(0, 5).text() == "current"
    dialog.select_version(1)
    assert dialog.restore_button.isEnabled()
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), first)
    np.testing.assert_array_equal(p.load_labels(a), first)
    versions = p.label_versions(a)
    assert versions[-1]["restored_from"] == 1 and p.image(a).status == "labelled"
    np.testing.assert_array_equal(p.load_label_version(a, 3), unsaved)  # nothing lost
    assert "restored from version 1" in w.last_message
    qtbot.wait(w.autosave_ms + 200)  # showing restored labels is not a stroke: no new save
    assert len(p.label_versions(a)) == len(versions)
    # a restore can itself be undone: the replaced labels are still in the history
    w.ask_label_history().select_version(3)
    w.label_history_dialog.restore_button.click()
    np.testing.assert_array_equal(np.asarray(w.layers.labels.data), unsaved)
    np.testing.assert_array_equal(Project.open(demo, read_only=True).load_labels(a), unsaved)


def _stale_lock(folder: Path) -> None:
    """The record a killed process leaves: its pid is dead, nothing holds the flock."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (folder / ".lock").write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "time": "old"}))


def test_two_windows_on_a_stale_lock_one_wins_one_is_told(demo: Path, qtbot):
    _stale_lock(demo)
    first, second = AssistantWidget(None), AssistantWidget(None)
    errors: list[tuple[str, str]] = []
    second._error_box = lambda title, text: errors.append((title, text))
    try:
        assert first.open_project(demo)
        assert not second.open_project(demo)
        assert second.project is None and errors and errors[0][0] == "Cannot open project"
        assert "another window" in errors[0][1] or "open" in errors[0][1]
        a = first.project.unlabelled_ids()[0]
        first.project.save_labels(a, np.ones(first.project.image(a).shape, np.int32), done=True)
        assert first.close_project()
        assert second.open_project(demo)  # the lock is free again once the first window closes
        assert second.project.image(a).status == "labelled"
    finally:
        first.shutdown()
        second.shutdown()


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from qtpy.QtWidgets import QApplication
    app = QApplication([])
    from qsa_gui._qt.assistant import AssistantWidget
    w = AssistantWidget(None)
    w._error_box = lambda title, text: print("ERROR", text, flush=True)
    go, done = Path(sys.argv[2]), Path(sys.argv[3])
    print("READY", flush=True)
    while not go.exists():
        pass
    ok = w.open_project(sys.argv[1])
    print("OPENED" if ok else "REFUSED", flush=True)
    if ok:
        image = w.project.unlabelled_ids()[0]
        import numpy as np
        w.project.save_labels(image, np.full(w.project.image(image).shape, 2, np.int32), done=True)
        print("SAVED", image, flush=True)
        deadline = time.time() + 60
        while not done.exists() and time.time() < deadline:
            time.sleep(0.01)
    w.shutdown()
    """
)


def test_a_window_and_another_process_released_together_on_a_stale_lock(demo: Path, qtbot, tmp_path):
    """A real second process (its own GUI panel, offscreen) and this window open at the same
    moment (both spin on a go file): exactly one holds the project, the other is told, and what
    the winner saved is the only labelling in the manifest."""
    _stale_lock(demo)
    script, go, done = tmp_path / "child.py", tmp_path / "go", tmp_path / "done"
    script.write_text(CHILD)
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "PATH": "/usr/bin:/bin"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(demo), str(go), str(done)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    w = AssistantWidget(None)
    errors: list[str] = []
    w._error_box = lambda title, text: errors.append(text)
    lines: list[str] = []
    try:
        assert child.stdout.readline().strip() == "READY"
        go.touch()
        mine = w.open_project(demo)
        if mine:
            a = w.project.unlabelled_ids()[-1]
            w.project.save_labels(a, np.full(w.project.image(a).shape, 3, np.int32), done=True)
        lines.append(child.stdout.readline())  # the child's attempt is over: OPENED/REFUSED/ERROR
        if mine:
            assert w.close_project()
        done.touch()
        out, err = child.communicate(timeout=120)
        out = "".join(lines) + out
    finally:
        w.shutdown()
        if child.poll() is None:
            child.kill()
    theirs = "OPENED" in out
    assert mine != theirs, (mine, out, err)  # exactly one of the two holds the project
    loser_said = errors if theirs else [line for line in out.splitlines() if line.startswith("ERROR")]
    assert loser_said, (out, err)
    with Project.open(demo) as p:
        labelled = p.labelled_ids()
        assert len(labelled) == 1  # the winner's acknowledged save is there, nothing else
        assert p.load_labels(labelled[0]).max() == (3 if mine else 2)
