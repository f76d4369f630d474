"""Trace a gland's outline (lasso or polygon) and have it filled as a new gland.

Why a napari Shapes layer: napari's Labels layer has a click-by-click polygon, but no freehand
lasso, and it paints with whatever number is selected (often the gland just finished). Shapes has
both a lasso (``add_polygon_lasso``: drag, or click - move - click) and a polygon mode. Each
finished shape is rasterised (:func:`~qsa_gui.components.annotation.polygon_indices`) into the
project's labels layer under a new number with ``data_setitem`` -- one step of the labels layer's
own undo history, saved by the usual autosave -- and the shape is removed at once: nothing but the
labels layer keeps what was drawn.

The outline layer exists only while the tool is on. It goes when another layer becomes active
(an image switch, a click in the layer list), so a forgotten tool never swallows brush strokes.

The viewer is duck-typed (``add_shapes``, ``layers``), so this module does not import napari.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from qsa_gui.components.annotation import ellipse_vertices, fresh_label, polygon_indices

from .layers import AnnotationLayers

logger = logging.getLogger(__name__)

OUTLINE_LAYER_NAME = "gland outline"
ROLE_OUTLINE = "outline"
LASSO_MODE, POLYGON_MODE = "add_polygon_lasso", "add_polygon"
OUTLINE_STYLE: dict[str, Any] = {"edge_color": "yellow", "face_color": "transparent", "opacity": 1.0}
#: Shape types that enclose an area (lines do not).
FILLABLE = ("polygon", "rectangle", "ellipse", "path", "polyline")


class PolygonTool:
    """The outline layer and its fill (see the module docstring).

    ``on_filled(label, area)`` is called after each gland is filled; ``on_changed(active)`` when
    the tool starts or stops.
    """

    def __init__(
        self,
        viewer: Any | None,
        layers: AnnotationLayers,
        on_filled: Callable[[int, int], None] | None = None,
        on_changed: Callable[[bool], None] | None = None,
    ) -> None:
        self.viewer = viewer
        self.layers = layers
        self.on_filled = on_filled
        self.on_changed = on_changed
        self.shapes: Any | None = None
        self._filling = False
        self._filled = 0  # shapes of the outline layer already filled, until it is cleared
        active = getattr(getattr(getattr(viewer, "layers", None), "selection", None), "events", None)
        if active is not None:
            active.active.connect(self._on_active_changed)

    @property
    def active(self) -> bool:
        """Whether the outline layer is in the viewer now."""
        if self.shapes is None or self.viewer is None:
            return False
        if not any(layer is self.shapes for layer in self.viewer.layers):
            self.shapes = None
            return False
        return True

    def toggle(self) -> bool:
        """Start the tool, or stop it (back to the brush); returns whether it is on."""
        if self.active:
            self.stop()
            return False
        return self.start()

    def start(self, mode: str = LASSO_MODE) -> bool:
        """Show the outline layer on top, active, in ``mode``; False without a labels layer."""
        labels = self.layers.labels
        if self.viewer is None or labels is None:
            return False
        if not self.active:
            with self.layers.owned():
                self.shapes = self.viewer.add_shapes(
                    name=OUTLINE_LAYER_NAME,
                    scale=labels.scale,
                    translate=labels.translate,
                    edge_width=max(1.0, float(getattr(labels, "brush_size", 2)) / 4.0),
                    **OUTLINE_STYLE,
                )
            self.shapes.metadata["qsa_role"] = ROLE_OUTLINE
            self._filled = 0
            self.shapes.events.data.connect(self._on_data)
            # Ctrl+Z while tracing undoes the last fill (the labels layer's history), not a shape
            self.shapes.bind_key("Control-Z", lambda _layer: self._labels_call("undo"), overwrite=True)
            self.shapes.bind_key("Control-Shift-Z", lambda _layer: self._labels_call("redo"), overwrite=True)
        self.viewer.layers.selection.active = self.shapes
        self.shapes.mode = mode
        if self.on_changed is not None:
            self.on_changed(True)
        return True

    def stop(self, activate_labels: bool = True) -> None:
        """Remove the outline layer; with ``activate_labels`` the labels layer gets the brush."""
        shapes, was_active = self.shapes, self.active
        self.shapes = None
        if was_active and self.viewer is not None:
            with contextlib.suppress(ValueError):
                self.viewer.layers.remove(shapes)
        if activate_labels:
            labels = self.layers.labels
            if labels is not None:
                self.layers.activate_labels()
                if labels.mode in ("pan_zoom", "pick", "transform"):
                    labels.mode = "paint"
        if was_active and self.on_changed is not None:
            self.on_changed(False)

    def fill(self, vertices: np.ndarray, shape_type: str = "polygon") -> tuple[int, int] | None:
        """Fill one outline (N x 2 vertices in the labels' pixel coordinates) as a new gland:
        ``(label, area)``, or None when it covers no pixel (or no labels layer is shown)."""
        labels = self.layers.labels
        if labels is None or shape_type not in FILLABLE:
            return None
        v = np.asarray(vertices, dtype=np.float64)[:, -2:]
        if shape_type == "ellipse" and len(v) == 4:
            v = ellipse_vertices(v)
        data = np.asarray(labels.data)
        preserve = bool(getattr(labels, "preserve_labels", False))
        rr, cc = polygon_indices(v, data.shape, data, preserve=preserve)
        if rr.size == 0:
            return None
        label = fresh_label(data)
        labels.data_setitem((rr, cc), label)  # one undo step; its paint event autosaves
        return label, int(rr.size)

    # -- internals ---------------------------------------------------------------------------------
    def _on_data(self, event: Any = None) -> None:
        if self._filling or str(getattr(event, "action", "")) != "added" or self.shapes is None:
            return
        shapes = self.shapes
        self._filling = True
        try:
            items = list(zip(list(shapes.data), list(shapes.shape_type), strict=True))[self._filled :]
            done = [self.fill(v, t) for v, t in items]
            self._filled += len(items)
        finally:
            self._filling = False
        # what was drawn lives on in the labels layer only; the shape goes once napari has
        # finished drawing it (clearing the layer inside its own "added" event re-enters it)
        QTimer.singleShot(0, self._clear)
        for result in done:
            if result is not None and self.on_filled is not None:
                self.on_filled(*result)

    def _clear(self) -> None:
        shapes = self.shapes
        if shapes is not None and len(shapes.data):
            self._filling = True
            try:
                shapes.data = []
            finally:
                self._filling = False
        self._filled = 0

    def _labels_call(self, name: str) -> None:
        labels = self.layers.labels
        if labels is not None:
            getattr(labels, name)()

    def _on_active_changed(self, event: Any = None) -> None:
        if self.shapes is None or getattr(event, "value", None) is self.shapes:
            return
        # another layer was made active (an image switch, the layer list): the tool ends, once
        # napari has finished changing the selection
        QTimer.singleShot(0, lambda: self._end_if_inactive())

    def _end_if_inactive(self) -> None:
        if self.viewer is None or not self.active:
            return
        if self.viewer.layers.selection.active is not self.shapes:
            self.stop(activate_labels=False)

    def detach(self) -> None:
        """The viewer is closing: forget it."""
        active = getattr(getattr(getattr(self.viewer, "layers", None), "selection", None), "events", None)
        if active is not None:
            with contextlib.suppress(Exception):
                active.active.disconnect(self._on_active_changed)
        self.shapes = None
        self.viewer = None


__all__ = ["FILLABLE", "LASSO_MODE", "OUTLINE_LAYER_NAME", "POLYGON_MODE", "PolygonTool", "ROLE_OUTLINE"]
