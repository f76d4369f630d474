"""History of the annotation rounds and model versions, plus a live training-loss curve.

Why: users want to see whether labelling more images actually helps, and that a retrained model
that got worse was kept out (the regression guard). :class:`HistoryPlot` draws, per model
version, the number of labelled images it was trained on (grey bars, right axis) and its
validation metrics (lines with markers, left axis); versions the guard rejected are drawn as
hollow red markers off the line. :class:`LiveLossPlot` is a separate small canvas so that the
many loss updates during training redraw only a tiny figure, at most a few times per second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtGui import QPalette
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

DEFAULT_METRICS: tuple[str, ...] = ("object_f1", "object_dice", "pixel_dice")
METRIC_LABELS: dict[str, str] = {
    "object_f1": "object F1",
    "object_dice": "object Dice",
    "pixel_dice": "pixel Dice",
    "object_hausdorff": "object Hausdorff",
    "val_loss": "validation loss",
}
METRIC_STYLE: tuple[tuple[str, str], ...] = (
    ("#1f6fb4", "o"),
    ("#2a9d8f", "s"),
    ("#7b4fb8", "D"),
    ("#c77d12", "^"),
    ("#5b6770", "v"),
)
REJECTED_COLOUR = "#d62728"
BAR_COLOUR = "#9aa3ad"
REJECTED_LABEL = "kept out by regression guard"


def _hex(colour: Any) -> str:
    return colour.name()


def _palette_colours(widget: QWidget) -> tuple[str, str, str]:
    """(background, foreground, grid) from the widget palette, so the plot fits napari's theme."""
    palette = widget.palette()
    bg = palette.color(QPalette.ColorRole.Window)
    fg = palette.color(QPalette.ColorRole.WindowText)
    grid = palette.color(QPalette.ColorRole.Mid)
    return _hex(bg), _hex(fg), _hex(grid)


def _style_axes(ax: Any, fg: str, grid: str) -> None:
    ax.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_color(grid)
    ax.tick_params(colors=fg, labelsize=8)
    ax.xaxis.label.set_color(fg)
    ax.yaxis.label.set_color(fg)
    ax.title.set_color(fg)


def _metric_value(row: Mapping[str, Any], key: str) -> float:
    metrics = row.get("metrics") or {}
    value = metrics.get(key, row.get(key))
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


