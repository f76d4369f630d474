"""The project settings dialog: a preset, the main knobs, and how long Suggest and Retrain take.

Why a dialog with an estimate: the right settings depend on the machine (a laptop wants a round in
minutes, a GPU affords the published width) and a user cannot guess what 300 iterations cost.
Choosing a preset fills the fields; every change re-estimates both jobs for this project on this
device (:mod:`qsa_gui.core.workflow.estimate`). Timing a new model size takes a second or two, so
it runs on a worker thread and the label says "estimating…" meanwhile; it is skipped while a job
runs (it would slow the job and time the wrong thing). Settings are validated by the core's
``Settings``; an invalid value disables OK and says which field. OK saves to the project (one
atomic manifest write), refused while a job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qsa_gui.core.errors import QSAError
from qsa_gui.core.model.calibration import Calibration
from qsa_gui.core.settings import Settings, check_device_available
from qsa_gui.core.settings_presets import (
    SETTINGS_PRESETS,
    describe_value,
    matching_preset,
    parse_assignments,
)
from qsa_gui.core.workflow.estimate import estimate_jobs, settings_calibration

CUSTOM = "custom"
ERROR_STYLE = "color: #d62728;"
DEBOUNCE_MS = 250


def available_devices() -> list[str | None]:
    """None (automatic), ``cpu`` and the accelerators this machine really has."""
    import torch

    out: list[str | None] = [None, "cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return [d for d in out if _device_ok(d)]


def _device_ok(device: str | None) -> bool:
    try:
        check_device_available(device)
    except ValueError:
        return False
    return True


def _bits_combo(parent: QWidget) -> QComboBox:
    from qsa_gui.core.quant.inq import MAX_BITS, MIN_BITS

    box = QComboBox(parent)
    box.addItem("float (no quantization)", None)
    for b in range(MAX_BITS, MIN_BITS - 1, -1):
        box.addItem(f"{b} bits", b)
    return box


def _spin(parent: QWidget, low: int, high: int) -> QSpinBox:
    box = QSpinBox(parent)
    box.setRange(low, high)
    return box


class SettingsDialog(QDialog):
    """Edit a project's Settings (see the module docstring). ``is_busy``: a job runs now."""

    def __init__(
        self,
        project: Any,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        is_busy: Callable[[], bool] = lambda: False,
        calibration: Callable[[Settings], Calibration | None] = settings_calibration,
    ) -> None:
        super().__init__(parent)
        from qsa_gui.core.model.fcn import PRESETS

        self.setWindowTitle("Project settings")
        self.setObjectName("qsaSettingsDialog")
        self.project = project
        self.is_busy = is_busy
        self._calibration = calibration
        self._base = settings
        self.saved: Settings | None = None
        self.estimates: dict[str, Any] = {}
        self._loading = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsa-estimate")
        self._future: Future | None = None
        self._future_settings: Settings | None = None

        self.preset_box = QComboBox(self)
        for p in SETTINGS_PRESETS.values():
            self.preset_box.addItem(p.title, p.name)
            self.preset_box.setItemData(
                self.preset_box.count() - 1, p.description, Qt.ItemDataRole.ToolTipRole
            )
        self.preset_box.addItem("Custom", CUSTOM)
        self.preset_help = QLabel("", self)
        self.preset_help.setWordWrap(True)
        self.width_box = QComboBox(self)
        for name in PRESETS:
            self.width_box.addItem(name, name)
        self.ensemble_bits = _bits_combo(self)
        self.seg_bits = _bits_combo(self)
        self.ensemble_size = _spin(self, 1, 64)
        self.seg_models = _spin(self, 1, 64)
        self.iterations = _spin(self, 0, 1_000_000)
        self.device_box = QComboBox(self)
        for d in available_devices():
            self.device_box.addItem("automatic (GPU when there is one)" if d is None else d, d)
        self.extra = QLineEdit(self)
        self.extra.setPlaceholderText("more: KEY=VALUE …, e.g. patch_size=96 inq_iterations=20")
        self.extra.setToolTip("Any other setting as KEY=VALUE pairs separated by spaces ('none' clears one)")
        self.estimate_label = QLabel("", self)
        self.estimate_label.setWordWrap(True)
        self.message_label = QLabel("", self)
        self.message_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Preset", self.preset_box)
        form.addRow("", self.preset_help)
        form.addRow("Model width", self.width_box)
        form.addRow("Suggestive FCNs", self.ensemble_size)
        form.addRow("Suggestive bits", self.ensemble_bits)
        form.addRow("Segmentation FCNs", self.seg_models)
        form.addRow("Segmentation bits", self.seg_bits)
        form.addRow("Iterations", self.iterations)
        form.addRow("Device", self.device_box)
        form.addRow("Other", self.extra)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.message_label)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._estimate)
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._collect)

        self.show_settings(settings)
        self.preset_box.currentIndexChanged.connect(self._on_preset)
        for box in (self.width_box, self.ensemble_bits, self.seg_bits, self.device_box):
            box.currentIndexChanged.connect(self._changed)
        for spin in (self.ensemble_size, self.seg_models, self.iterations):
            spin.valueChanged.connect(self._changed)
        self.extra.textChanged.connect(self._changed)
        self._changed()

    # -- fields <-> Settings ---------------------------------------------------------------------
    def show_settings(self, s: Settings) -> None:
        """Put ``s`` into the fields (without re-entering the change handlers)."""
        self._loading = True
        try:
            self._base = s
            for box, value in (
                (self.width_box, s.preset),
                (self.ensemble_bits, s.ensemble_bits),
                (self.seg_bits, s.seg_bits),
                (self.device_box, s.device),
            ):
                i = box.findData(value)
                if i < 0:  # e.g. a device this machine lacks: shown, so OK can refuse it by name
                    box.addItem(describe_value(value), value)
                    i = box.count() - 1
                box.setCurrentIndex(i)
            self.ensemble_size.setValue(s.ensemble_size)
            self.seg_models.setValue(s.seg_models)
            self.iterations.setValue(s.iterations)
            preset = matching_preset(s)
            self.preset_box.setCurrentIndex(self.preset_box.findData(preset.name if preset else CUSTOM))
            self._show_preset_help()
        finally:
            self._loading = False

    def current_settings(self) -> Settings:
        """The fields as Settings; a ValueError names the bad field."""
        fields_ = {
            "preset": self.width_box.currentData(),
            "ensemble_bits": self.ensemble_bits.currentData(),
            "seg_bits": self.seg_bits.currentData(),
            "device": self.device_box.currentData(),
            "ensemble_size": self.ensemble_size.value(),
            "seg_models": self.seg_models.value(),
            "iterations": self.iterations.value(),
        }
        extra = parse_assignments(self.extra.text().split())
        overlap = set(extra) & set(fields_)
        if overlap:
            raise ValueError(f"settings.{sorted(overlap)[0]} has its own field above; change it there")
        settings = replace(self._base, **fields_, **extra)
        settings.check_device()
        return settings

    def _show_preset_help(self) -> None:
        name = self.preset_box.currentData()
        self.preset_help.setText(
            SETTINGS_PRESETS[name].description if name in SETTINGS_PRESETS else "Your own values."
        )

    # -- changes ---------------------------------------------------------------------------------
    def _on_preset(self) -> None:
        if self._loading:
            return
        name = self.preset_box.currentData()
        if name in SETTINGS_PRESETS:
            try:
                base = self.current_settings()
            except ValueError:
                base = self._base
            self.show_settings(SETTINGS_PRESETS[name].apply(base))  # the extra values are in base now
            self._loading = True
            self.extra.setText("")
            self._loading = False
        self._show_preset_help()
        self._changed()

    def _changed(self, *_args: object) -> None:
        if self._loading:
            return
        try:
            settings = self.current_settings()
        except ValueError as exc:
            self._invalid(str(exc))
            return
        self.message_label.setText("")
        self.message_label.setStyleSheet("")
        self.ok_button.setEnabled(True)
        preset = matching_preset(settings)
        self._loading = True
        self.preset_box.setCurrentIndex(self.preset_box.findData(preset.name if preset else CUSTOM))
        self._loading = False
        self._show_preset_help()
        self._timer.start(DEBOUNCE_MS)

    def _invalid(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE)
        self.ok_button.setEnabled(False)
        self.estimate_label.setText("")

    # -- the estimate ----------------------------------------------------------------------------
    def _estimate(self) -> None:
        try:
            settings = self.current_settings()
        except ValueError:
            return
        if self.is_busy():  # only a timing already cached: a new one would slow the job
            cal = settings_calibration(settings, measure=False)
            if cal is None:
                self.estimate_label.setText("Estimated times: once the running job has finished.")
            else:
                self._show_estimate(settings, cal)
            return
        if self._future is not None and not self._future.done():
            self._timer.start(DEBOUNCE_MS)  # one timing at a time; try again shortly
            return
        self.estimate_label.setText("Estimating the time on this machine…")
        self._future_settings = settings
        self._future = self._pool.submit(self._calibration, settings)
        self._poll.start()

    def _collect(self) -> None:
        future = self._future
        if future is None or not future.done():
            return
        self._poll.stop()
        self._future = None
        try:
            cal = future.result()
        except (ValueError, RuntimeError, QSAError) as exc:
            self.estimate_label.setText(f"No estimate: {exc}")
            return
        try:
            if self._future_settings == self.current_settings() and cal is not None:
                self._show_estimate(self._future_settings, cal)
            else:
                self._timer.start(0)  # the fields changed meanwhile
        except ValueError:
            pass

    def _show_estimate(self, settings: Settings, cal: Calibration) -> None:
        est = estimate_jobs(self.project, settings, cal)
        s, r = est["suggest"], est["retrain"]
        self.estimates = est
        self.estimate_label.setText(f"On this machine ({cal.device}): Suggest {s.text}, Retrain {r.text}.")
        self.estimate_label.setToolTip(f"Suggest: {s.detail}\nRetrain: {r.detail}")

    # -- OK --------------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the settings to the project and close; refused (dialog stays) while a job runs."""
        try:
            settings = self.current_settings()
        except ValueError as exc:
            self._invalid(str(exc))
            return
        if self.is_busy():
            self.message_label.setText("A job is running: wait for it or cancel it, then press OK again.")
            self.message_label.setStyleSheet(ERROR_STYLE)
            return
        try:
            self.project.set_settings(settings.to_dict())
        except (QSAError, OSError) as exc:
            self._invalid(f"Could not save the settings: {exc}")
            return
        self.saved = settings
        self.accept()

    def done(self, result: int) -> None:  # noqa: D401 - Qt override: stop the worker with the dialog
        self._timer.stop()
        self._poll.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().done(result)


