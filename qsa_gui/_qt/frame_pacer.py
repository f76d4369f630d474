"""Painting an image switch as one frame, after the event loop has had a turn.

Why: Next image sets new arrays into napari's layers (about 20 ms of napari's own Python), and
every widget that changed asks its window for a repaint. Qt delivers those repaint requests
(``QEvent.UpdateRequest``, a posted event) *before* any timer or queued work, so the switch's
work, the canvas's repaint with the new textures and the panel's repaint ran back to back: one
70-100 ms stretch in which the window answered nothing (measured under Xvfb's software OpenGL,
where one repaint of the window costs 15-35 ms). Split into turns, the same work and the same
repaints leave the loop free between them: the work, then one repaint of everything the switch
changed, then (for a short while) each follow-up repaint -- napari's thumbnails, the gallery --
in a turn of its own.

:class:`FramePacer` does this with an event filter on the canvas's top-level window: while held
it swallows the window's repaint requests and posts one when released, from a 1 ms timer (so
the loop's overdue timers, input included, run first). Nothing is ever dropped: a swallowed
request is always re-posted, and the widgets' dirty regions stay with Qt's repaint manager.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from qtpy.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QWidget

#: How long after a held frame every further repaint waits for a turn of the loop of its own.
SETTLE_S = 0.25


class FramePacer(QObject):
    """Holds the repaints of ``window()``'s top-level window for one turn of the event loop."""

    def __init__(self, window: Callable[[], QWidget | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = window
        self._watched: QWidget | None = None
        self._held = False  # swallow every repaint request until the next turn
        self._busy = False  # a repaint ran in this turn: the next one waits
        self._pending = False  # a request was swallowed and is owed
        self._settle_until = 0.0
        self.frames = 0  # repaints posted after a hold (for tests and benchmarks)
        self._turn = QTimer(self)
        self._turn.setSingleShot(True)
        self._turn.setTimerType(Qt.TimerType.PreciseTimer)
        self._turn.setInterval(1)
        self._turn.timeout.connect(self._next_turn)

    def hold(self) -> None:
        """Hold the window's repaints until the event loop has run its overdue timers."""
        top = self._window()
        if top is None:
            return
        top = top.window()
        if top is not self._watched:
            if self._watched is not None:
                self._unwatch()
            top.installEventFilter(self)
            top.destroyed.connect(self._forget)
            self._watched = top
        self._held = True
        self._turn.start()

    def detach(self) -> None:
        """Stop watching; a repaint still owed is posted now."""
        self._turn.stop()
        self._held = self._busy = False
        self._settle_until = 0.0
        self._post_owed()
        if self._watched is not None:
            self._unwatch()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is not self._watched or event.type() != QEvent.Type.UpdateRequest:
            return False
        if self._held or self._busy:
            self._pending = True
            if not self._turn.isActive():
                self._turn.start()
            return True
        if time.monotonic() < self._settle_until:
            self._busy = True  # this repaint runs now; a follow-up one waits for the next turn
            self._turn.start()
        return False

    def _next_turn(self) -> None:
        self._held = self._busy = False
        if self._pending:
            self._settle_until = time.monotonic() + SETTLE_S
            self._post_owed()

    def _post_owed(self) -> None:
        if self._pending and self._watched is not None:
            self.frames += 1
            event = QEvent(QEvent.Type.UpdateRequest)
            QCoreApplication.postEvent(self._watched, event, Qt.EventPriority.LowEventPriority.value)
        self._pending = False

    def _unwatch(self) -> None:
        try:
            self._watched.removeEventFilter(self)  # type: ignore[union-attr]
            self._watched.destroyed.disconnect(self._forget)  # type: ignore[union-attr]
        except (RuntimeError, TypeError):  # already deleted or disconnected
            pass
        self._watched = None

    def _forget(self, *_args: object) -> None:
        self._watched = None
        self._pending = self._held = self._busy = False


__all__ = ["SETTLE_S", "FramePacer"]