class HistoryPlot(QWidget):
    """Labelled count (bars) and validation metrics (lines) per model version, plus live loss.

    ``rows``: one dict per model version, in order: ``round``, ``n_labelled``, ``version``,
    ``accepted`` (bool) and ``metrics`` (dict, e.g. object_f1, object_dice, pixel_dice, val_loss).
    Metrics missing from a row leave a gap. Only the metrics in ``metrics`` are drawn (values in
    [0, 1] by default; pass e.g. ``("val_loss",)`` for an autoscaled loss history).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        metrics: Sequence[str] = DEFAULT_METRICS,
        show_live_loss: bool = True,
    ) -> None:
        super().__init__(parent)
        self.metrics = tuple(metrics)
        self.rows: list[dict[str, Any]] = []
        # constrained layout sizes the margins to the tick and axis labels at every width, so the
        # "validation score" / "labelled images" labels are never cut off in a narrow dock
        self.figure = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
        self.figure.get_layout_engine().set(w_pad=4 / 72, h_pad=4 / 72, hspace=0.0, wspace=0.0)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setParent(self)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(160)  # leaves the gallery room in a 900 px window
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.bar_axes = self.axes.twinx()
        self.metric_lines: dict[str, Line2D] = {}
        self.rejected_markers: dict[str, Line2D] = {}
        self.bars: Any = None
        self.legend: Any = None  # the figure legend (above the axes), None while empty
        self.live_loss = LiveLossPlot(self) if show_live_loss else None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.canvas, 3)
        if self.live_loss is not None:
            layout.addWidget(self.live_loss, 1)
        self._draw()

    # -- public API ------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Redraw the history from ``rows`` (one per model version, oldest first)."""
        self.rows = [dict(r) for r in rows]
        self._draw()

    def set_live_loss(self, values: Sequence[float]) -> None:
        """Update the live training-loss curve (cheap; call as often as progress arrives)."""
        if self.live_loss is not None:
            self.live_loss.set_values(values)

    def clear_live_loss(self) -> None:
        if self.live_loss is not None:
            self.live_loss.set_values([])

    # -- drawing ---------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._draw()
        super().changeEvent(event)

    def _draw(self) -> None:
        bg, fg, grid = _palette_colours(self)
        self.figure.set_facecolor(bg)
        ax, bar_ax = self.axes, self.bar_axes
        ax.clear()
        bar_ax.clear()
        for old_legend in list(self.figure.legends):
            old_legend.remove()
        self.legend = None
        self.metric_lines.clear()
        self.rejected_markers.clear()
        self.bars = None
        for a in (ax, bar_ax):
            _style_axes(a, fg, grid)
        ax.set_zorder(bar_ax.get_zorder() + 1)  # lines above the bars
        ax.patch.set_visible(False)
        bar_ax.yaxis.set_label_position("right")
        bar_ax.yaxis.tick_right()

        rows = self.rows
        if not rows:
            ax.set_xticks([])
            ax.set_yticks([])
            bar_ax.set_yticks([])
            for a in (ax, bar_ax):
                for spine in a.spines.values():
                    spine.set_visible(False)
            ax.text(
                0.5,
                0.5,
                "No model versions yet.\nLabel a few images, then retrain.",
                ha="center",
                va="center",
                color=fg,
                fontsize=10,
                alpha=0.75,
                transform=ax.transAxes,
            )
            self.canvas.draw_idle()
            return

        x = np.arange(len(rows), dtype=float)
        accepted = np.array([bool(r.get("accepted", True)) for r in rows])
        n_labelled = np.array([float(r.get("n_labelled", 0) or 0) for r in rows])
        self.bars = bar_ax.bar(x, n_labelled, width=0.55, color=BAR_COLOUR, alpha=0.45, zorder=1)
        bar_ax.set_ylabel("labelled images", fontsize=9)
        bar_ax.set_ylim(0, max(1.0, n_labelled.max()) * 1.25)
        bar_ax.yaxis.get_major_locator().set_params(integer=True)

        all_values: list[float] = []
        for i, key in enumerate(self.metrics):
            colour, marker = METRIC_STYLE[i % len(METRIC_STYLE)]
            values = np.array([_metric_value(r, key) for r in rows])
            all_values.extend(v for v in values if not math.isnan(v))
            (line,) = ax.plot(
                x[accepted],
                values[accepted],
                color=colour,
                marker=marker,
                markersize=6,
                linewidth=2,
                label=METRIC_LABELS.get(key, key),
                zorder=3,
            )
            self.metric_lines[key] = line
            if (~accepted).any():
                (rejected,) = ax.plot(
                    x[~accepted],
                    values[~accepted],
                    linestyle="none",
                    marker=marker,
                    markersize=8,
                    markerfacecolor="none",
                    markeredgecolor=REJECTED_COLOUR,
                    markeredgewidth=1.8,
                    zorder=4,
                )
                self.rejected_markers[key] = rejected

        in_unit = all(0.0 <= v <= 1.0 for v in all_values)
        if in_unit:
            ax.set_ylim(0.0, 1.05)
            ax.set_ylabel("validation score", fontsize=9)
        else:
            ax.set_ylabel(", ".join(METRIC_LABELS.get(k, k) for k in self.metrics), fontsize=9)
        ax.grid(True, axis="y", color=grid, alpha=0.35, linewidth=0.8)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_xticks(x)
        step = max(1, math.ceil(len(rows) / 12))
        labels = [
            f"{r.get('version', i + 1)}\nround {r.get('round', '?')}" if i % step == 0 else ""
            for i, r in enumerate(rows)
        ]
        ax.set_xticklabels(labels, fontsize=8)
        for tick, ok in zip(ax.get_xticklabels(), accepted, strict=False):
            if not ok:
                tick.set_color(REJECTED_COLOUR)

        handles = list(self.metric_lines.values())
        handles.append(Patch(facecolor=BAR_COLOUR, alpha=0.45, label="labelled images"))
        if (~accepted).any():
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="o",
                    markersize=7,
                    markerfacecolor="none",
                    markeredgecolor=REJECTED_COLOUR,
                    markeredgewidth=1.8,
                    label=REJECTED_LABEL,
                )
            )
        # a figure legend "outside" the axes: the constrained layout reserves room for it
        legend = self.legend = self.figure.legend(
            handles=handles,
            loc="outside upper center",
            ncol=min(len(handles), 3),
            fontsize=8,
            frameon=False,
            handlelength=1.4,
            handletextpad=0.5,
            columnspacing=0.9,
        )
        for text in legend.get_texts():
            text.set_color(fg)
        self.canvas.draw_idle()


