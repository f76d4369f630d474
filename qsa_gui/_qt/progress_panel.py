"""Progress bar, stage, ETA, live metrics and a Cancel button for a :class:`JobRunner`.

Why: users of comparable tools complain about "no progress bar, no way to stop". The panel
shows what the running job is doing, how long is left, its live metrics (e.g. the loss), and a
Cancel button that is only visible while a job runs. After the job it keeps a one-line outcome
("Done", "Cancelled - nothing was changed", or the error message).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from qsa_gui.components.outcomes import import_cancelled
from qsa_gui.core.jobs import Progress
from qsa_gui.core.workflow.transfer import ImportCancelled

from .runner import JobRunner

BAR_STEPS = 1000
ERROR_STYLE = "color: #d62728;"


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """``{"loss": 0.2134, "lr": 0.001}`` -> ``"loss 0.213 · lr 0.001"`` (non-numbers skipped)."""
    parts = []
    for key, value in metrics.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(v):
            text = str(v)
        elif float(v).is_integer() and abs(v) < 1e6:
            text = str(int(v))
        elif abs(v) >= 1000 or abs(v) < 1e-3:
            text = f"{v:.3g}"
        else:
            text = f"{v:.3f}"
        parts.append(f"{key.replace('_', ' ')} {text}")
    return " · ".join(parts)


class ProgressPanel(QWidget):
    """Shows a runner's progress; :meth:`attach` wires it to a :class:`JobRunner`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner: JobRunner | None = None
        self.estimate_text = ""  # the job's estimate before it started, shown until a measured ETA
        self.title_label = QLabel("Idle", self)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.stage_label = QLabel("", self)
        self.stage_label.setWordWrap(False)
        self.stage_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.eta_label = QLabel("", self)
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.metrics_label = QLabel("", self)
        self.metrics_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the job; the previous model and labels stay as they were")
        self.cancel_button.clicked.connect(self._on_cancel)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.title_label, 0, 0, 1, 2)
        grid.addWidget(self.bar, 1, 0)
        grid.addWidget(self.cancel_button, 1, 1)
        grid.addWidget(self.stage_label, 2, 0)
        grid.addWidget(self.eta_label, 2, 1)
        grid.addWidget(self.metrics_label, 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        self._set_busy(False)

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, runner: JobRunner) -> None:
        """Follow ``runner`` (detaching from any earlier one)."""
        self.detach()
        self.runner = runner
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        runner.busy_changed.connect(self._set_busy)
        self._set_busy(runner.is_running)

    def detach(self) -> None:
        if self.runner is None:
            return
        runner, self.runner = self.runner, None
        for signal, slot in (
            (runner.started, self._on_started),
            (runner.progress, self._on_progress),
            (runner.finished, self._on_finished),
            (runner.failed, self._on_failed),
            (runner.cancelled, self._on_cancelled),
            (runner.busy_changed, self._set_busy),
        ):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already disconnected / runner deleted
                pass
        self._set_busy(False)

    def reset(self) -> None:
        """Back to "Idle" (a project switch): the previous project's outcome must not stay."""
        if self.runner is not None and self.runner.is_running:
            return
        self.title_label.setText("Idle")
        self.title_label.setStyleSheet("")
        self.bar.setValue(0)
        for label in (self.stage_label, self.eta_label, self.metrics_label):
            label.setText("")
            label.setToolTip("")
        self._set_busy(False)

    # -- slots -----------------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.cancel_button.setText("Cancel")
        # idle: the stage / ETA and live-metrics rows fold away (room for the gallery); a
        # cancelled or failed job keeps its stage line, which then says why
        self.metrics_label.setVisible(busy)
        self._show_stage_row(busy or bool(self.stage_label.text()))

    def _show_stage_row(self, visible: bool) -> None:
        self.stage_label.setVisible(visible)
        self.eta_label.setVisible(visible)

    def set_estimate(self, text: str) -> None:
        """Show the job's estimate (e.g. "about 3 min") until its own ETA is measured."""
        self.estimate_text = text
        if text and self.runner is not None and self.runner.is_running:
            self.eta_label.setText(text)

    def _on_started(self, name: str) -> None:
        self.estimate_text = ""
        self.title_label.setText(name)
        self.title_label.setStyleSheet("")
        self.bar.setValue(0)
        self.stage_label.setText("starting…")
        self.eta_label.setText("")
        self.metrics_label.setText("")
        self.metrics_label.setVisible(True)
        self._show_stage_row(True)

    def _on_progress(self, progress: Progress, fraction: float, eta_text: str, stage_text: str) -> None:
        self.bar.setValue(int(round(fraction * BAR_STEPS)))
        if self.runner is None or not self.runner.cancel_requested:
            self.stage_label.setText(stage_text)
            self.stage_label.setToolTip(stage_text)
        measured = bool(eta_text) and eta_text[0].isdigit()
        if not measured and self.estimate_text:
            eta_text = self.estimate_text
        self.eta_label.setText(f"{eta_text} left" if measured else eta_text)
        metrics = format_metrics(progress.metrics or {})
        if metrics:
            self.metrics_label.setText(metrics)

    def _on_finished(self, _result: object) -> None:
        self.bar.setValue(BAR_STEPS)
        self.title_label.setText(f"{self._name()} — done")
        self.stage_label.setText("")
        self.eta_label.setText("")
        self._show_stage_row(False)

    def _on_cancelled(self) -> None:
        self.title_label.setText(f"{self._name()} — cancelled")
        exc = self.runner.last_cancel if self.runner is not None else None
        if isinstance(exc, ImportCancelled):  # files imported before the cancel stay: say so
            self.stage_label.setText(import_cancelled(len(exc.report.added), exc.total)[0])
        else:
            self.stage_label.setText("Nothing was changed.")
        self.eta_label.setText("")
        self._show_stage_row(True)

    def _on_failed(self, message: str) -> None:
        self.title_label.setText(f"{self._name()} — failed")
        self.title_label.setStyleSheet(ERROR_STYLE)
        self.stage_label.setText(message)
        self.stage_label.setToolTip(message)
        self.eta_label.setText("")
        self._show_stage_row(True)

    def _on_cancel(self) -> None:
        if self.runner is not None and self.runner.is_running:
            self.runner.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.stage_label.setText("cancelling at the next safe point…")

    def _name(self) -> str:
        return self.runner.job_name if self.runner is not None and self.runner.job_name else "Job"


__all__ = ["ProgressPanel", "format_metrics"]