def estimate_text(project: Any, settings: Settings, kind: str) -> str:
    """``about 3 min with Quick settings`` for a job about to start, from a cached timing only
    ("" when this device never timed these settings: measuring now would delay the job)."""
    try:
        cal = settings_calibration(settings, measure=False)
        if cal is None or project is None:
            return ""
        est = estimate_jobs(project, settings, cal)[kind]
    except (ValueError, QSAError, OSError):
        return ""
    preset = matching_preset(settings)
    return f"{est.text} with {preset.title if preset else 'custom'} settings"


def announce_estimate(widget: Any, kind: str, settings: Settings) -> None:
    """A job just started: its estimate in the progress panel (until a measured ETA) and the
    status line, e.g. "Retrain: about 3 min with Quick settings"."""
    text = estimate_text(widget.project, settings, kind)
    if text:
        widget.progress_panel.set_estimate(text)
        widget.session.say(f"{widget.runner.job_name}: {text}")


def open_settings_dialog(widget: Any) -> SettingsDialog:
    """Open the dialog for an AssistantWidget's project (window-modal, returns at once)."""
    from qsa_gui.core.workflow.common import project_settings

    try:
        settings = project_settings(widget.project)
    except QSAError:  # e.g. a CUDA device stored on a machine without one: start from the values
        settings = Settings.from_dict({**widget.project.settings, "device": None})
    dialog = SettingsDialog(widget.project, settings, widget, is_busy=lambda: widget.runner.is_running)

    def finished(_result: int) -> None:
        if dialog.saved is not None:
            preset = matching_preset(dialog.saved)
            widget.session.report(f"Settings saved ({preset.title if preset else 'custom'}).", "info")
        dialog.deleteLater()

    dialog.finished.connect(finished)
    dialog.open()
    return dialog


__all__ = [
    "SettingsDialog",
    "announce_estimate",
    "available_devices",
    "estimate_text",
    "open_settings_dialog",
]
