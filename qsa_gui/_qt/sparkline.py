"""A live training-loss curve painted with QPainter: cheap enough to update while a model trains.

Why not matplotlib here: a matplotlib redraw is Python-heavy, and while the training thread
competes for the GIL one redraw of even a tiny figure took 50-150 ms on a loaded 2-core machine,
i.e. a visible stall several times per second. This widget only stores the values and lets Qt
coalesce repaints; a paint is a few polylines (well under a few milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPalette, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

LINE_COLOUR = "#3d8fd6"


def ema(values: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average, skipping non-finite values (the smoothed line)."""
    out = np.empty(len(values), dtype=float)
    acc = math.nan
    for i, v in enumerate(values):
        if math.isfinite(v):
            acc = v if not math.isfinite(acc) else alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def subsample(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of ``range(n)``, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - 1, max_points).astype(int), n - 1])


class LossSparkline(QWidget):
    """Raw loss (faint) and its moving average (bold) against the step, with the y range."""

    def __init__(self, parent: QWidget | None = None, *, title: str = "training loss") -> None:
        super().__init__(parent)
        self.title = title
        self.values: list[float] = []
        self.paint_count = 0
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(320, 150)

    def set_values(self, values: Sequence[float]) -> None:
        """Replace the curve; Qt merges many calls into one repaint."""
        self.values = [float(v) for v in values]
        self.update()

    def append(self, value: float) -> None:
        self.values.append(float(value))
        self.update()

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt override
        self.paint_count += 1
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        fg = pal.color(QPalette.ColorRole.WindowText)
        muted = QColor(fg)
        muted.setAlpha(140)
        grid = QColor(fg)
        grid.setAlpha(40)
        font = QFont(self.font())
        if font.pointSizeF() > 0:
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        painter.setFont(font)
        fm = painter.fontMetrics()
        r = QRectF(self.rect()).adjusted(4, 4, -6, -4)
        y = np.asarray(self.values, dtype=float)
        finite = y[np.isfinite(y)]
        head = self.title
        if len(finite):
            head += f"   {finite[-1]:.3f}   (step {len(y)})"
        painter.setPen(fg)
        painter.drawText(
            QRectF(r.left(), r.top(), r.width(), fm.height()), int(Qt.AlignmentFlag.AlignLeft), head
        )
        label_w = fm.horizontalAdvance("0.000") + 6
        plot = QRectF(r.left() + label_w, r.top() + fm.height() + 4, r.width() - label_w, 0)
        plot.setBottom(r.bottom() - fm.height() - 2)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(plot)
        if not len(finite) or plot.height() < 10 or plot.width() < 10:
            painter.setPen(muted)
            painter.drawText(plot, int(Qt.AlignmentFlag.AlignCenter), "no training running")
            painter.end()
            return
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        n = len(y)

        def to_point(i: float, v: float) -> QPointF:
            x = plot.left() + (i / max(1, n - 1)) * plot.width()
            return QPointF(x, plot.bottom() - (v - lo) / (hi - lo) * plot.height())

        for frac in (0.25, 0.5, 0.75):
            yy = plot.top() + frac * plot.height()
            painter.drawLine(QPointF(plot.left(), yy), QPointF(plot.right(), yy))
        idx = subsample(n, max(2, int(plot.width())))
        smooth = ema(y, alpha=min(1.0, 10.0 / max(10, n)))
        colour = QColor(LINE_COLOUR)
        faint = QColor(colour)
        faint.setAlpha(90)
        for series, pen in ((y, QPen(faint, 1.0)), (smooth, QPen(colour, 2.0))):
            poly = QPolygonF([to_point(float(i), float(series[i])) for i in idx if math.isfinite(series[i])])
            painter.setPen(pen)
            painter.drawPolyline(poly)
        painter.setPen(muted)
        painter.drawText(
            QRectF(r.left(), plot.top() - fm.height() / 2, label_w - 4, fm.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            f"{hi:.3g}",
        )
        painter.drawText(
            QRectF(r.left(), plot.bottom() - fm.height() / 2, label_w - 4, fm.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            f"{lo:.3g}",
        )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
            int(Qt.AlignmentFlag.AlignRight),
            f"step {n}",
        )
        painter.end()


__all__ = ["LossSparkline", "ema", "subsample"]
