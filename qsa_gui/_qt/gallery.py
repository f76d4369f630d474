"""Thumbnail grid of the project's images: status chips and highlighted, ranked suggestions.

Why: users of comparable tools keep asking "which image next?". The gallery answers at a glance:
every tile shows the image, its name, a status chip (unlabelled grey, in progress amber, labelled
green, segmented blue) and, for images suggested in the latest round, a large rank badge ("#1")
with a coloured border and the scores behind the rank (``u`` = uncertainty, ``r`` =
representativeness).

Records are any objects with the :class:`qsa_gui.core.project.store.ImageRecord` attributes (``id``,
``name``, ``status``, ``split``, ``prediction_path``, ``suggestion``), so the widget has no
dependency on the project module. Thumbnails come from a callable ``image_id -> array | None`` and
are loaded lazily (only for tiles that get painted), off the GUI thread by default, downscaled to
``thumbnail_size`` pixels and cached.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPalette, QPen
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

ThumbnailProvider = Callable[[str], "np.ndarray | None"]

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


def score_text(record: Any) -> str:
    """``"u=0.123 r=0.87"`` for a suggested image, "" otherwise (missing scores are left out)."""
    suggestion = getattr(record, "suggestion", None) or {}
    parts = []
    if suggestion.get("uncertainty") is not None:
        parts.append(f"u={float(suggestion['uncertainty']):.3f}")
    if suggestion.get("representativeness") is not None:
        parts.append(f"r={float(suggestion['representativeness']):.2f}")
    return " ".join(parts)


_BREAK_AFTER = "_-. "


def wrap_name(name: str, fits: Callable[[str], bool], elide_start: Callable[[str], str]) -> list[str]:
    """Lay a file name out on one or two lines so that the part that tells images apart shows.

    Names of a series share their start ("gland_", "TCGA-…"): eliding in the middle or at the end
    hides the number and the class that distinguish them. So: one line if it ``fits``; else two
    lines broken after a separator (``_ - . space``), the most balanced break whose halves both
    fit; else the longest prefix that fits, and the rest elided at its *start* (``elide_start``),
    so the end of the name (number, extension) always stays visible.
    """
    if not name or fits(name):
        return [name]
    best: tuple[int, list[str]] | None = None
    for i, ch in enumerate(name[:-1]):
        if ch in _BREAK_AFTER:
            first, rest = name[: i + 1], name[i + 1 :]
            if fits(first) and fits(rest):
                balance = abs(len(first) - len(rest))
                if best is None or balance < best[0]:
                    best = (balance, [first, rest])
    if best is not None:
        return best[1]
    k = 1
    while k < len(name) and fits(name[: k + 1]):
        k += 1
    seps = [i + 1 for i, ch in enumerate(name[:k]) if ch in _BREAK_AFTER]
    cut = seps[-1] if seps and seps[-1] >= max(1, k // 2) else k
    first, rest = name[:cut], name[cut:]
    return [first, rest if fits(rest) else elide_start(rest)]


def _to_unit_range(a: np.ndarray) -> np.ndarray:
    """Float image scaled to [0, 1] for display, whatever the input dtype."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == bool:
        return a.astype(np.float32)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if np.issubdtype(a.dtype, np.floating) and f.size and f.min() >= 0.0 and f.max() <= 1.0:
        return f
    lo, hi = np.percentile(f, (0.5, 99.5)) if f.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((f - lo) / (hi - lo), 0.0, 1.0)


