"""The napari layers of the image being annotated: image, labels, prediction, uncertainty.

Why a separate class: the assistant must find "its" layers again even after the user renamed or
reordered them, must never treat its own data replacement as a user edit (that would autosave
on every image switch), and must not lose the user's tool settings (brush size, mode, selected
label) on each image switch. So layers are tracked by identity, created once and then updated
in place, with edit notifications suppressed while the assistant writes into them.

In place also when the next image has another size: napari runs a full ``gc.collect()`` each
time a layer is removed (0.5-2 s with napari's heap), so an image switch never removes a layer.
A prediction or heat-map the next image lacks is *parked* instead: hidden, emptied to one pixel,
and no longer reported by :meth:`AnnotationLayers.get`; the next image that has one reuses it.
Only explicit actions (Accept prediction, heat-map off, closing the project) remove layers.

The viewer is duck-typed (``add_image``, ``add_labels``, ``layers``), so this module does not
import napari; with ``viewer=None`` every method is a no-op (a panel without a canvas).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from qsa_gui.components.pixels import to_uint8_rgb

from . import napari_private

logger = logging.getLogger(__name__)

ROLE_IMAGE, ROLE_HEATMAP, ROLE_PREDICTION, ROLE_LABELS = "image", "uncertainty", "prediction", "labels"
#: Bottom to top: the annotation must stay on top of the heat-map and the prediction outlines.
STACK_ORDER: tuple[str, ...] = (ROLE_IMAGE, ROLE_HEATMAP, ROLE_PREDICTION, ROLE_LABELS)
LAYER_NAMES: dict[str, str] = {
    ROLE_IMAGE: "image",
    ROLE_HEATMAP: "uncertainty",
    ROLE_PREDICTION: "prediction",
    ROLE_LABELS: "labels",
}
#: Labels-layer events that mean "the user changed the annotation" in napari 0.5-0.9:
#: ``paint`` (end of a brush stroke / fill, i.e. a new undo step), ``labels_update`` (partial
#: refresh during a stroke), ``set_data`` (full refresh, e.g. undo / redo) and ``data``.
EDIT_EVENTS: tuple[str, ...] = ("paint", "labels_update", "set_data", "data")
LABELS_OPACITY = 0.55
PREDICTION_OPACITY = 0.8
#: The heat-map's colours from 0 (certain) to the top of its scale: the upper half of viridis
#: (teal -> green -> yellow: colour-blind safe, and apart from the pinks and purples of H&E) with
#: alpha proportional to the value, so certain pixels are clear and the stain shows through.
HEATMAP_COLORS: tuple[tuple[float, float, float, float], ...] = (
    (0.128, 0.565, 0.551, 0.0),
    (0.153, 0.680, 0.506, 0.25),
    (0.288, 0.761, 0.428, 0.5),
    (0.626, 0.855, 0.220, 0.75),
    (0.993, 0.906, 0.144, 1.0),
)
HEATMAP_COLORMAP: dict[str, Any] = {
    "name": "qsa-transparent-viridis",
    "display_name": "clear → viridis",
    "colors": [list(c) for c in HEATMAP_COLORS],
}
HEATMAP_OPACITY = 0.8
HEATMAP_STYLE: dict[str, Any] = {"opacity": HEATMAP_OPACITY, "blending": "translucent"}


class AnnotationLayers:
    """Creates, updates and finds the four layers of the current image in a napari viewer.

    ``on_edit`` is called (on the GUI thread) whenever the labels layer reports a change that
    the assistant did not make itself; ``on_foreign(layer)`` when someone else adds a layer while
    ours are shown (napari then makes that layer the active one).
    """

    def __init__(
        self,
        viewer: Any | None,
        on_edit: Callable[[], None] | None = None,
        on_foreign: Callable[[Any], None] | None = None,
    ) -> None:
        self.viewer = viewer
        self.on_edit = on_edit
        self.on_foreign = on_foreign
        self._layers: dict[str, Any] = {}
        self._parked: dict[str, Any] = {}  # hidden, emptied layers kept for the next image
        self._suppress = 0
        self._adding = 0
        inserted = getattr(getattr(getattr(viewer, "layers", None), "events", None), "inserted", None)
        if inserted is not None and on_foreign is not None:
            inserted.connect(self._on_inserted)

    # -- lookup ----------------------------------------------------------------------------------
    def get(self, role: str) -> Any | None:
        """The layer for ``role`` if it is still in the viewer (the user may have deleted it)."""
        layer = self._layers.get(role)
        if layer is None or self.viewer is None:
            return None
        if not any(existing is layer for existing in self.viewer.layers):
            self._layers.pop(role, None)
            return None
        return layer

    @property
    def labels(self) -> Any | None:
        return self.get(ROLE_LABELS)

    def labels_data(self) -> np.ndarray | None:
        """The labels layer's array itself (no copy), or None without a labels layer."""
        layer = self.labels
        return None if layer is None else np.asarray(layer.data)

    @contextlib.contextmanager
    def suppressed(self) -> Iterator[None]:
        """Changes made inside are the assistant's own, not user edits."""
        self._suppress += 1
        try:
            yield
        finally:
            self._suppress -= 1

    # -- setting data ----------------------------------------------------------------------------
    def show_image(self, rgb: np.ndarray, title: str) -> bool:
        """Show ``rgb`` (uint8 H x W x 3); returns True if the shape changed (reset the view)."""
        if self.viewer is None:
            return False
        layer = self.get(ROLE_IMAGE)
        changed = layer is None or tuple(np.shape(layer.data)) != tuple(rgb.shape)
        if layer is None or layer.rgb is not True:
            self.remove(ROLE_IMAGE)
            with self._own():
                layer = self.viewer.add_image(rgb, name=LAYER_NAMES[ROLE_IMAGE], rgb=True)
            self._adopt(ROLE_IMAGE, layer)
        else:
            layer.data = rgb
        layer.metadata["qsa_title"] = title
        self._restack()
        return changed

    def show_labels(self, labels: np.ndarray) -> Any | None:
        """Put ``labels`` (int32) into the labels layer; the undo history starts afresh."""
        if self.viewer is None:
            return None
        layer = self.get(ROLE_LABELS)
        with self.suppressed():
            if layer is None:
                with self._own():
                    name = LAYER_NAMES[ROLE_LABELS]
                    layer = self.viewer.add_labels(labels, name=name, opacity=LABELS_OPACITY)
                self._adopt(ROLE_LABELS, layer)
                for name in EDIT_EVENTS:
                    emitter = getattr(layer.events, name, None)
                    if emitter is not None:
                        emitter.connect(self._on_labels_event)
            else:
                layer.data = labels
            reset = getattr(layer, "_reset_history", None)  # undo must not cross images
            if callable(reset):
                reset()
        self._restack()
        return layer

    def show_prediction(self, prediction: np.ndarray | None, *, park: bool = False) -> Any | None:
        """Model instances as editable outlines (``None`` removes the layer, or with ``park``
        hides it for the next image: an image switch)."""
        if self.viewer is None:
            return None
        if prediction is None:
            self.park(ROLE_PREDICTION) if park else self.remove(ROLE_PREDICTION)
            return None
        layer = self.get(ROLE_PREDICTION) or self._unpark(ROLE_PREDICTION)
        if layer is None:
            with self._own():
                layer = self.viewer.add_labels(
                    prediction, name=LAYER_NAMES[ROLE_PREDICTION], opacity=PREDICTION_OPACITY
                )
            layer.contour = 2
            self._adopt(ROLE_PREDICTION, layer)
        else:
            layer.data = prediction
        self._restack()
        return layer

    def show_heatmap(
        self, heat: np.ndarray | None, scale: float = 1.0, name: str | None = None, *, park: bool = False
    ) -> Any | None:
        """The uncertainty map (float, 0 = certain, ``scale`` = fully coloured) over the image,
        transparent where certain (:data:`HEATMAP_COLORS`); ``name`` says which quantity it is.
        The values stay floats, so napari's status bar reads them under the cursor. ``None``
        removes it, or with ``park`` hides it for the next image (no layer removal, no gc pause)."""
        if self.viewer is None:
            return None
        if heat is None:
            self.park(ROLE_HEATMAP) if park else self.remove(ROLE_HEATMAP)
            return None
        limits = (0.0, float(scale))
        layer = self.get(ROLE_HEATMAP) or self._unpark(ROLE_HEATMAP)
        if layer is None:
            with self._own():
                layer = self.viewer.add_image(
                    heat,
                    name=name or LAYER_NAMES[ROLE_HEATMAP],
                    contrast_limits=limits,
                    colormap=HEATMAP_COLORMAP,
                    **HEATMAP_STYLE,
                )
            self._adopt(ROLE_HEATMAP, layer)
        else:
            layer.data = heat
            layer.contrast_limits = limits
            if name:
                layer.name = name
        self._restack()
        return layer

    def remove(self, role: str) -> None:
        """Take the layer out of the viewer (napari then runs a full garbage collection)."""
        layer = self.get(role)
        self._layers.pop(role, None)
        if layer is not None and self.viewer is not None:
            with self.suppressed():
                self.viewer.layers.remove(layer)

    def park(self, role: str) -> None:
        """Hide and empty the layer of ``role`` for reuse; :meth:`get` no longer reports it."""
        layer = self.get(role)
        if layer is None:
            return
        del self._layers[role]
        with self.suppressed():
            layer.visible = False
            empty = np.zeros((1, 1), dtype=np.asarray(layer.data).dtype)
            layer.data = empty
        self._parked[role] = layer

    def clear(self) -> None:
        """Remove every layer this object created (project closed), parked ones too."""
        for role in list(self._parked):
            layer = self._unpark(role)
            if layer is not None:
                self._layers[role] = layer
        for role in reversed(STACK_ORDER):
            self.remove(role)

    def detach(self) -> None:
        """Forget the viewer and the layers without touching them (the viewer is closing)."""
        inserted = getattr(getattr(getattr(self.viewer, "layers", None), "events", None), "inserted", None)
        if inserted is not None:
            try:
                inserted.disconnect(self._on_inserted)
            except Exception:  # noqa: BLE001 - never connected or already gone
                pass
        self._layers.clear()
        self._parked.clear()
        self.viewer = None

    def activate_labels(self) -> None:
        """Make the labels layer the selected one, so the brush paints into it."""
        layer = self.labels
        if layer is not None and self.viewer is not None:
            self.viewer.layers.selection.active = layer

    def owned(self) -> contextlib.AbstractContextManager[None]:
        """Layers added inside are the assistant's own tools (never reported as foreign)."""
        return self._own()

    def restack(self) -> None:
        """Our layers back on top of any others (labels topmost)."""
        self._restack()

    # -- internals ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _own(self) -> Iterator[None]:
        """Layers added inside are the assistant's own (not a foreign layer)."""
        self._adding += 1
        try:
            yield
        finally:
            self._adding -= 1

    def _on_inserted(self, event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if self._adding or self.on_foreign is None or layer is None or self.get(ROLE_LABELS) is None:
            return
        if any(layer is ours for ours in self._layers.values()):
            return
        self.on_foreign(layer)

    def _unpark(self, role: str) -> Any | None:
        """A parked layer of ``role`` made visible again (None if none, or the user deleted it)."""
        layer = self._parked.pop(role, None)
        if layer is None or self.viewer is None or not any(x is layer for x in self.viewer.layers):
            return None
        layer.visible = True
        self._layers[role] = layer
        return layer

    def _adopt(self, role: str, layer: Any) -> None:
        layer.metadata["qsa_role"] = role
        self._layers[role] = layer
        if role in (ROLE_LABELS, ROLE_PREDICTION):  # new arrays every image switch, always int32
            napari_private.keep_label_colours_on_data(self.viewer, layer)

    def _on_labels_event(self, _event: Any = None) -> None:
        if self._suppress == 0 and self.on_edit is not None:
            self.on_edit()

    def _restack(self) -> None:
        """Keep our layers on top of any others, in STACK_ORDER (labels topmost)."""
        if self.viewer is None:
            return
        layers = self.viewer.layers
        ours = [layer for role in STACK_ORDER if (layer := self.get(role)) is not None]
        parked = [x for x in self._parked.values() if any(x is y for y in layers)]
        ours = parked + ours  # parked ones stay with ours, below them
        top = list(layers)[len(layers) - len(ours) :]
        if len(top) == len(ours) and all(a is b for a, b in zip(top, ours, strict=True)):
            return
        with self.suppressed():
            for layer in ours:  # each to the top in turn: they end up in STACK_ORDER
                layers.move(layers.index(layer), len(layers))


__all__ = [
    "AnnotationLayers",
    "EDIT_EVENTS",
    "HEATMAP_COLORS",
    "LAYER_NAMES",
    "ROLE_HEATMAP",
    "ROLE_IMAGE",
    "ROLE_LABELS",
    "ROLE_PREDICTION",
    "STACK_ORDER",
    "to_uint8_rgb",
]
