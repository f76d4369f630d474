"""The gallery's data: display statuses and colours, item roles, the list model and its filter.

Why apart from the painting: what a tile *says* (status, rank, scores, tooltip) is tested and
reused without a delegate or a view.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np
from qtpy.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from qtpy.QtGui import QImage

from qsa_gui.components.records import MODEL_FREE_STRATEGIES, R_WHY, U_WHY, suggestion_scores

from .thumbnails import ThumbnailProvider, _ThumbnailLoader, array_to_qimage, load_thumbnail

logger = logging.getLogger(__name__)

# Display statuses: the three project statuses plus "segmented" (unlabelled, has a prediction).
STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED = "unlabelled", "in_progress", "labelled"
STATUS_SEGMENTED = "segmented"
STATUS_COLOURS: dict[str, str] = {
    STATUS_UNLABELLED: "#7d848f",
    STATUS_IN_PROGRESS: "#f0a202",
    STATUS_LABELLED: "#2e9e4f",
    STATUS_SEGMENTED: "#2f7fd8",
}
STATUS_TEXT: dict[str, str] = {
    STATUS_UNLABELLED: "unlabelled",
    STATUS_IN_PROGRESS: "in progress",
    STATUS_LABELLED: "labelled",
    STATUS_SEGMENTED: "segmented",
}
#: Highlight of suggested images (badge and border): distinct from every status colour.
SUGGESTION_COLOUR = "#d6246e"

FILTER_ALL, FILTER_SUGGESTED, FILTER_UNLABELLED, FILTER_LABELLED = (
    "all",
    "suggested",
    "unlabelled",
    "labelled",
)
FILTERS: tuple[tuple[str, str], ...] = (
    (FILTER_ALL, "All"),
    (FILTER_SUGGESTED, "Suggested"),
    (FILTER_UNLABELLED, "Unlabelled"),
    (FILTER_LABELLED, "Labelled"),
)
SORT_NAME, SORT_RANK = "name", "rank"
SORTS: tuple[tuple[str, str], ...] = ((SORT_RANK, "Rank"), (SORT_NAME, "Name"))

_USER = int(Qt.ItemDataRole.UserRole)
ID_ROLE = _USER + 1  # str
STATUS_ROLE = _USER + 2  # display status (str)
RANK_ROLE = _USER + 3  # int | None
UNCERTAINTY_ROLE = _USER + 4  # float | None
REPRESENTATIVENESS_ROLE = _USER + 5  # float | None
THUMBNAIL_ROLE = _USER + 6  # QImage | None (None while loading or when unavailable)
THUMBNAIL_STATE_ROLE = _USER + 7  # "ready" | "loading" | "missing"
RECORD_ROLE = _USER + 8  # the record object
SPLIT_ROLE = _USER + 9  # "pool" | "test"


# -- pure helpers (no Qt) ------------------------------------------------------------------------
def display_status(record: Any) -> str:
    """Status shown on the chip: labelled > in progress > segmented (has a prediction) > unlabelled."""
    status = getattr(record, "status", STATUS_UNLABELLED) or STATUS_UNLABELLED
    if status in (STATUS_LABELLED, STATUS_IN_PROGRESS):
        return status
    return STATUS_SEGMENTED if getattr(record, "prediction_path", None) else STATUS_UNLABELLED


def suggestion_rank(record: Any) -> int | None:
    """1-based rank of the image in the latest suggestion round, None when not suggested."""
    suggestion = getattr(record, "suggestion", None)
    if not suggestion or suggestion.get("rank") is None:
        return None
    return int(suggestion["rank"])


def natural_key(text: str) -> tuple:
    """Sort key that orders ``img2`` before ``img10``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text)
    )


def group_key(record: Any) -> tuple:
    """Sort key that keeps the regions of one slide together, in raster order (top to bottom,
    then left to right); other images by their natural name. A region's name starts with its
    slide's name ("CMU-1.svs [x 1550, y 1044]"), so slides sort among the images by name."""
    name = str(record.name)
    region = getattr(record, "region", None)
    if not region:
        return natural_key(name)
    y0, _, x0, _ = (int(v) for v in region["box"])
    return natural_key(name.rsplit(" [", 1)[0]) + ((0, y0, ""), (0, x0, ""))