def make_thumbnail(image: np.ndarray, size: int = 128) -> np.ndarray:
    """Downscale ``image`` (HxW or HxWxC; uint8, uint16, bool or float) to fit ``size`` px.

    Returns a contiguous uint8 ``h x w x 3`` array with ``max(h, w) <= size`` (smaller images are
    kept as they are). Cheap on large images: a stride subsample to at most ~4x the target, then
    a block mean (area averaging, so no aliasing).
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {np.shape(image)}")
    a = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
    h, w = a.shape[:2]
    if max(h, w) > size:
        step = max(1, max(h, w) // (4 * size))
        a = a[::step, ::step]
        h, w = a.shape[:2]
        f = math.ceil(max(h, w) / size)
        fh, fw = min(f, h), min(f, w)
        h2, w2 = h // fh, w // fw
        a = _to_unit_range(a[: h2 * fh, : w2 * fw]).reshape(h2, fh, w2, fw, a.shape[2]).mean(axis=(1, 3))
    else:
        a = _to_unit_range(a)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(np.round(a * 255.0).astype(np.uint8))


def array_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 HxWx3 array -> QImage that owns its pixels (safe after the array is freed)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


# -- model -----------------------------------------------------------------------------------------
class _ThumbnailLoader:
    """One short-lived Python thread draining a queue of thumbnail requests.

    A plain ``threading.Thread`` (not a QThread child of the widget) so that destroying the
    widget while a thumbnail is being read can never abort the process; the thread exits as soon
    as the queue is empty. Results are handed back through ``notify`` (a Qt signal emit).
    """

    def __init__(self, notify: Callable[[], None], size: int) -> None:
        self._notify = notify
        self.size = size
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._done: list[tuple[int, str, np.ndarray | None]] = []
        self._thread: threading.Thread | None = None
        self._fn: ThumbnailProvider | None = None
        self._generation = 0

    def reset(self, fn: ThumbnailProvider | None) -> None:
        with self._lock:
            self._queue.clear()
            self._queued.clear()
            self._done.clear()
            self._fn = fn
            self._generation += 1

    @property
    def generation(self) -> int:
        return self._generation

    def request(self, image_id: str) -> None:
        with self._lock:
            if image_id in self._queued:
                return
            self._queue.append(image_id)
            self._queued.add(image_id)
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="qsa-thumbnails", daemon=True)
            thread = self._thread
        thread.start()

    def take(self) -> list[tuple[int, str, np.ndarray | None]]:
        """Loaded results; their ids stay "requested" until taken so none is loaded twice."""
        with self._lock:
            done, self._done = self._done, []
            for _generation, image_id, _thumb in done:
                self._queued.discard(image_id)
        return done

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return
                image_id = self._queue.popleft()
                fn, generation = self._fn, self._generation
            thumb = load_thumbnail(fn, image_id, self.size)
            with self._lock:
                first = not self._done
                self._done.append((generation, image_id, thumb))
            if first:
                try:
                    self._notify()
                except RuntimeError:  # the model was deleted (widget closed): stop quietly
                    with self._lock:
                        self._queue.clear()
                        self._thread = None
                    return


def load_thumbnail(fn: ThumbnailProvider | None, image_id: str, size: int) -> np.ndarray | None:
    """Call the provider and downscale; any error -> None (a "no preview" tile, logged)."""
    if fn is None:
        return None
    try:
        image = fn(image_id)
        return None if image is None else make_thumbnail(image, size)
    except Exception as exc:  # noqa: BLE001 - one unreadable image must not break the gallery
        logger.warning("no thumbnail for %s: %s", image_id, exc)
        return None


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
            value = (getattr(record, "suggestion", None) or {}).get(key)
            return None if value is None else float(value)
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
        if suggestion.get("uncertainty") is not None:
            lines.append(
                f"u = uncertainty {float(suggestion['uncertainty']):.3f} "
                "(how much the suggestive models disagree; higher = more to learn)"
            )
        if suggestion.get("representativeness") is not None:
            lines.append(
                f"r = representativeness {float(suggestion['representativeness']):.3f} "
                "(similarity to the unlabelled images; higher = more typical)"
            )
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
        name = natural_key(str(record.name)) + (str(record.id),)
        if self._sort == SORT_RANK:
            rank = suggestion_rank(record)
            return (0, rank, name) if rank is not None else (1, 0, name)
        return (name,)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        return self._key(left) < self._key(right)


# -- delegate --------------------------------------------------------------------------------------
class GalleryDelegate(QStyledItemDelegate):
    """Paints one tile: thumbnail, rank badge, name, status chip and scores."""

    PAD = 8
    GAP = 4
    NAME_LINES = 2  # long names wrap (see wrap_name); every tile keeps room for two lines

    def __init__(self, thumbnail_size: int = 128, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbnail_size = int(thumbnail_size)

    @staticmethod
    def _small_font(font: QFont) -> QFont:
        small = QFont(font)
        size = font.pointSizeF()
        if size > 0:
            small.setPointSizeF(max(7.0, size * 0.85))
        return small

    def _line_heights(self, font: QFont) -> tuple[int, int, int]:
        name_h = QFontMetrics(font).height()
        small_h = QFontMetrics(self._small_font(font)).height()
        chip_h = small_h + 4
        return name_h, chip_h, small_h

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        name_h, chip_h, small_h = self._line_heights(option.font)
        width = self.thumbnail_size + 2 * self.PAD + 16
        height = (
            self.PAD
            + self.thumbnail_size
            + self.GAP
            + self.NAME_LINES * name_h
            + self.GAP
            + chip_h
            + 2
            + small_h
            + self.PAD
        )
        return QSize(width, height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        palette: QPalette = option.palette
        rect = QRectF(option.rect).adjusted(2, 2, -2, -2)
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        status = index.data(STATUS_ROLE) or STATUS_UNLABELLED
        rank = index.data(RANK_ROLE)
        highlight = rank is not None and status != STATUS_LABELLED
        accent = QColor(SUGGESTION_COLOUR)

        # tile background and border
        base = QColor(palette.color(QPalette.ColorRole.Base))
        if selected:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(70)
        elif hovered:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(28)
        else:
            fill = base
        path = QPainterPath()
        path.addRoundedRect(rect, 8, 8)
        painter.fillPath(path, fill)
        if highlight:
            painter.setPen(QPen(accent, 3))
        elif selected:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
        else:
            border = QColor(palette.color(QPalette.ColorRole.Mid))
            border.setAlpha(110)
            painter.setPen(QPen(border, 1))
        painter.drawPath(path)

        # thumbnail, centred in a square frame
        t = self.thumbnail_size
        frame = QRectF(rect.center().x() - t / 2, rect.top() + self.PAD - 2, t, t)
        image = index.data(THUMBNAIL_ROLE)
        if isinstance(image, QImage) and not image.isNull():
            scale = min(t / image.width(), t / image.height())
            w, h = image.width() * scale, image.height() * scale
            picture = QRectF(frame.center().x() - w / 2, frame.center().y() - h / 2, w, h)
            painter.drawImage(picture, image)
            edge = QColor(palette.color(QPalette.ColorRole.Text))
            edge.setAlpha(40)
            painter.setPen(QPen(edge, 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(picture.adjusted(0.5, 0.5, -0.5, -0.5))
        else:
            picture = frame
            placeholder = QColor(palette.color(QPalette.ColorRole.Text))
            placeholder.setAlpha(22)
            painter.fillRect(frame, placeholder)
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.setFont(self._small_font(option.font))
            text = "no preview" if index.data(THUMBNAIL_STATE_ROLE) == "missing" else "loading…"
            painter.drawText(frame, int(Qt.AlignmentFlag.AlignCenter), text)

        small = self._small_font(option.font)
        if rank is not None:
            badge_colour = accent if highlight else QColor("#8c8c8c")
            self._draw_badge(painter, picture, f"#{rank}", badge_colour, option.font)
        if index.data(SPLIT_ROLE) == "test":
            self._draw_tag(painter, picture, "test", small)

        # name
        name_h, chip_h, small_h = self._line_heights(option.font)
        text_left = rect.left() + self.PAD
        text_width = rect.width() - 2 * self.PAD
        y = frame.bottom() + self.GAP + 2
        name_font = QFont(option.font)
        name_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(name_font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))  # the selection fill is translucent
        lines = self.name_lines(str(index.data(Qt.ItemDataRole.DisplayRole)), name_font, text_width)
        top = y + (self.NAME_LINES - len(lines)) * name_h / 2  # one line: centred in the two
        for i, line in enumerate(lines):
            painter.drawText(
                QRectF(text_left, top + i * name_h, text_width, name_h),
                int(Qt.AlignmentFlag.AlignCenter),
                line,
            )
        y += self.NAME_LINES * name_h + self.GAP

        # status chip, centred
        painter.setFont(small)
        fm = QFontMetrics(small)
        label = STATUS_TEXT.get(status, status)
        chip_w = fm.horizontalAdvance(label) + 14
        chip = QRectF(rect.center().x() - chip_w / 2, y, chip_w, chip_h)
        chip_path = QPainterPath()
        chip_path.addRoundedRect(chip, chip_h / 2, chip_h / 2)
        colour = QColor(STATUS_COLOURS.get(status, STATUS_COLOURS[STATUS_UNLABELLED]))
        painter.fillPath(chip_path, colour)
        painter.setPen(QColor("#1b1b1b") if status == STATUS_IN_PROGRESS else QColor("white"))
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), label)
        y += chip_h + 2

        # scores of a suggested image
        record = index.data(RECORD_ROLE)
        scores = score_text(record) if record is not None else ""
        if scores:
            muted = QColor(palette.color(QPalette.ColorRole.Text))
            muted.setAlpha(170)
            painter.setPen(muted)
            painter.drawText(
                QRectF(text_left, y, text_width, small_h), int(Qt.AlignmentFlag.AlignCenter), scores
            )
        painter.restore()

    @staticmethod
    def name_lines(name: str, font: QFont, width: float) -> list[str]:
        """The tile's name lines (see :func:`wrap_name`); the full name is in the tooltip."""
        fm = QFontMetrics(font)
        w = int(width)
        return wrap_name(
            name,
            lambda text: fm.horizontalAdvance(text) <= w,
            lambda text: fm.elidedText(text, Qt.TextElideMode.ElideLeft, w),
        )

    @staticmethod
    def _draw_badge(painter: QPainter, frame: QRectF, text: str, colour: QColor, font: QFont) -> None:
        badge_font = QFont(font)
        size = font.pointSizeF()
        if size > 0:
            badge_font.setPointSizeF(size * 1.25)
        badge_font.setWeight(QFont.Weight.Bold)
        fm = QFontMetrics(badge_font)
        w, h = fm.horizontalAdvance(text) + 14, fm.height() + 4
        badge = QRectF(frame.left() + 5, frame.top() + 5, w, h)
        path = QPainterPath()
        path.addRoundedRect(badge, 6, 6)
        painter.fillPath(path, colour)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
        painter.drawPath(path)
        painter.setFont(badge_font)
        painter.setPen(QColor("white"))
        painter.drawText(badge, int(Qt.AlignmentFlag.AlignCenter), text)

    @staticmethod
    def _draw_tag(painter: QPainter, frame: QRectF, text: str, font: QFont) -> None:
        fm = QFontMetrics(font)
        w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
        tag = QRectF(frame.right() - w - 5, frame.top() + 5, w, h)
        path = QPainterPath()
        path.addRoundedRect(tag, 4, 4)
        painter.fillPath(path, QColor(20, 20, 20, 170))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(tag, int(Qt.AlignmentFlag.AlignCenter), text)


# -- widget ----------------------------------------------------------------------------------------
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
        self.view.setItemDelegate(GalleryDelegate(thumbnail_size, self.view))
        self.view.setModel(self.proxy)

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


__all__ = [
    "FILTERS",
    "GalleryDelegate",
    "GalleryFilterProxy",
    "GalleryModel",
    "GalleryWidget",
    "SORTS",
    "STATUS_COLOURS",
    "SUGGESTION_COLOUR",
    "display_status",
    "make_thumbnail",
    "natural_key",
    "score_text",
    "suggestion_rank",
    "tooltip_text",
    "wrap_name",
]
