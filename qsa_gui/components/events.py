"""A tiny dependency-free event emitter for the Qt-free view-models.

Why not Qt signals: :mod:`qsa_gui.components` must import without Qt, so its tests run anywhere;
the widgets connect their slots here exactly as they would to a signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Callback = Callable[..., Any]


class EventEmitter:
    """``connect(cb)``, ``disconnect(cb)``, ``emit(*args)``: callbacks run in connection order.

    A callback that raises is logged and the others still run: one broken view must not leave
    the rest of the window showing stale state.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        """Add ``callback`` (once; connecting it again is a no-op); returns it, to use as a decorator."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Remove ``callback`` (all callbacks when None); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - see the class docstring
                logger.exception("event %s: callback %r failed", self.name, callback)

    def __len__(self) -> int:
        return len(self._callbacks)


__all__ = ["EventEmitter"]
