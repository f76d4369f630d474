"""Keep ``None``'s reference count away from zero under PySide6's refcount leak.

Why: with PySide6 6.12 on Python 3.11 every ``QTimer.singleShot`` callback that runs and every
bare ``QApplication.processEvents()`` drops one reference to ``None`` that was never taken
(measured: -1 per call, ``tests/gui/test_none_guard.py``). A GUI session calls them thousands of
times an hour (image switches, prefetch, napari's own), so after long enough the count reaches
zero and the interpreter aborts with "none_dealloc: deallocating None", taking unsaved strokes
with it. From Python 3.12 on ``None`` is immortal and nothing here is needed.

The guard holds a reserve of references (a list of ``None``: 8 bytes each) and tops it up from a
repeating timer (whose slot does not leak) whenever the count falls below :data:`LOW_WATER`.
At exit the reserve is kept for good (:func:`keep_at_exit`): freeing it while the interpreter
shuts down gave back every reference the leak had taken, and a long session then aborted on quit
("none_dealloc" during the final garbage collection, SIGABRT) after everything was saved.
"""

from __future__ import annotations

import atexit
import ctypes
import sys

from qtpy.QtCore import QCoreApplication, QObject, QTimer

#: Top up below this many references to None (the leak is ~1 per event; hours of margin).
LOW_WATER = 2_000_000
#: References added per top-up (8 MB of list).
CHUNK = 1_000_000
CHECK_MS = 1000

_reserve: list[list[None]] = []
_timer: QTimer | None = None


def needed() -> bool:
    """Only where None is mortal (before Python 3.12)."""
    return sys.version_info < (3, 12)


def top_up() -> int:
    """Add references until the count is above :data:`LOW_WATER`; the count afterwards."""
    while sys.getrefcount(None) < LOW_WATER:
        _reserve.append([None] * CHUNK)
    return sys.getrefcount(None)


def keep_at_exit() -> None:
    """Top up once more and give the reserve one reference nobody holds, so the interpreter's
    shutdown never frees it (the leaked references stay covered until the process is gone)."""
    top_up()
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_reserve))


def install(app: QObject | None = None) -> bool:
    """Start the guard once per process (needs a Q(Core)Application); True if it runs."""
    global _timer
    if not needed():
        return False
    if _timer is not None:
        return True
    parent = app or QCoreApplication.instance()
    if parent is None:
        return False
    top_up()
    atexit.register(keep_at_exit)
    _timer = QTimer(parent)
    _timer.setObjectName("qsaNoneGuard")
    _timer.setInterval(CHECK_MS)
    _timer.timeout.connect(top_up)
    _timer.start()
    return True


__all__ = ["CHUNK", "LOW_WATER", "install", "keep_at_exit", "needed", "top_up"]
