"""How a gallery tile is painted: thumbnail, wrapped name, status chip and rank badge.

Why a delegate (not one widget per tile): a project of thousands of images must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import (
    QModelIndex,
    QObject,
    QRectF,
    QSize,
    Qt,
)
from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPalette, QPen
from qtpy.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from .model import (
    RANK_ROLE,
    RECORD_ROLE,
    SPLIT_ROLE,
    STATUS_COLOURS,
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    STATUS_ROLE,
    STATUS_TEXT,
    STATUS_UNLABELLED,
    SUGGESTION_COLOUR,
    THUMBNAIL_ROLE,
    THUMBNAIL_STATE_ROLE,
    score_text,
)

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

    def tile_height(self, font: QFont, thumbnail_size: int | None = None) -> int:
        """A tile's height at ``thumbnail_size`` (default: the current one) in ``font``."""
        name_h, chip_h, small_h = self._line_heights(font)
        t = self.thumbnail_size if thumbnail_size is None else int(thumbnail_size)
        return self.PAD + t + self.GAP + self.NAME_LINES * name_h + self.GAP + chip_h + 2 + small_h + self.PAD

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(self.thumbnail_size + 2 * self.PAD + 16, self.tile_height(option.font))

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
