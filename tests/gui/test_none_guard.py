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