class LiveLossPlot(QWidget):
    """Small live loss curve (raw + smoothed) whose redraws are throttled to ``max_fps``.

    :meth:`set_values` only stores the data and schedules one redraw; at most ``max_fps`` redraws
    happen per second however often it is called, so training progress never floods the GUI.
    """

    def __init__(
        self, parent: QWidget | None = None, *, max_fps: float = 5.0, max_points: int = 2000
    ) -> None:
        super().__init__(parent)
        self.values: list[float] = []
        self.max_points = int(max_points)
        self.redraw_count = 0
        self._min_interval = 1.0 / max(0.1, float(max_fps))
        self._last_draw = -math.inf
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._redraw)

        self.figure = Figure(figsize=(6.4, 1.3), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setParent(self)
        self.canvas.setMinimumHeight(90)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.axes = self.figure.add_subplot(1, 1, 1)
        (self.raw_line,) = self.axes.plot([], [], color="#1f6fb4", alpha=0.3, linewidth=1)
        (self.smooth_line,) = self.axes.plot([], [], color="#1f6fb4", linewidth=1.8)
        self.title = self.axes.set_title("training loss", fontsize=8, loc="left")
        self.placeholder = self.axes.text(
            0.5,
            0.5,
            "no training running",
            ha="center",
            va="center",
            fontsize=8,
            transform=self.axes.transAxes,
        )
        self.figure.subplots_adjust(left=0.09, right=0.90, top=0.80, bottom=0.22)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._apply_palette()
        self._redraw()

    def set_values(self, values: Sequence[float]) -> None:
        """Replace the curve's data; the redraw happens later (throttled)."""
        self.values = [float(v) for v in values]
        if self._timer.isActive():
            return
        wait = self._last_draw + self._min_interval - time.monotonic()
        self._timer.start(max(0, int(wait * 1000)))

    def flush(self) -> None:
        """Redraw now if an update is pending (tests, end of training)."""
        if self._timer.isActive():
            self._timer.stop()
            self._redraw()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
            self.canvas.draw_idle()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        bg, fg, grid = _palette_colours(self)
        self.figure.set_facecolor(bg)
        _style_axes(self.axes, fg, grid)
        self.axes.tick_params(labelsize=7)
        self.title.set_color(fg)
        self.placeholder.set_color(fg)
        self.placeholder.set_alpha(0.6)
        self.axes.grid(True, color=grid, alpha=0.3, linewidth=0.6)

    def _redraw(self) -> None:
        self._last_draw = time.monotonic()
        self.redraw_count += 1
        y = np.asarray(self.values, dtype=float)
        x = np.arange(1, len(y) + 1, dtype=float)
        if len(y):
            smooth = _ema(y, alpha=min(1.0, 10.0 / max(10, len(y))))
            if len(y) > self.max_points:  # plot a stride subsample; the last point always kept
                idx = np.unique(np.r_[np.linspace(0, len(y) - 1, self.max_points).astype(int), len(y) - 1])
                x, y, smooth = x[idx], y[idx], smooth[idx]
            self.raw_line.set_data(x, y)
            self.smooth_line.set_data(x, smooth)
            self.title.set_text(f"training loss  {self.values[-1]:.3f}  (step {len(self.values)})")
            self.axes.set_autoscaley_on(True)  # set_ylim() in the empty state turned it off
            self.axes.relim()
            self.axes.autoscale_view()
            self.axes.set_xlim(0.5, max(2.0, float(x[-1]) + 0.5))
        else:
            self.raw_line.set_data([], [])
            self.smooth_line.set_data([], [])
            self.title.set_text("training loss")
            self.axes.set_xlim(0.0, 1.0)
            self.axes.set_ylim(0.0, 1.0)
        has_data = bool(len(y))
        self.axes.tick_params(labelbottom=has_data, labelleft=has_data, length=3.5 if has_data else 0)
        self.placeholder.set_visible(not has_data)
        self.canvas.draw_idle()


def _ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average (the smoothed loss line)."""
    out = np.empty_like(y)
    acc = y[0]
    for i, v in enumerate(y):
        acc = alpha * v + (1 - alpha) * acc if math.isfinite(v) else acc
        out[i] = acc
    return out


__all__ = ["DEFAULT_METRICS", "HistoryPlot", "LiveLossPlot", "REJECTED_LABEL"]
