"""The heat-map's legend in the panel: what it shows, a colour bar with its scale, an opacity slider.

Why: a colour overlay without a scale cannot be read, and the two possible maps (the suggestive
ensemble's disagreement, or the segmentation model's own doubt) are different quantities. The
legend names the one shown, draws its colours over a checkerboard (so "clear where certain" is
visible), gives the image's mean (for the disagreement: the table's u) and binds a slider to the
layer's opacity. The chosen opacity is kept for the next image's layer.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QLinearGradient, QPainter
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QSizePolicy, QSlider, QWidget

from qsa_gui.core.workflow.heatmap import KIND_DISAGREEMENT, HeatmapSource

from .layers import HEATMAP_COLORS, HEATMAP_OPACITY

CHECKER = 6  # px of the transparency checkerboard


class ColourBar(QWidget):
    """The heat-map colours from 0 to the top of the scale, painted over a checkerboard."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(240, 16)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        light, dark = QColor(235, 235, 235), QColor(190, 190, 190)
        for y in range(0, self.height(), CHECKER):
            for x in range(0, self.width(), CHECKER):
                p.fillRect(x, y, CHECKER, CHECKER, light if (x // CHECKER + y // CHECKER) % 2 else dark)
        grad = QLinearGradient(QPointF(rect.left(), 0), QPointF(rect.right(), 0))
        n = len(HEATMAP_COLORS) - 1
        for i, (r, g, b, a) in enumerate(HEATMAP_COLORS):
            grad.setColorAt(i / n, QColor.fromRgbF(r, g, b, a))
        p.fillRect(rect, grad)
        p.setPen(QColor(120, 120, 120))
        p.drawRect(rect)
        p.end()


class HeatLegend(QGroupBox):
    """Title, colour bar with its end labels, meaning, and the opacity slider of the heat layer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Heat-map", parent)
        self.layer: Any | None = None
        self.source: HeatmapSource | None = None
        self.bar = ColourBar(self)
        self.low_label = QLabel("", self)
        self.high_label = QLabel("", self)
        self.high_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.meaning_label = QLabel("", self)
        self.meaning_label.setWordWrap(True)
        self.meaning_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(HEATMAP_OPACITY * 100))
        self.opacity_slider.setToolTip("Opacity of the heat-map over the image")
        self.opacity_slider.valueChanged.connect(self._on_slider)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 6)
        grid.setSpacing(3)
        grid.addWidget(self.bar, 0, 0, 1, 2)
        grid.addWidget(self.low_label, 1, 0)
        grid.addWidget(self.high_label, 1, 1)
        grid.addWidget(self.meaning_label, 2, 0, 1, 2)
        opacity = QLabel("Opacity", self)
        row = QGridLayout()
        row.addWidget(opacity, 0, 0)
        row.addWidget(self.opacity_slider, 0, 1)
        grid.addLayout(row, 3, 0, 1, 2)
        self.setVisible(False)

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    def show_for(self, source: HeatmapSource | None, layer: Any | None, mean: float | None = None) -> None:
        """Describe ``source``'s map shown in ``layer`` (None hides the legend)."""
        self._unbind()
        self.source = source
        if source is None or layer is None:
            self.setVisible(False)
            return
        self.layer = layer
        layer.opacity = self.opacity
        emitter = getattr(getattr(layer, "events", None), "opacity", None)
        if emitter is not None:  # napari's own layer controls move the slider too
            emitter.connect(self._on_layer_opacity)
        agree = "members agree" if source.kind == KIND_DISAGREEMENT else "model sure"
        disagree = "members disagree" if source.kind == KIND_DISAGREEMENT else "model guessing"
        self.setTitle(
            f"Heat-map: {source.title}" + (f" (round {source.round_index})" if source.round_index else "")
        )
        self.low_label.setText(f"0 · {agree} (clear)")
        self.high_label.setText(
            f"{source.scale:g}{'+' if source.kind == KIND_DISAGREEMENT else ''} · {disagree}"
        )
        text = source.meaning[0].upper() + source.meaning[1:] + "."
        if mean is not None:
            text += f" This image: mean {mean:.3f}" + (" = u." if source.kind == KIND_DISAGREEMENT else ".")
        self.meaning_label.setText(text)
        self.setVisible(True)

    def _unbind(self) -> None:
        emitter = getattr(getattr(self.layer, "events", None), "opacity", None)
        if emitter is not None:
            try:
                emitter.disconnect(self._on_layer_opacity)
            except Exception:  # noqa: BLE001 - never connected or the layer is gone
                pass
        self.layer = None

    def _on_slider(self, value: int) -> None:
        if self.layer is not None and abs(float(self.layer.opacity) - value / 100.0) > 1e-9:
            self.layer.opacity = value / 100.0

    def _on_layer_opacity(self, _event: Any = None) -> None:
        if self.layer is None:
            return
        value = round(float(self.layer.opacity) * 100)
        if value != self.opacity_slider.value():
            self.opacity_slider.blockSignals(True)
            self.opacity_slider.setValue(value)
            self.opacity_slider.blockSignals(False)


__all__ = ["ColourBar", "HeatLegend"]
