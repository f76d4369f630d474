"""PySide6's None-refcount leak and the guard that keeps a long GUI session from aborting."""

from __future__ import annotations

import sys

import pytest
from qtpy.QtCore import QTimer

from qsa_gui._qt import none_guard


def _run_single_shots(qtbot, n: int) -> None:
    fired: list[int] = []
    for _ in range(n):
        QTimer.singleShot(0, lambda: fired.append(1))
    qtbot.waitUntil(lambda: len(fired) == n, timeout=10_000)


@pytest.mark.skipif(not none_guard.needed(), reason="None is immortal from Python 3.12")
def test_guard_tops_up_what_single_shot_callbacks_leak(qtbot):
    assert none_guard.install()
    assert none_guard.install()  # idempotent: one timer per process
    before = none_guard.top_up()
    assert before >= none_guard.LOW_WATER
    _run_single_shots(qtbot, 3000)
    leaked = before - sys.getrefcount(None)
    print(f"None references lost to 3000 singleShot callbacks: {leaked}")
    # the guard's own timer tops the count up again, whatever the leak is
    qtbot.waitUntil(lambda: sys.getrefcount(None) >= none_guard.LOW_WATER, timeout=3 * none_guard.CHECK_MS)


def test_the_assistant_installs_the_guard(qtbot):
    from qsa_gui._qt.assistant import AssistantWidget

    w = AssistantWidget(None, warm_up=False)
    try:
        assert none_guard._timer is not None or not none_guard.needed()
    finally:
        w.shutdown()


@pytest.mark.skipif(not none_guard.needed(), reason="None is immortal from Python 3.12")
def test_a_long_session_quits_cleanly_with_the_guard():
    """The leak of a long session, then a normal exit: the interpreter's shutdown must not free
    the guard's reserve (it aborted with none_dealloc after the screenshots' hour-long session).
    The leak is simulated with Py_DecRef(None), what PySide6 does per singleShot callback."""
    import os
    import subprocess

    code = (
        "import ctypes, sys\n"
        "from qtpy.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from qsa_gui._qt import none_guard\n"
        "assert none_guard.install(app)\n"
        "for _ in range(int(sys.argv[1])):\n"
        "    ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))\n"
        "none_guard.top_up()\n"
        "print('quitting', flush=True)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code, "1500000"], capture_output=True, text=True, timeout=120, env=env
    )
    assert "quitting" in out.stdout
    assert out.returncode == 0, out.stderr[-1500:]
