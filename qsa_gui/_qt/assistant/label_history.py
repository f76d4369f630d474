"""The "Label history…" dialog: every kept version of the shown image's labels, and Restore.

Why a window-modal dialog opened with ``open()``: a job's result must never wait on it (see
:mod:`.dialogs`), and while it is open the labels cannot change under the chosen row. What
restoring does, and in which order, is :mod:`qsa_gui.components.label_history`'s rule.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qsa_gui.components.label_history import VersionRow

COLUMNS = ("Version", "Saved", "By", "Glands", "State", "Note")


class LabelHistoryDialog(QDialog):
    """Lists :class:`VersionRow` s (newest first); ``restore_requested(version)`` on Restore."""

    restore_requested = Signal(int)

    def __init__(self, parent: QWidget | None, image_name: str, rows: list[VersionRow]) -> None:
        super().__init__(parent)
        self.setObjectName("qsaLabelHistory")
        self.setWindowTitle(f"Label history of {image_name}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.rows = rows
        intro = QLabel(
            "Every saved version of this image's labels. Restoring makes a copy of the chosen "
            "version the current labels; nothing is deleted, so a restore can be undone here too.",
            self,
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(rows), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, row in enumerate(rows):
            glands = "?" if row.glands is None else str(row.glands)
            cells = (str(row.version), row.when, row.who, glands, row.state, row.note)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.version)
                self.table.setItem(r, c, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.restore_button = QPushButton("Restore this version", self)
        self.restore_button.setEnabled(False)
        buttons.addButton(self.restore_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.restore_button.clicked.connect(self._restore)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self._restore())
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(620, 320)
        if len(rows) > 1:
            self.table.selectRow(1)  # the version before the current one: the usual wish

    def selected_row(self) -> VersionRow | None:
        selected = self.table.selectionModel().selectedRows()
        return self.rows[selected[0].row()] if selected else None

    def select_version(self, version: int) -> None:
        for r, row in enumerate(self.rows):
            if row.version == version:
                self.table.selectRow(r)
                return
        raise ValueError(f"no label version {version} in this history")

    def _selection_changed(self) -> None:
        row = self.selected_row()
        self.restore_button.setEnabled(row is not None and not row.current)
        if row is not None and row.current:
            self.restore_button.setToolTip("This version is the current labels already")
        else:
            self.restore_button.setToolTip("Make a copy of this version the current labels")

    def _restore(self) -> None:
        row = self.selected_row()
        if row is None or row.current:
            return
        self.restore_requested.emit(row.version)
        self.accept()


__all__ = ["LabelHistoryDialog"]
