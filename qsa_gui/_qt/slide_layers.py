"""The slide overview in napari: the slide as a multiscale image, its tissue outline, and its
regions as rectangles coloured and captioned by the view-model (``components/slides.py``).

Why its own layer set beside :class:`~qsa_gui._qt.layers.AnnotationLayers`: napari cannot paint
a multiscale labels layer, so a region is painted in the ordinary image + labels layers at full
resolution, and the slide view only shows and picks. Both sets live in one viewer; the one not
in use is hidden. Hidden layers still count in napari's ``reset_view`` extent, so a hidden slide
layer also gets a vanishing scale (its extent collapses onto the origin) and fitting the view to
a region is not thrown off by the slide around it. Layers are created once and updated in place
(a removal costs napari a ``gc.collect()``); they are removed only when the project closes.

The viewer is duck-typed like ``layers.py``: with ``viewer=None`` everything is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from qsa_gui.components.slides import RegionShape, region_at

logger = logging.getLogger(__name__)

ROLE_SLIDE, ROLE_TISSUE, ROLE_REGIONS = "slide", "tissue outline", "regions"
ROLE_GLANDS = "segmented glands"
SLIDE_ROLES: tuple[str, ...] = (ROLE_SLIDE, ROLE_TISSUE, ROLE_GLANDS, ROLE_REGIONS)
TISSUE_COLOUR = "#00b7c7"
GLAND_COLOUR = "#ffd60a"  # the slide segmentation's gland outlines: yellow reads on H&E
#: A press that moves more than this (canvas pixels) is a pan, not a click on a region.
CLICK_SLOP_PX = 5.0
#: Small enough that a hidden slide of 100000 px shrinks inside any region (100 px); not smaller:
#: napari counts dims steps at the finest scale and overflows a Qt slider below ~1e-5.
HIDDEN_SCALE = 1e-3
#: Captions in their rectangle's colour (white text vanished on the glass), inside its top-left.
TEXT_STYLE: dict[str, Any] = {"string": "{caption}", "color": {"feature": "colour"}, "size": 12,
                              "anchor": "upper_left", "blending": "translucent"}  # fmt: skip
#: Outline widths are in level-0 pixels: a slide's longer side over this is one "width unit", so
#: rectangles stay a few screen pixels wide when the whole slide is in view.
WIDTH_DIVISOR = 900.0


class SlideLayers:
    """Shows one slide's overview; ``on_region(image_id)`` is called when a region is clicked.

    ``owned`` is a context manager factory under which layers are added (the annotation layers'
    ``owned``: these are the assistant's own, not a foreign layer to report).
    """

    def __init__(
        self,
        viewer: Any | None,
        on_region: Callable[[str], None],
        owned: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ) -> None:
        self.viewer = viewer
        self.on_region = on_region
        self._owned = owned or contextlib.nullcontext
        self._layers: dict[str, Any] = {}
        self.slide_id: str | None = None
        self.shapes: list[RegionShape] = []
        self.visible = False
        self._slide = None  # the open slide the lazy levels read from
        self._unit = 1.0  # level-0 pixels per outline width unit (see WIDTH_DIVISOR)

    def get(self, role: str) -> Any | None:
        layer = self._layers.get(role)
        if layer is None or self.viewer is None or not any(x is layer for x in self.viewer.layers):
            return None
        return layer

    # -- showing ---------------------------------------------------------------------------------
    def show(self, slide_id: str, levels: Callable[[], tuple[Any, list[Any]]], name: str,
             shapes: Sequence[RegionShape], outlines: Sequence[np.ndarray]) -> None:  # fmt: skip
        """Show the slide ``slide_id`` (``levels()`` opens it: (open slide, multiscale levels),
        called only when the slide changes), its tissue outlines and region rectangles."""
        if self.viewer is None:
            return
        if slide_id != self.slide_id or self.get(ROLE_SLIDE) is None:
            slide, data = levels()
            self._close_slide()
            self._slide = slide
            self._unit = max(1.0, max(slide.info.shape) / WIDTH_DIVISOR)
            self._set_image(data, name)
            self._set_paths(ROLE_TISSUE, list(outlines))
            self.slide_id = slide_id
        self.update_regions(shapes)
        for role in SLIDE_ROLES:
            layer = self.get(role)
            if layer is not None:
                layer.scale = (1.0, 1.0)
                layer.visible = True
        self.visible = True
        regions = self.get(ROLE_REGIONS)
        if regions is not None:
            regions.mode = "pan_zoom"  # a click picks a region; it never moves or draws a shape
            self.viewer.layers.selection.active = regions

    def show_glands(self, paths: Sequence[np.ndarray]) -> None:
        """The slide segmentation's gland outlines ((N, 2) level-0 row/col rings; [] = none)."""
        if self.viewer is None or self.get(ROLE_SLIDE) is None:
            return
        self._set_paths(ROLE_GLANDS, list(paths), GLAND_COLOUR, closed=True)
        regions = self.get(ROLE_REGIONS)
        if regions is not None:  # clicks still pick regions
            self.viewer.layers.selection.active = regions

    def update_regions(self, shapes: Sequence[RegionShape]) -> None:
        """New kinds / captions of the regions (after Mark done, a Suggest round ...)."""
        self.shapes = list(shapes)
        if self.viewer is None:
            return
        data = [s.corners() for s in self.shapes]
        features = {"caption": [s.text for s in self.shapes], "image_id": [s.image_id for s in self.shapes],
                    "kind": [s.kind for s in self.shapes],
                    "colour": [s.colour for s in self.shapes]}  # fmt: skip
        colours = [s.colour for s in self.shapes] or "white"
        widths = [s.width * self._unit for s in self.shapes] or self._unit
        layer = self.get(ROLE_REGIONS)
        if layer is None:
            with self._owned():
                layer = self.viewer.add_shapes(
                    data, shape_type="rectangle", name=ROLE_REGIONS, edge_color=colours, edge_width=widths,
                    face_color="transparent", features=features, text=TEXT_STYLE,
                )  # fmt: skip
            layer.mouse_drag_callbacks.append(self._on_press)
            layer.editable = False
            layer.metadata["qsa_role"] = ROLE_REGIONS
            self._layers[ROLE_REGIONS] = layer
            return
        layer.selected_data = set()
        layer.data = []
        if data:
            layer.add_rectangles(data, edge_width=widths, edge_color=colours, face_color="transparent")
        layer.features = features
        layer.text = TEXT_STYLE
        layer.refresh_text()
        layer.refresh()

    def hide(self) -> None:
        """Hide the overview (a region is being painted); its extent shrinks onto the origin."""
        self.visible = False
        for role in SLIDE_ROLES:
            layer = self.get(role)
            if layer is not None:
                layer.visible = False
                layer.scale = (HIDDEN_SCALE, HIDDEN_SCALE)

    def clear(self) -> None:
        """Remove the layers and close the slide (the project closes)."""
        self.visible = False
        if self.viewer is not None:
            for role in SLIDE_ROLES:
                layer = self.get(role)
                if layer is not None:
                    self.viewer.layers.remove(layer)
        self._layers.clear()
        self.slide_id, self.shapes = None, []
        self._close_slide()

    def detach(self) -> None:
        """Forget the viewer (it is closing) and close the slide."""
        self._layers.clear()
        self.viewer = None
        self._close_slide()

    # -- clicks ----------------------------------------------------------------------------------
    def click(self, row: float, col: float) -> str | None:
        """A click at level-0 (row, col): opens the region there, if any."""
        image_id = region_at(self.shapes, row, col)
        if image_id is not None:
            self.on_region(image_id)
        return image_id

    def _on_press(self, layer: Any, event: Any) -> Iterator[None]:
        start = np.asarray(getattr(event, "pos", (0.0, 0.0)), float)
        position = layer.world_to_data(event.position)
        moved = False
        yield
        while event.type == "mouse_move":
            moved = moved or float(np.hypot(*(np.asarray(event.pos, float) - start))) > CLICK_SLOP_PX
            yield
        if not moved and self.visible:
            self.click(float(position[-2]), float(position[-1]))

    # -- internals -------------------------------------------------------------------------------
    def _set_image(self, data: list[Any], name: str) -> None:
        layer = self.get(ROLE_SLIDE)
        if layer is not None:  # another slide: a removal once per slide switch, not per image
            self.viewer.layers.remove(layer)
        with self._owned():
            layer = self.viewer.add_image(data, multiscale=len(data) > 1, rgb=True, name=ROLE_SLIDE)
        layer.metadata["qsa_role"] = ROLE_SLIDE
        layer.metadata["qsa_title"] = name
        self._layers[ROLE_SLIDE] = layer
        layers = self.viewer.layers
        above = [layers.index(x) for role in SLIDE_ROLES[1:] if (x := self.get(role)) is not None]
        if above:  # the new image went on top: every outline back above it
            layers.move(layers.index(layer), min(above))

    def _set_paths(self, role: str, paths: list[np.ndarray], colour: str = TISSUE_COLOUR,
                   closed: bool = False) -> None:  # fmt: skip
        kind = "polygon" if closed else "path"
        layer = self.get(role)
        if layer is None:
            with self._owned():
                layer = self.viewer.add_shapes(
                    paths, shape_type=kind, name=role, edge_color=colour, edge_width=2 * self._unit,
                    face_color="transparent", opacity=0.9,
                )  # fmt: skip
            layer.editable = False
            layer.metadata["qsa_role"] = role
            self._layers[role] = layer
            return
        layer.data = []
        if paths:
            add = layer.add_polygons if closed else layer.add_paths
            add(paths, edge_color=colour, edge_width=2 * self._unit, face_color="transparent")

    def _close_slide(self) -> None:
        slide, self._slide = self._slide, None
        if slide is not None:
            try:
                slide.close()
            except Exception:  # noqa: BLE001 - a slide closed twice or a file gone: nothing to do
                logger.debug("closing the shown slide", exc_info=True)


__all__ = [
    "CLICK_SLOP_PX", "ROLE_GLANDS", "ROLE_REGIONS", "ROLE_SLIDE", "ROLE_TISSUE", "SLIDE_ROLES", "SlideLayers",
]  # fmt: skip
