"""The gallery widget: the thumbnail grid with its filter and sort combos."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qtpy.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    Qt,
    Signal,
)
from qtpy.QtGui import QPainter, QPalette
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .delegate import GalleryDelegate
from .model import FILTER_ALL, FILTERS, ID_ROLE, SORTS, GalleryFilterProxy, GalleryModel, suggestion_rank
from .thumbnails import ThumbnailProvider

#: The smallest a thumbnail shrinks to when the gallery is short (a laptop screen).
MIN_THUMBNAIL = 48


class _ElidedLabel(QLabel):
    """A one-line label that elides its end ("…") instead of clipping when it is too narrow."""

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(rect, int(self.alignment()), text)


class GalleryWidget(QWidget):
    """Thumbnail grid with a filter and a sort combo.

    Signals: ``image_activated(str id)`` on double click / Enter, ``current_changed(str id)`` when
    the current tile changes to another image (not emitted when it becomes empty).
    """

    image_activated = Signal(str)
    current_changed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        thumbnail_size: int = 128,
        background_loading: bool = True,
    ) -> None:
        super().__init__(parent)
        self.model = GalleryModel(self, thumbnail_size=thumbnail_size, background_loading=background_loading)
        self.proxy = GalleryFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_combo = QComboBox(self)
        for key, text in FILTERS:
            self.filter_combo.addItem(text, key)
        self.sort_combo = QComboBox(self)
        for key, text in SORTS:
            self.sort_combo.addItem(text, key)
        self.sort_combo.setToolTip(
            "Rank: the images suggested in the latest round first (#1 first), then by name"
        )
        for combo in (self.filter_combo, self.sort_combo):  # never clip their text
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.count_label = _ElidedLabel(self)
        self.count_label.setObjectName("galleryCount")
        # the count gives way first in a narrow dock (its full text stays in the tooltip)
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.view = QListView(self)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setWrapping(True)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(6)
        self.view.setMouseTracking(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.delegate = GalleryDelegate(thumbnail_size, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.proxy)
        self.full_thumbnail_size = int(thumbnail_size)
        self.view.viewport().installEventFilter(self)  # a short gallery shrinks its tiles to fit

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Show", self))
        bar.addWidget(self.filter_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Sort", self))
        bar.addWidget(self.sort_combo)
        bar.addSpacing(8)
        bar.addWidget(self.count_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

        self.filter_combo.currentIndexChanged.connect(self._on_filter_combo)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_combo)
        self.view.activated.connect(self._on_activated)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        for signal in (
            self.proxy.modelReset,
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.layoutChanged,
        ):
            signal.connect(self._update_count)
        self._update_count()

    # -- tiles that fit a short gallery ----------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Resize and obj is self.view.viewport():
            self.fit_tiles()
        return False

    def fit_tiles(self) -> None:
        """Shrink the thumbnails (down to :data:`MIN_THUMBNAIL`) until a whole row of tiles fits
        the gallery's height, and grow them back when there is room: on a laptop screen a row
        of cut tiles hides each image's status, which is what the gallery is for."""
        room = self._room()
        if room <= 0:
            return
        full = self.full_thumbnail_size
        extra = self.delegate.tile_height(self.view.font(), full) - full  # the text lines and padding
        size = max(MIN_THUMBNAIL, min(full, room - extra))
        if size != self.delegate.thumbnail_size:
            self.delegate.thumbnail_size = size
            self.view.doItemsLayout()  # uniform item sizes: the cached tile size is recomputed

    @property
    def shrunk(self) -> bool:
        """True while the thumbnails are smaller than asked for (the gallery is short)."""
        return self.delegate.thumbnail_size < self.full_thumbnail_size

    def row_fits(self) -> bool:
        """True when a whole row of tiles fits the gallery's height at the current size."""
        return self._room() >= self.delegate.tile_height(self.view.font())

    def _room(self) -> int:
        """The height a row of tiles may take: the view's, less the spacing above and below."""
        return self.view.viewport().height() - 2 * self.view.spacing()

    # -- public API ------------------------------------------------------------------------------
    def set_records(self, records: Sequence[Any], thumbnails: ThumbnailProvider | None) -> None:
        """Show ``records``; ``thumbnails(image_id)`` returns an image array (or None) on demand."""
        keep = self.current_id()
        self.model.set_records(records, thumbnails)
        if keep is not None and self.model.row_of(keep) is not None:
            self.select(keep)

    def update_record(self, record: Any) -> bool:
        """Refresh one tile (status, suggestion, ...); False if its id is not shown."""
        ok = self.model.update_record(record)
        self._update_count()
        return ok

    def select(self, image_id: str) -> bool:
        """Make ``image_id`` current and scroll to it; switches the filter to All if it hides it."""
        row = self.model.row_of(image_id)
        if row is None:
            return False
        proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not proxy_index.isValid():
            self.set_filter(FILTER_ALL)
            proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.view.setCurrentIndex(proxy_index)
        self.view.scrollTo(proxy_index)
        return True

    def current_id(self) -> str | None:
        index = self.view.currentIndex()
        return index.data(ID_ROLE) if index.isValid() else None

    def visible_ids(self) -> list[str]:
        """Ids in display order under the current filter and sort."""
        return [self.proxy.index(r, 0).data(ID_ROLE) for r in range(self.proxy.rowCount())]

    def set_filter(self, mode: str) -> None:
        """One of ``"all"``, ``"suggested"``, ``"unlabelled"``, ``"labelled"``."""
        self.proxy.set_filter_mode(mode)
        self.filter_combo.blockSignals(True)
        self.filter_combo.setCurrentIndex(self.filter_combo.findData(mode))
        self.filter_combo.blockSignals(False)
        self._update_count()

    def set_sort(self, key: str) -> None:
        """``"rank"`` (suggested first, by rank) or ``"name"`` (natural order)."""
        self.proxy.set_sort_key(key)
        self.sort_combo.blockSignals(True)
        self.sort_combo.setCurrentIndex(self.sort_combo.findData(key))
        self.sort_combo.blockSignals(False)

    @property
    def filter_mode(self) -> str:
        return self.proxy.filter_mode

    @property
    def sort_key(self) -> str:
        return self.proxy.sort_key

    def wait_thumbnails(self, timeout: float | None = 10.0) -> bool:
        """Block until queued thumbnails are loaded and shown (tests, screenshots)."""
        return self.model.wait_thumbnails(timeout)

    # -- slots -----------------------------------------------------------------------------------
    def _on_filter_combo(self, i: int) -> None:
        self.set_filter(self.filter_combo.itemData(i))

    def _on_sort_combo(self, i: int) -> None:
        self.set_sort(self.sort_combo.itemData(i))

    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.image_activated.emit(index.data(ID_ROLE))

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.current_changed.emit(current.data(ID_ROLE))

    def _update_count(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        suggested = sum(1 for r in self.model.records if suggestion_rank(r) is not None)
        text = f"{shown} of {total} images" if shown != total else f"{total} images"
        if suggested:
            text += f" · {suggested} suggested"
        self.count_label.setText(text)
        self.count_label.setToolTip(text)
