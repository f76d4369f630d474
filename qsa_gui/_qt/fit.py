"""Keeping the image fitted to the canvas when the canvas changes size.

Why: napari fits the view only when asked (``viewer.reset_view``). A window resized, a dock
dragged wider or a laptop screen's smaller window left the image cut off or tiny. The fitter
re-fits after every resize of the canvas -- unless the user zoomed or panned since the last fit,
which is their choice of view and must stay.
"""

from __future__ import annotations

import logging
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer

from . import napari_private

logger = logging.getLogger(__name__)

#: Resize events come in bursts while a window is dragged: fit once it settles.
REFIT_DELAY_MS = 60


class ViewFitter(QObject):
    """Fits ``viewer``'s view to its layers now (:meth:`fit`) and after each canvas resize."""

    def __init__(self, viewer: Any | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.fits = 0
        self._fitted: tuple | None = None  # the camera right after our last fit
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._refit)
        self._canvas = napari_private.canvas_widget(viewer)
        if self._canvas is not None:
            self._canvas.installEventFilter(self)

    def fit(self) -> None:
        """Fit the view to the layers (a new image size, a project opened)."""
        if self.viewer is None:
            return
        try:
            self.viewer.reset_view()
        except RuntimeError:  # the viewer's window is already gone
            return
        self.fits += 1
        self._fitted = self._camera()

    def detach(self) -> None:
        """Stop watching (the viewer is closing)."""
        self._timer.stop()
        if self._canvas is not None:
            try:
                self._canvas.removeEventFilter(self)
            except RuntimeError:  # the canvas is already deleted
                pass
        self._canvas = None
        self.viewer = None

    @property
    def user_moved(self) -> bool:
        """True when the camera is not where the last fit put it (the user zoomed or panned)."""
        return self._fitted is None or self._camera() != self._fitted

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Resize:
            self._timer.start(REFIT_DELAY_MS)
        return False

    def _refit(self) -> None:
        if self.viewer is not None and not self.user_moved:
            self.fit()

    def _camera(self) -> tuple | None:
        camera = getattr(self.viewer, "camera", None)
        if camera is None:
            return None
        return (round(float(camera.zoom), 6), tuple(round(float(c), 3) for c in camera.center))


__all__ = ["REFIT_DELAY_MS", "ViewFitter"]