def score_text(record: Any) -> str:
    """``"u=0.123 r=0.87"`` for a suggested image, "" otherwise (missing scores are left out, and so
    are the zeros of a round ranked before any model existed)."""
    scores = suggestion_scores(getattr(record, "suggestion", None))
    parts = []
    if "uncertainty" in scores:
        parts.append(f"u={scores['uncertainty']:.3f}")
    if "representativeness" in scores:
        parts.append(f"r={scores['representativeness']:.2f}")
    return " ".join(parts)


class GalleryModel(QAbstractListModel):
    """List model over image records with lazily loaded, cached thumbnails (see the roles above)."""

    _thumbnails_ready = Signal()
    thumbnail_loaded = Signal(str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        thumbnail_size: int = 128,
        background_loading: bool = True,
        cache_size: int = 2000,
    ) -> None:
        super().__init__(parent)
        self._records: list[Any] = []
        self._row: dict[str, int] = {}
        self._fn: ThumbnailProvider | None = None
        self.thumbnail_size = int(thumbnail_size)
        self.background_loading = background_loading
        self._cache: OrderedDict[str, QImage | None] = OrderedDict()
        self._cache_size = int(cache_size)
        self._loader = _ThumbnailLoader(self._thumbnails_ready.emit, self.thumbnail_size)
        self._thumbnails_ready.connect(self._collect_thumbnails)

    # -- records -----------------------------------------------------------------------------
    def set_records(self, records: Iterable[Any], thumbnails: ThumbnailProvider | None) -> None:
        """Replace all records; the thumbnail cache survives when the provider is the same."""
        self.beginResetModel()
        self._records = list(records)
        self._row = {str(r.id): i for i, r in enumerate(self._records)}
        if thumbnails != self._fn:  # == so that two bound methods of one project compare equal
            self._cache.clear()
            self._loader.reset(thumbnails)
        self._fn = thumbnails
        self.endResetModel()

    def update_record(self, record: Any) -> bool:
        """Replace the record with the same id; False if the id is unknown."""
        row = self._row.get(str(record.id))
        if row is None:
            return False
        self._records[row] = record
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)
        return True

    def record(self, image_id: str) -> Any | None:
        row = self._row.get(image_id)
        return None if row is None else self._records[row]

    def row_of(self, image_id: str) -> int | None:
        return self._row.get(image_id)

    @property
    def records(self) -> list[Any]:
        return list(self._records)

    def invalidate_thumbnail(self, image_id: str) -> None:
        """Forget a cached thumbnail (e.g. the image file changed); reloaded when next painted."""
        self._cache.pop(image_id, None)
        row = self._row.get(image_id)
        if row is not None:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [THUMBNAIL_ROLE, THUMBNAIL_STATE_ROLE])

    def wait_thumbnails(self, timeout: float | None = 10.0) -> bool:
        """Wait for the background loader to drain, then deliver its results (tests, shutdown)."""
        ok = self._loader.wait(timeout)
        self._collect_thumbnails()
        return ok

    # -- Qt model API ----------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._records)

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        role = int(role)
        if role == int(Qt.ItemDataRole.DisplayRole):
            return str(record.name)
        if role == ID_ROLE:
            return str(record.id)
        if role == STATUS_ROLE:
            return display_status(record)
        if role == RANK_ROLE:
            return suggestion_rank(record)
        if role in (UNCERTAINTY_ROLE, REPRESENTATIVENESS_ROLE):
            key = "uncertainty" if role == UNCERTAINTY_ROLE else "representativeness"
            return suggestion_scores(getattr(record, "suggestion", None)).get(key)
        if role == SPLIT_ROLE:
            return getattr(record, "split", "pool")
        if role == RECORD_ROLE:
            return record
        if role == THUMBNAIL_ROLE:
            return self._thumbnail(str(record.id))
        if role == THUMBNAIL_STATE_ROLE:
            image_id = str(record.id)
            if image_id not in self._cache:
                return "loading"
            return "missing" if self._cache[image_id] is None else "ready"
        if role == int(Qt.ItemDataRole.ToolTipRole):
            return tooltip_text(record)
        return None

    # -- thumbnails ------------------------------------------------------------------------------
    def _thumbnail(self, image_id: str) -> QImage | None:
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            return self._cache[image_id]
        if self._fn is None:
            return None
        if self.background_loading:
            self._loader.request(image_id)
            return None
        thumb = load_thumbnail(self._fn, image_id, self.thumbnail_size)
        self._store(image_id, thumb)
        return self._cache[image_id]

    def _store(self, image_id: str, thumb: np.ndarray | None) -> None:
        self._cache[image_id] = None if thumb is None else array_to_qimage(thumb)
        self._cache.move_to_end(image_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _collect_thumbnails(self) -> None:
        for generation, image_id, thumb in self._loader.take():
            if generation != self._loader.generation:
                continue  # loaded for an earlier provider
            self._store(image_id, thumb)
            row = self._row.get(image_id)
            if row is not None:
                index = self.index(row, 0)
                self.dataChanged.emit(index, index, [THUMBNAIL_ROLE, THUMBNAIL_STATE_ROLE])
            self.thumbnail_loaded.emit(image_id)


def tooltip_text(record: Any) -> str:
    """Plain-text tooltip: name, status, split and the suggestion details."""
    lines = [str(record.name), f"status: {STATUS_TEXT[display_status(record)]}"]
    region = getattr(record, "region", None)
    if region:
        y0, y1, x0, x1 = (int(v) for v in region["box"])
        lines.append(f"region of slide {str(record.name).rsplit(' [', 1)[0]}: x {x0}-{x1}, y {y0}-{y1} "
                     f"(tissue {float(region.get('tissue', 1.0)):.0%})")  # fmt: skip
    split = getattr(record, "split", "pool")
    if split and split != "pool":
        lines.append(f"split: {split} (held out for evaluation)")
    suggestion = getattr(record, "suggestion", None)
    if suggestion:
        head = f"suggested #{suggestion.get('rank')}"
        if suggestion.get("round") is not None:
            head += f" in round {suggestion['round']}"
        if suggestion.get("strategy"):
            head += f" ({suggestion['strategy']})"
        lines.append(head)
        scores = suggestion_scores(suggestion)
        if suggestion.get("strategy") in MODEL_FREE_STRATEGIES:
            lines.append("picked for variety (nothing labelled yet, so no model scores)")
        if "uncertainty" in scores:
            lines.append(f"u = uncertainty {scores['uncertainty']:.3f} ({U_WHY})")
        if "representativeness" in scores:
            lines.append(f"r = representativeness {scores['representativeness']:.3f} ({R_WHY})")
    return "\n".join(lines)


class GalleryFilterProxy(QSortFilterProxyModel):
    """Filter (all / suggested / unlabelled / labelled) and sort (name / suggestion rank).

    "Suggested" = suggested in the latest round (labelled ones included, so the round's progress
    stays visible); "Unlabelled" = anything not labelled yet (in progress and segmented too).
    Sorting by rank puts suggested images first by rank, then the rest by name.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mode = FILTER_ALL
        self._sort = SORT_RANK
        self.setDynamicSortFilter(True)
        self.sort(0)

    @property
    def filter_mode(self) -> str:
        return self._mode

    @property
    def sort_key(self) -> str:
        return self._sort

    def set_filter_mode(self, mode: str) -> None:
        if mode not in dict(FILTERS):
            raise ValueError(f"unknown filter {mode!r}; expected one of {[m for m, _ in FILTERS]}")
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self._mode = mode
            self.endFilterChange()
        else:
            self._mode = mode
            self.invalidate()

    def set_sort_key(self, key: str) -> None:
        if key not in dict(SORTS):
            raise ValueError(f"unknown sort {key!r}; expected one of {[k for k, _ in SORTS]}")
        self._sort = key
        self.invalidate()
        self.sort(0)

    def accepts(self, record: Any) -> bool:
        if self._mode == FILTER_ALL:
            return True
        if self._mode == FILTER_SUGGESTED:
            return suggestion_rank(record) is not None
        labelled = getattr(record, "status", None) == STATUS_LABELLED
        return labelled if self._mode == FILTER_LABELLED else not labelled

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        record = self.sourceModel().index(source_row, 0, source_parent).data(RECORD_ROLE)
        return record is not None and self.accepts(record)

    def _key(self, index: QModelIndex) -> tuple:
        record = index.data(RECORD_ROLE)
        name = group_key(record) + ((1, 0, str(record.id)),)
        if self._sort == SORT_RANK:
            rank = suggestion_rank(record)
            return (0, rank, name) if rank is not None else (1, 0, name)
        return (name,)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        return self._key(left) < self._key(right)


# -- delegate --------------------------------------------------------------------------------------
