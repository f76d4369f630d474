"""Watching the top-level window's Close so the panel can ask about a job, save and shut down.

Why: a dock widget gets no ``closeEvent`` of its own when napari's window closes; an event
filter on that window sees the Close first (and can refuse it while the user keeps a job).
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QWidget


class WindowWatcher(QObject):
    """Calls ``on_close()`` when the watched window is asked to close; False from it keeps it open."""

    def __init__(self, parent: QObject, on_close: Callable[[], bool]) -> None:
        super().__init__(parent)
        self._on_close = on_close
        self.window: QWidget | None = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Close and not self._on_close():
            event.ignore()
            return True
        return False

    def watch(self, window: QWidget) -> None:
        if window is self.window:
            return
        self.release()
        self.window = window
        window.installEventFilter(self)

    def release(self) -> None:
        if self.window is not None:
            try:
                self.window.removeEventFilter(self)
            except RuntimeError:  # the window is already deleted
                pass
            self.window = None


__all__ = ["WindowWatcher"]
