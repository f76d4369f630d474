"""The annotation tools of the panel: paint mode and brush on open, new-gland numbers, the
outline tool, outlines / fill, and the gland list (count, area, select, delete).

Why here and not in the layers: these are the pathologist's tools, decided per image (a brush
scaled to it, a fresh number) and per edit (the next number, the list); the rules live in the
Qt-free :mod:`qsa_gui.components.annotation`, this module applies them to napari's labels layer.
Every change goes through that layer (``data_setitem``), so it is one undo step there and the
usual autosave saves exactly what is on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QShortcut,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qsa_gui.components.annotation import (
    BrushMemory,
    GlandNumbering,
    gland_areas,
    gland_centre,
    gland_count_text,
    gland_indices,
)

from ..polygon_tool import PolygonTool
from ..shortcuts_help import PANEL, ShortcutsDialog, shortcut_rows, show_shortcuts

if TYPE_CHECKING:
    from .widget import AssistantWidget

#: Wait this long after the last edit before recounting the glands (strokes come in bursts).
COUNT_DEBOUNCE_MS = 250
#: Outline thickness (pixels) while "Outlines" is on; 0 draws filled glands.
OUTLINE_CONTOUR = 2
#: Labels-layer modes that draw; any other mode (pan / zoom, pick, transform) becomes paint on open.
DRAWING_MODES = ("paint", "erase", "fill", "polygon")


class GlandList(QWidget):
    """The glands of the current image: number and area; a click selects, Delete removes."""

    focus_requested = Signal(int)
    delete_requested = Signal(int)
    auto_numbering_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("qsaGlandList")
        self.count_label = QLabel("", self)
        self.count_label.setWordWrap(True)
        self.auto_box = QCheckBox("Auto new number", self)  # short: the dock may be 280 px wide
        self.auto_box.setChecked(True)
        self.auto_box.setToolTip(
            "After a stroke or fill with a fresh number, select the next fresh number, so that the "
            "next gland does not merge into the one just painted. Picking a gland's number (L, or a "
            "click in this list) keeps it, to correct that gland."
        )
        self.auto_box.toggled.connect(self.auto_numbering_changed.emit)
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Gland", "Area (px)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.delete_button = QPushButton("Delete gland", self)
        self.delete_button.setToolTip("Remove the selected gland (Delete; Ctrl+Z brings it back)")
        self.delete_button.clicked.connect(lambda _c=False: self._delete_selected())
        self.delete_keys = []
        for key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            sc = QShortcut(QKeySequence(key), self.table)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(self._delete_selected)
            self.delete_keys.append(sc)
        self._quiet = False
        row = QHBoxLayout()
        row.addWidget(self.auto_box, 1)
        row.addWidget(self.delete_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.count_label)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        self.set_areas([])

    def set_areas(self, areas: list[tuple[int, int]], selected: int | None = None) -> None:
        """Show ``(label, area)`` rows; the row of ``selected`` (if any) stays selected."""
        self._quiet = True
        try:
            table = self.table
            table.setRowCount(len(areas))
            for r, (label, area) in enumerate(areas):
                for c, (value, text) in enumerate(((label, str(label)), (area, f"{area:,}"))):
                    item = table.item(r, c)
                    if item is None:
                        item = QTableWidgetItem()
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                        table.setItem(r, c, item)
                    item.setText(text)
                    item.setData(Qt.ItemDataRole.UserRole, int(value))
            self.count_label.setText(gland_count_text(areas))
            self.delete_button.setEnabled(bool(areas))
            self.select_label(selected)
        finally:
            self._quiet = False

    def labels(self) -> list[int]:
        return [
            int(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in range(self.table.rowCount())
        ]

    def selected_label(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))

    def select_label(self, label: int | None) -> None:
        """Select ``label``'s row without asking to focus it (the selection came from napari)."""
        quiet, self._quiet = self._quiet, True
        try:
            labels = self.labels()
            if label is not None and label in labels:
                r = labels.index(label)
                self.table.selectRow(r)
                self.table.scrollToItem(self.table.item(r, 0))
            else:
                self.table.clearSelection()
        finally:
            self._quiet = quiet

    def _on_selection(self) -> None:
        label = self.selected_label()
        if not self._quiet and label is not None:
            self.focus_requested.emit(label)

    def _delete_selected(self) -> None:
        label = self.selected_label()
        if label is not None:
            self.delete_requested.emit(label)


