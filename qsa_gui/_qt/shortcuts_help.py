"""The keyboard help: every shortcut of the action table, plus napari's painting keys.

Why generated: a hand-written list went stale the first time a key changed. The rows come from
:data:`~qsa_gui._qt.actions.ACTIONS` (the panel's ``Alt+`` keys inside napari, the window's menu
keys in the desktop window), the window's own actions (quit, undo...) and
:data:`~qsa_gui._qt.actions.NAPARI_KEYS`, so a key added to the table is listed at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from qtpy.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .actions import ACTIONS, NAPARI_KEYS

PANEL, WINDOW = "panel", "window"
Row = tuple[str, str, str]  # (keys, what it does, where it works)


def _plain(text: str) -> str:
    return text.replace("&", "").rstrip("…").strip()


def shortcut_rows(shell: str = PANEL, extra: Iterable[tuple[str, str]] = ()) -> list[Row]:
    """Every shortcut as (keys, action, where): the action table's for ``shell`` (``panel``: the
    napari dock's window-wide keys; ``window``: the desktop window's menu keys), then ``extra``
    (the window's own actions, as (text, keys)), then napari's painting keys."""
    rows: list[Row] = []
    for spec in ACTIONS.values():
        keys = spec.shortcut if shell == PANEL else ", ".join(spec.menu_shortcuts)
        if keys:
            rows.append((keys, _plain(spec.menu_text or spec.text), "everywhere"))
    seen = {r[1] for r in rows}
    rows += [(keys, _plain(text), "everywhere") for text, keys in extra if keys and _plain(text) not in seen]
    rows += list(NAPARI_KEYS)
    return rows


class ShortcutsDialog(QDialog):
    """A table of :func:`shortcut_rows` (non-modal: it may stay open while painting)."""

    def __init__(self, rows: list[Row], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("qsaShortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Does", "Where"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(720, 640)

    def rows(self) -> list[Row]:
        """What the table shows (tests read it back)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
        ]


def show_shortcuts(parent: QWidget, rows: list[Row]) -> ShortcutsDialog:
    """Show (or raise) the keyboard help of ``parent``; returns the dialog."""
    dialog = parent.findChild(ShortcutsDialog, "qsaShortcutsDialog")
    if dialog is not None:
        dialog.close()
        dialog.deleteLater()
    dialog = ShortcutsDialog(rows, parent)
    dialog.show()
    dialog.raise_()
    return dialog


__all__ = ["PANEL", "Row", "ShortcutsDialog", "WINDOW", "shortcut_rows", "show_shortcuts"]