class GlandController:
    """Applies the annotation rules to the labels layer of one :class:`AssistantWidget`."""

    def __init__(self, w: AssistantWidget) -> None:
        self.w = w
        self.numbering = GlandNumbering()
        self.brush = BrushMemory()
        self.outlines = False
        self.layer: Any | None = None  # the labels layer whose events are connected
        self.list = GlandList(w)
        self.list.focus_requested.connect(self.focus_gland)
        self.list.delete_requested.connect(self.delete_gland)
        self.list.auto_numbering_changed.connect(self._set_auto)
        self.tool = PolygonTool(w.viewer, w.layers, self._on_traced, self._on_tool_changed)
        self._timer = QTimer(w)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_list)
        w.session.image_changed.connect(self.on_image_shown)
        w.session.project_changed.connect(lambda _p: self._on_project_changed())
        inserted = getattr(getattr(getattr(w.viewer, "layers", None), "events", None), "inserted", None)
        if inserted is not None:  # a labels layer recreated without an image switch (it was deleted)
            inserted.connect(lambda _e=None: QTimer.singleShot(0, self._follow_labels_layer))

    # -- per image ---------------------------------------------------------------------------------
    def labels(self) -> Any | None:
        return self.w.layers.labels

    def on_image_shown(self, _image_id: str | None = None) -> None:
        """An image is on the canvas: paint mode, a brush for its size, a fresh number."""
        layer = self.labels()
        self._attach(layer)
        if layer is None:
            self.refresh_list()
            return
        data = np.asarray(layer.data)
        if layer.mode not in DRAWING_MODES:
            layer.mode = "paint"
        # set only what changes: napari re-renders the whole labels layer on every ``contour``
        # assignment and rebuilds the brush cursor on every ``brush_size`` one (5-8 ms a switch)
        brush = self.brush.choose(data.shape, layer.brush_size)
        if brush != layer.brush_size:
            layer.brush_size = brush
        layer.selected_label = self.numbering.start(data)
        contour = OUTLINE_CONTOUR if self.outlines else 0
        if layer.contour != contour:
            layer.contour = contour
        self.refresh_list()

    def _follow_labels_layer(self) -> None:
        layer = self.labels()
        if layer is not None and layer is not self.layer:
            self.on_image_shown()

    def _on_project_changed(self) -> None:
        self.tool.stop(activate_labels=False)
        self._attach(self.labels())
        self.refresh_list()

    def _attach(self, layer: Any | None) -> None:
        if layer is self.layer:
            return
        if self.layer is not None:
            for name, slot in self._slots():
                try:
                    getattr(self.layer.events, name).disconnect(slot)
                except Exception:  # noqa: BLE001 - a deleted layer's emitters may be gone
                    pass
        self.layer = layer
        if layer is not None:
            for name, slot in self._slots():
                getattr(layer.events, name).connect(slot)

    def _slots(self) -> list[tuple[str, Any]]:
        """``paint``: a stroke, fill, traced gland or deletion ended; ``set_data``: undo, redo,
        a new image (the list is recounted after both); ``selected_label``: the number changed."""
        return [
            ("paint", self._on_paint),
            ("set_data", self._on_changed),
            ("selected_label", self._on_selected),
        ]

    # -- events ------------------------------------------------------------------------------------
    def _on_paint(self, _event: Any = None) -> None:
        """A stroke, fill, traced gland or deletion ended: maybe advance the number; recount."""
        if not self._advance():
            QTimer.singleShot(0, self._advance)
        self._on_changed()

    def _advance(self) -> bool:
        """Select the next fresh number if the selected one has just been used (``after_edit``).

        A brush stroke announces its undo step once painted, but ``data_setitem`` and a direct
        ``paint`` call announce it before they write: then the check runs again once control is
        back in the event loop (and a traced gland calls it itself, :meth:`_on_traced`)."""
        layer = self.layer
        if layer is None:
            return False
        new = self.numbering.after_edit(layer.selected_label, np.asarray(layer.data))
        if new is not None:
            layer.selected_label = new
        return new is not None

    def _on_changed(self, _event: Any = None) -> None:
        self._timer.start(COUNT_DEBOUNCE_MS)

    def _on_selected(self, _event: Any = None) -> None:
        layer = self.layer
        if layer is None:
            return
        self.numbering.selected(layer.selected_label, np.asarray(layer.data))
        self.list.select_label(int(layer.selected_label))

    def _on_traced(self, label: int, area: int) -> None:
        self._advance()
        self._on_changed()
        self.w.session.report(f"Gland {label} filled from its outline ({area:,} px); Ctrl+Z undoes it.")

    def _on_tool_changed(self, active: bool) -> None:
        button = getattr(self.w, "trace_button", None)
        if button is not None:
            button.blockSignals(True)
            button.setChecked(active)
            button.blockSignals(False)

    def _set_auto(self, on: bool) -> None:
        self.numbering.enabled = bool(on)

    # -- actions -----------------------------------------------------------------------------------
    def refresh_list(self) -> None:
        """Recount the glands now (one ``np.bincount``) and redraw the list and its tab title."""
        self._timer.stop()
        layer = self.labels()
        areas = gland_areas(None if layer is None else np.asarray(layer.data))
        self.list.set_areas(areas, None if layer is None else int(layer.selected_label))
        tabs = getattr(self.w, "tabs", None)
        if tabs is not None:
            index = tabs.indexOf(self.list)
            if index >= 0:
                tabs.setTabText(index, f"Glands ({len(areas)})" if layer is not None else "Glands")

    def new_gland(self) -> int | None:
        """Select a fresh number (largest + 1) and the brush, so the next stroke starts a gland."""
        layer = self.labels()
        if layer is None:
            return None
        self.tool.stop()
        label = self.numbering.start(np.asarray(layer.data))
        layer.selected_label = label
        self.w.layers.activate_labels()
        if layer.mode not in DRAWING_MODES or layer.mode == "erase":
            layer.mode = "paint"
        self.w.session.say(f"New gland: number {label}.")
        return label

    def toggle_trace(self) -> bool:
        """Start or stop the outline tool; returns whether it is on."""
        on = self.tool.toggle()
        self._on_tool_changed(on)
        if on:
            self.w.session.say(
                "Trace a gland's outline: drag, or click - move - click. It is filled as a new gland."
            )
        return on

    def toggle_outlines(self) -> bool:
        """Outlines (contour) or filled glands; kept from image to image."""
        self.outlines = not self.outlines
        layer = self.labels()
        if layer is not None:
            layer.contour = OUTLINE_CONTOUR if self.outlines else 0
        button = getattr(self.w, "outline_button", None)
        if button is not None:
            button.blockSignals(True)
            button.setChecked(self.outlines)
            button.blockSignals(False)
        return self.outlines

    def focus_gland(self, label: int) -> None:
        """Select gland ``label`` (the brush then corrects it) and centre the view on it."""
        layer = self.labels()
        if layer is None:
            return
        centre = gland_centre(np.asarray(layer.data), label)
        if centre is None:
            return
        layer.selected_label = int(label)
        viewer = self.w.viewer
        if viewer is not None:
            world = layer.data_to_world(centre)
            viewer.camera.center = tuple(float(x) for x in world)

    def delete_gland(self, label: int) -> int:
        """Remove gland ``label`` as one undoable step; returns the pixels removed."""
        layer = self.labels()
        if layer is None:
            return 0
        rr, cc = gland_indices(np.asarray(layer.data), label)
        if rr.size == 0:
            return 0
        layer.data_setitem((rr, cc), 0)  # one undo step; its paint event autosaves
        self.refresh_list()
        self.w.session.report(f"Gland {label} deleted ({rr.size:,} px); Ctrl+Z brings it back.")
        return int(rr.size)


class GlandTools:
    """The annotation actions of :class:`AssistantWidget` (a mixin: handlers of the action table)."""

    glands: GlandController

    def new_gland(self) -> int | None:
        return self.glands.new_gland()

    def toggle_trace(self) -> bool:
        return self.glands.toggle_trace()

    def toggle_outlines(self) -> bool:
        return self.glands.toggle_outlines()

    def show_shortcuts(self) -> ShortcutsDialog:
        """The keyboard help: the napari dock's keys and napari's; in a window that owns the keys
        (the desktop window: the panel has no shortcuts of its own), that window's help."""
        host = self.window()  # type: ignore[attr-defined]
        if not getattr(self, "shortcuts", None) and host is not self and hasattr(host, "show_shortcuts"):
            return host.show_shortcuts()
        return show_shortcuts(self, shortcut_rows(PANEL))  # type: ignore[arg-type]


__all__ = ["COUNT_DEBOUNCE_MS", "GlandController", "GlandList", "GlandTools", "OUTLINE_CONTOUR"]
