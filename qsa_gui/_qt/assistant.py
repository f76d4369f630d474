"""The annotation assistant panel: the napari dock widget and the main window's side panel.

Why one widget for both shells: a pathologist gets the same loop everywhere -- see which images
to label next (ranked, highlighted suggestions), paint glands with napari's Labels tools (saved
automatically), mark an image done, retrain, look at the model's predictions and its uncertainty
heat-map -- and the two shells cannot drift apart. The widget is thin: every computation is a core
job run through :class:`~qsa_gui._qt.runner.JobRunner` on a worker thread, so the window never
freezes; project state lives in :class:`~qsa_gui.core.project.store.Project`.

Public API (used by the PySide6 main window; see /tmp/gui_contract.md)::

    w = AssistantWidget(viewer)                 # viewer: napari.Viewer (or None: no canvas)
                                                # (warms torch up once per process: warm_up=False skips)
    w.open_project(path) / w.new_project(path, name=None) / w.close_project() -> bool
    w.import_images(paths) ; w.export_to(folder)
    w.suggest() ; w.retrain() ; w.segment_current() ; w.segment_all() ; w.cancel_job()
    w.next_suggested() ; w.next_image() ; w.previous_image() ; w.mark_done() ; w.show_image(id)
    w.toggle_heatmap(on)
    w.project ; w.current_image_id ; w.runner ; w.is_busy ; w.settings_override
    signals: project_changed(object), busy_changed(bool), status_message(str), image_changed(str),
             outcome(str text, str level)   # level: "info" | "warning" | "error"
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QEvent, QObject, Qt, QTimer, Signal
from qtpy.QtGui import QFont, QKeySequence
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QShortcut,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qsa_gui.core import workflow
from qsa_gui.core.errors import QSAError
from qsa_gui.core.jobs import CancelToken, Job, Progress
from qsa_gui.core.model.warmup import warm_up_torch
from qsa_gui.core.project.store import (
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    STATUS_UNLABELLED,
    ImageRecord,
    ImportReport,
    Project,
)
from qsa_gui.core.settings import Settings
from qsa_gui.core.workflow.demo_project import demo_project_job
from qsa_gui.core.workflow.heatmap import HeatmapResult, heatmap_job
from qsa_gui.core.workflow.transfer import ExportReport, export_job, export_model, import_job

from .gallery import STATUS_COLOURS, SUGGESTION_COLOUR, GalleryWidget
from .history_plot import HistoryPlot
from .layers import ROLE_PREDICTION, AnnotationLayers, to_uint8_rgb
from .progress_panel import ProgressPanel
from .runner import JobRunner
from .sparkline import LossSparkline

logger = logging.getLogger(__name__)

AUTOSAVE_MS = 1500
HEATMAP_CACHE_SIZE = 8

#: Keyboard shortcuts (window-wide). Chosen to avoid napari's own bindings and its menu
#: mnemonics (Alt+F/E/V/L/P/W/H); the main window may pass ``shortcuts=False`` and put the
#: same key sequences on its menu actions instead.
SHORTCUTS: dict[str, str] = {
    "suggest": "Alt+G",
    "next_suggested": "Alt+N",
    "mark_done": "Alt+D",
    "next_image": "Alt+Right",
    "previous_image": "Alt+Left",
    "retrain": "Alt+R",
    "segment_current": "Alt+I",
    "accept_prediction": "Alt+A",
    "heatmap": "Alt+U",
}

LEVEL_COLOURS = {"info": "#2e9e4f", "warning": "#d98e04", "error": "#d62728"}


# --------------------------------------------------------------------------- helpers


def history_rows(history: Sequence[dict]) -> list[dict]:
    """Project.history() (one row per round, models nested) -> HistoryPlot rows (one per model)."""
    rows = []
    for rnd in history:
        for m in rnd.get("models", []):
            rows.append(dict(m, round=rnd.get("round")))
    return rows


def display_record(rec: ImageRecord, ranks: dict[str, int]) -> ImageRecord:
    """A copy of ``rec`` whose suggestion rank is 1-based (#1 = label first) in the latest round.

    The project stores the rank as the 0-based position in the round; the gallery shows "#rank".
    Recomputing from the latest round's order makes the badge right whichever convention is stored.
    """
    sug = rec.suggestion
    if rec.id in ranks:
        sug = dict(sug or {}, rank=ranks[rec.id])
    elif sug is not None:
        sug = None  # a suggestion of an older round is not a current suggestion
    return replace(rec, suggestion=sug)


def _fmt(value: Any, digits: int = 3) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


@dataclass
class _JobContext:
    kind: str
    project: Project | None
    image_id: str | None = None
    extra: dict = field(default_factory=dict)


class _WindowCloseFilter(QObject):
    """Sees the top-level window's Close event first: asks about a running job, saves, shuts down."""

    def __init__(self, widget: AssistantWidget) -> None:
        super().__init__(widget)
        self._widget = widget

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Close:
            if not self._widget._on_window_close():
                event.ignore()
                return True
        return False


# --------------------------------------------------------------------------- the widget


class AssistantWidget(QWidget):
    """Project header, gallery, actions, progress and the Suggestions / Training / History tabs."""

    project_changed = Signal(object)
    busy_changed = Signal(bool)
    status_message = Signal(str)
    image_changed = Signal(str)
    outcome = Signal(str, str)

    def __init__(
        self,
        viewer: Any | None = None,
        parent: QWidget | None = None,
        *,
        shortcuts: bool = True,
        thumbnail_size: int = 96,
        warm_up: bool = True,
    ) -> None:
        super().__init__(parent)
        if warm_up:  # once per process: the first Retrain then never freezes the window
            warm_up_torch()
        self.setObjectName("qsaAssistant")
        self.viewer = viewer
        self.project: Project | None = None
        self.current_image_id: str | None = None
        #: Job settings on top of the project's (dict or Settings); tests use a tiny preset.
        self.settings_override: dict | Settings | None = None
        self.autosave_ms = AUTOSAVE_MS
        self.runner = JobRunner(self)
        self.layers = AnnotationLayers(viewer, self._on_labels_edited)
        self.last_message = ""
        self.last_level = "info"
        self.last_import_report: ImportReport | None = None
        self.last_export_report: ExportReport | None = None
        self.last_retrain: workflow.RetrainResult | None = None
        self.loss_values: list[float] = []
        self._job: _JobContext | None = None
        self._saved_labels: np.ndarray | None = None  # what is on disk for the current image
        self._dirty = False
        self._heatmap_on = False
        self._heat_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._shut_down = False
        self._watched_window: QWidget | None = None
        self._close_filter = _WindowCloseFilter(self)
        self._dialogs: list[QMessageBox] = []

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.timeout.connect(self._autosave)

        self._build_ui(thumbnail_size)
        self.shortcuts: dict[str, QShortcut] = {}
        if shortcuts:
            self._install_shortcuts()

        self.runner.busy_changed.connect(self._on_busy)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.progress_panel.attach(self.runner)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._watch_viewer_window()
        self._refresh_all()

    # =========================================================================== UI
    def _build_ui(self, thumbnail_size: int) -> None:
        # -- header
        self.project_button = QToolButton(self)
        self.project_button.setObjectName("qsaProjectButton")
        # the arrow is part of the text: styles (napari's included) draw a menu indicator on top
        # of the text of a narrow tool button, which clipped "Project" in a narrow dock
        self.project_button.setText("Project ▾")
        self.project_button.setToolTip("Open, create, import into or export the annotation project")
        self.project_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.project_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.project_button.setStyleSheet(
            "QToolButton#qsaProjectButton { padding: 2px 8px; }"
            "QToolButton#qsaProjectButton::menu-indicator { image: none; width: 0px; }"
        )
        self.project_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.project_button.setMinimumWidth(
            self.project_button.fontMetrics().horizontalAdvance(self.project_button.text()) + 24
        )
        menu = QMenu(self.project_button)
        self.open_action = menu.addAction("Open project…", self._ask_open_project)
        self.new_action = menu.addAction("New project…", self._ask_new_project)
        self.demo_action = menu.addAction("New demo project (generated glands)…", self._ask_demo_project)
        menu.addSeparator()
        self.import_action = menu.addAction("Import images…", self._ask_import_images)
        self.export_action = menu.addAction("Export labels and model…", self._ask_export)
        menu.addSeparator()
        self.close_action = menu.addAction("Close project", self.close_project)
        self.project_button.setMenu(menu)

        self.name_label = QLabel("No project open", self)
        name_font = QFont(self.name_label.font())
        name_font.setBold(True)
        if name_font.pointSizeF() > 0:
            name_font.setPointSizeF(name_font.pointSizeF() * 1.2)
        self.name_label.setFont(name_font)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.counts_label = QLabel("", self)
        counts_font = QFont(self.counts_label.font())
        counts_font.setBold(True)
        self.counts_label.setFont(counts_font)
        self.counts_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.labelled_bar = QProgressBar(self)
        self.labelled_bar.setTextVisible(False)
        self.labelled_bar.setFixedHeight(6)
        self.labelled_bar.setStyleSheet(
            "QProgressBar { border: none; background: rgba(128,128,128,60); border-radius: 3px; }"
            f"QProgressBar::chunk {{ background: {STATUS_COLOURS[STATUS_LABELLED]}; border-radius: 3px; }}"
        )
        self.detail_label = QLabel("", self)
        self.detail_label.setWordWrap(True)
        self.detail_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.name_label, 1)
        top.addWidget(self.counts_label)
        top.addWidget(self.project_button)
        header = QVBoxLayout()
        header.setSpacing(3)
        header.addLayout(top)
        header.addWidget(self.labelled_bar)
        header.addWidget(self.detail_label)

        # -- gallery, or a hint while no project is open
        self.gallery = GalleryWidget(self, thumbnail_size=thumbnail_size)
        self.gallery.current_changed.connect(self._on_gallery_current)
        self.gallery.image_activated.connect(self._on_gallery_current)
        self.empty_page = QWidget(self)
        hint = QLabel(
            "<b>No project open.</b><br>Open a project folder, or start with a demo project of "
            "generated glands, then import your own images.",
            self.empty_page,
        )
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_open_button = QPushButton("Open project…", self.empty_page)
        self.empty_open_button.clicked.connect(self._ask_open_project)
        self.empty_demo_button = QPushButton("New demo project…", self.empty_page)
        self.empty_demo_button.clicked.connect(self._ask_demo_project)
        empty = QVBoxLayout(self.empty_page)
        empty.addStretch(1)
        empty.addWidget(hint)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.empty_open_button)
        row.addWidget(self.empty_demo_button)
        row.addStretch(1)
        empty.addLayout(row)
        empty.addStretch(1)
        self.gallery_stack = QStackedWidget(self)
        self.gallery_stack.addWidget(self.empty_page)
        self.gallery_stack.addWidget(self.gallery)

        # -- actions
        def button(text: str, slot: Callable[[], object], tip: str, key: str | None = None) -> QPushButton:
            b = QPushButton(text, self)
            b.clicked.connect(lambda _checked=False: slot())
            shortcut = SHORTCUTS.get(key or "")
            b.setToolTip(f"{tip}  [{shortcut}]" if shortcut else tip)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setMinimumWidth(60)
            return b

        self.previous_button = button(
            "◀ Previous", self.previous_image, "Show the previous image", "previous_image"
        )
        self.next_button = button("Next ▶", self.next_image, "Show the next image", "next_image")
        self.next_suggested_button = button(
            "Next suggested",
            self.next_suggested,
            "Show the best-ranked suggested image that is not labelled yet",
            "next_suggested",
        )
        self.mark_done_button = button(
            "✓ Mark done",
            self.mark_done,
            "Save this image's labels as finished (status: labelled) and go to the next suggested image",
            "mark_done",
        )
        self.accept_button = button(
            "Accept prediction",
            self.accept_prediction,
            "Copy the model's prediction into your labels (undo with Ctrl+Z), then correct it",
            "accept_prediction",
        )
        self.heatmap_button = button(
            "Heat-map", lambda: self.toggle_heatmap(self.heatmap_button.isChecked()), "", "heatmap"
        )
        self.heatmap_button.setCheckable(True)
        self.suggest_button = button(
            "Suggest",
            self.suggest,
            "Train the suggestive ensemble on your labels and rank the unlabelled images: "
            "the most uncertain and representative ones come first",
            "suggest",
        )
        self.retrain_button = button(
            "Retrain",
            self.retrain,
            "Train the segmentation model on the labelled images; it replaces the current model only "
            "if it is at least as good on held-out labelled images",
            "retrain",
        )
        self.segment_button = button(
            "Segment image",
            self.segment_current,
            "Segment the shown image with the current model",
            "segment_current",
        )
        self.segment_all_button = button(
            "Segment all", self.segment_all, "Segment every unlabelled image with the current model"
        )
        for b in (self.next_suggested_button, self.mark_done_button, self.suggest_button):
            f = QFont(b.font())
            f.setBold(True)
            b.setFont(f)

        annotate = QGroupBox("Annotate", self)
        grid = QGridLayout(annotate)
        grid.setContentsMargins(6, 4, 6, 6)
        grid.setSpacing(4)
        grid.addWidget(self.previous_button, 0, 0)
        grid.addWidget(self.next_button, 0, 1)
        grid.addWidget(self.next_suggested_button, 0, 2)
        grid.addWidget(self.mark_done_button, 1, 0)
        grid.addWidget(self.accept_button, 1, 1)
        grid.addWidget(self.heatmap_button, 1, 2)
        model = QGroupBox("Model", self)
        grid2 = QGridLayout(model)
        grid2.setContentsMargins(6, 4, 6, 6)
        grid2.setSpacing(4)
        grid2.addWidget(self.suggest_button, 0, 0)
        grid2.addWidget(self.retrain_button, 0, 1)
        grid2.addWidget(self.segment_button, 1, 0)
        grid2.addWidget(self.segment_all_button, 1, 1)

        self.image_label = QLabel("", self)
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message_label = QLabel("", self)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message_label.setVisible(False)
        self.progress_panel = ProgressPanel(self)

        # -- tabs
        self.tabs = QTabWidget(self)
        suggestions_page = QWidget(self)
        self.round_label = QLabel("No suggestions yet: press Suggest.", suggestions_page)
        self.round_label.setWordWrap(True)
        self.suggestion_table = QTableWidget(0, 5, suggestions_page)
        self.suggestion_table.setHorizontalHeaderLabels(["#", "Image", "Status", "Uncertainty", "Repr."])
        self.suggestion_table.verticalHeader().setVisible(False)
        self.suggestion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.suggestion_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.suggestion_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        head = self.suggestion_table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.suggestion_table.cellClicked.connect(self._on_suggestion_clicked)
        lay = QVBoxLayout(suggestions_page)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.round_label)
        lay.addWidget(self.suggestion_table, 1)
        self.tabs.addTab(suggestions_page, "Suggestions")

        training_page = QWidget(self)
        self.loss_plot = LossSparkline(training_page)
        self.validation_label = QLabel("No model trained yet.", training_page)
        self.validation_label.setWordWrap(True)
        lay = QVBoxLayout(training_page)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.validation_label)
        self.tabs.addTab(training_page, "Training")

        history_page = QWidget(self)
        self.history_plot = HistoryPlot(history_page, show_live_loss=False)
        self.history_label = QLabel("", history_page)
        self.history_label.setWordWrap(True)
        lay = QVBoxLayout(history_page)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.history_plot, 1)
        lay.addWidget(self.history_label)
        self.tabs.addTab(history_page, "History")
        self._history_page = history_page
        self._history_dirty = True
        self.tabs.currentChanged.connect(lambda _i: self._draw_history_if_shown())

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.gallery_stack)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([460, 200])
        self.splitter = splitter

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(line)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.image_label)
        layout.addWidget(annotate)
        layout.addWidget(model)
        layout.addWidget(self.message_label)
        layout.addWidget(self.progress_panel)
        self.setMinimumWidth(340)

    def _install_shortcuts(self) -> None:
        slots: dict[str, Callable[[], object]] = {
            "suggest": self.suggest,
            "next_suggested": self.next_suggested,
            "mark_done": self.mark_done,
            "next_image": self.next_image,
            "previous_image": self.previous_image,
            "retrain": self.retrain,
            "segment_current": self.segment_current,
            "accept_prediction": self.accept_prediction,
            "heatmap": lambda: self.toggle_heatmap(not self._heatmap_on),
        }
        buttons = {
            "suggest": self.suggest_button,
            "next_suggested": self.next_suggested_button,
            "mark_done": self.mark_done_button,
            "next_image": self.next_button,
            "previous_image": self.previous_button,
            "retrain": self.retrain_button,
            "segment_current": self.segment_button,
            "accept_prediction": self.accept_button,
            "heatmap": self.heatmap_button,
        }
        for key, seq in SHORTCUTS.items():
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            target = buttons[key]
            slot = slots[key]
            sc.activated.connect(lambda b=target, s=slot: s() if b.isEnabled() else None)
            self.shortcuts[key] = sc

    # =========================================================================== properties
    @property
    def is_busy(self) -> bool:
        return self.runner.is_running

    def job_settings(self) -> Settings:
        """The project's settings with :attr:`settings_override` on top."""
        base = workflow.project_settings(self.project) if self.project is not None else Settings()
        override = self.settings_override
        if override is None:
            return base
        if isinstance(override, Settings):
            override = override.to_dict()
        return Settings.from_dict({**base.to_dict(), **dict(override)})

    # =========================================================================== project
    def open_project(self, path: str | Path) -> bool:
        """Close the current project (asks if a job runs), open ``path`` and show its gallery."""
        if not self.close_project():
            return False
        try:
            project = Project.open(path)
        except (QSAError, OSError) as exc:
            self._error_box("Cannot open project", str(exc))
            return False
        self._set_project(project)
        self._report(f"Opened {project.name}: {self._counts_text()}.")
        return True

    def new_project(self, path: str | Path, name: str | None = None) -> bool:
        """Create an empty project in ``path`` (absent or empty folder) and open it."""
        if not self.close_project():
            return False
        try:
            project = Project.create(path, name=name)
        except (QSAError, OSError) as exc:
            self._error_box("Cannot create project", str(exc))
            return False
        self._set_project(project)
        self._report(f"Created {project.name}. Import images to start (Project ▸ Import images…).")
        return True

    def new_demo_project(self, path: str | Path, n_images: int = 24, size: int = 256) -> bool:
        """Generate a demo project of synthetic glands in a job, then open it."""
        if not self.close_project():
            return False
        return self._start(
            "demo",
            lambda _cancel: demo_project_job(path, n_images, size),
            "Creating demo project",
            path=str(path),
        )

    def close_project(self) -> bool:
        """Save the labels and close; False when a job runs and the user keeps working."""
        if self.project is None:
            return True
        if self.runner.is_running:
            if not self.confirm_cancel_job():
                return False
            self.runner.shutdown(timeout=60.0)
        self._flush_labels()
        project, self.project = self.project, None
        self.current_image_id = None
        self._saved_labels = None
        self._dirty = False
        self._heat_cache.clear()
        self.layers.clear()
        try:
            project.close()
        except QSAError as exc:  # releasing the lock failed: nothing the user can do now
            logger.warning("closing %s: %s", project.folder, exc)
        self._refresh_all()
        self.project_changed.emit(None)
        return True

    def shutdown(self) -> None:
        """Cancel any job, wait for it, save and close (window closing, app quitting)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.runner.shutdown(timeout=60.0)
        self._autosave_timer.stop()
        if self.project is not None:
            self._flush_labels()
            try:
                self.project.close()
            except QSAError as exc:
                logger.warning("closing %s: %s", self.project.folder, exc)
            self.project = None
        self.gallery.wait_thumbnails(5.0)
        self._release_viewer()

    def _release_viewer(self) -> None:
        """Forget the viewer and its window: a closed viewer must not be kept alive by this panel."""
        if self._watched_window is not None:
            try:
                self._watched_window.removeEventFilter(self._close_filter)
            except RuntimeError:  # the window is already deleted
                pass
            self._watched_window = None
        self.layers.detach()
        self.viewer = None

    def confirm_cancel_job(self) -> bool:
        """Ask whether to cancel the running job (tests replace this method)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A job is running")
        box.setText(f"“{self.runner.job_name}” is still running.")
        box.setInformativeText(
            "Cancel it? Cancelling changes nothing: the previous model and all labels stay."
        )
        cancel = box.addButton("Cancel job and close", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is cancel

    def import_images(self, paths: list[str]) -> None:
        """Import image files (copied into the project) in a job; skipped files are listed."""
        if self.project is None:
            self._report("Open or create a project before importing images.", "warning")
            return
        if not paths:
            return
        project = self.project
        self._start("import", lambda cancel: import_job(project, list(paths), cancel), "Importing images")

    def export_to(self, folder: str | Path) -> None:
        """Write all labels and predictions (TIFF), annotations.csv and the current model (``model/``)
        into ``folder`` in a job."""
        if self.project is None:
            self._report("No project open: nothing to export.", "warning")
            return
        self._flush_labels()
        project = self.project
        self._start(
            "export", lambda cancel: export_job(project, folder, cancel), "Exporting labels and model"
        )

    # =========================================================================== jobs
    def suggest(self) -> None:
        """Rank the unlabelled images (a job); the round's images get highlighted, #1 is shown."""
        if self.project is None or not self.project.unlabelled_ids("pool"):
            self._report("Everything is labelled: there is nothing left to suggest.", "warning")
            return
        self._flush_labels()
        project, settings = self.project, self.job_settings()
        self._start("suggest", lambda cancel: workflow.suggest_job(project, settings, cancel), "Suggest")

    def retrain(self) -> None:
        """Retrain the segmentation model on the labelled images (a job, guarded against regressions)."""
        if self.project is None:
            return
        if not self.project.labelled_ids("pool"):
            self._report("No labelled images yet: label an image and press Mark done first.", "warning")
            return
        self._flush_labels()
        project, settings = self.project, self.job_settings()
        self.loss_values = []
        self.loss_plot.set_values([])
        self.tabs.setCurrentIndex(1)
        self._start(
            "retrain",
            lambda cancel: workflow.retrain_job(project, settings, cancel),
            "Retrain",
            previous=project.current_model,
        )

    def segment_current(self) -> None:
        """Segment the shown image with the current model (a job); shows the prediction layer."""
        if self.project is None or self.current_image_id is None:
            return
        self._segment([self.current_image_id], "Segment image")

    def segment_all(self) -> None:
        """Segment every unlabelled image with the current model (a job)."""
        if self.project is None:
            return
        ids = self.project.unlabelled_ids("pool")
        if not ids:
            self._report("Every image is labelled: nothing to segment.", "warning")
            return
        self._segment(None, "Segment all")

    def _segment(self, ids: list[str] | None, name: str) -> None:
        assert self.project is not None
        if self.project.current_model is None:
            self._report("No segmentation model yet: press Retrain first.", "warning")
            return
        project, settings = self.project, self.job_settings()
        self._start("segment", lambda cancel: workflow.segment_job(project, ids, settings, cancel), name)

    def cancel_job(self) -> None:
        """Ask the running job to stop at its next safe point (it commits nothing)."""
        if self.runner.is_running:
            self.runner.cancel()
            self._status("Cancelling at the next safe point…")

    def _start(self, kind: str, factory: Callable[[CancelToken], Job[Any]], name: str, **extra: Any) -> bool:
        if self.runner.is_running:
            self._report(f"“{self.runner.job_name}” is still running; wait for it or cancel it.", "warning")
            return False
        self._job = _JobContext(kind, self.project, self.current_image_id, extra)
        self.runner.start(factory, name)
        self._status(f"{name}…")
        return True

    # -- runner slots ------------------------------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        self._refresh_actions()
        self.busy_changed.emit(busy)
        if not busy:
            QTimer.singleShot(0, self._after_job)

    def _on_progress(self, progress: Progress, _fraction: float, _eta: str, _stage: str) -> None:
        job = self._job
        if job is not None and job.kind == "retrain" and progress.metrics and "loss" in progress.metrics:
            self.loss_values.append(float(progress.metrics["loss"]))
            self.loss_plot.set_values(self.loss_values)

    def _on_finished(self, result: object) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        if job.kind == "demo":
            self.open_project(job.extra["path"])
            return
        if job.project is not self.project or self.project is None:
            return  # the project was closed meanwhile
        handler = {
            "suggest": self._suggest_done,
            "retrain": self._retrain_done,
            "segment": self._segment_done,
            "heatmap": self._heatmap_done,
            "import": self._import_done,
            "export": self._export_done,
        }[job.kind]
        handler(result, job)

    def _on_failed(self, message: str) -> None:
        job, self._job = self._job, None
        if job is not None and job.kind == "import" and self.project is not None:
            self._refresh_all()  # files imported before the failure are in the project
        self._report(message, "error")

    def _on_cancelled(self) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        if job.kind == "retrain":
            prev = job.extra.get("previous")
            model = f"the previous model ({prev})" if prev else "the project (still without a model)"
            self._report(f"Retrain cancelled: {model} and all labels are unchanged.", "warning")
        elif job.kind == "import":
            if self.project is not None and job.project is self.project:
                self._refresh_all()
            self._report("Import cancelled: the images imported so far stay in the project.", "warning")
        else:
            self._report(f"{job.kind.capitalize()} cancelled: nothing was changed.", "warning")

    def _after_job(self) -> None:
        if not self.runner.is_running and self._heatmap_on:
            self._ensure_heatmap()

    # -- job results -------------------------------------------------------------------------------
    def _suggest_done(self, result: workflow.SuggestResult, _job: _JobContext) -> None:
        rnd = result.round
        self._refresh_all()
        self.tabs.setCurrentIndex(0)
        self.gallery.set_filter("all")
        self.gallery.set_sort("rank")
        reused = " (labels unchanged: cached scores reused)" if result.reused_scores else ""
        self._report(
            f"Round {rnd.index} ({rnd.strategy}): {len(rnd.image_ids)} image(s) suggested{reused}. "
            "Label #1 first."
        )
        if rnd.image_ids:
            self.show_image(rnd.image_ids[0])

    def _retrain_done(self, result: workflow.RetrainResult, _job: _JobContext) -> None:
        self.last_retrain = result
        v = result.version
        self._heat_cache.clear()
        f1 = v.metrics.get("object_f1")
        if v.accepted:
            detail = (
                f" (object F1 {float(f1):.2f})"
                if f1 is not None
                else " (too few labelled images to validate)"
            )
            text, level = f"Model {v.version} accepted{detail}.", "info"
        else:
            text = f"Model {v.version} {v.reason}. The previous model {v.parent} stays."
            level = "warning"
        self.validation_label.setText(self._validation_text(result))
        self._refresh_all()
        self._report(text, level)

    def _validation_text(self, result: workflow.RetrainResult) -> str:
        v = result.version
        keys = ("object_f1", "object_dice", "pixel_dice")
        shown = [k for k in keys if k in v.metrics]
        if not shown:
            return (
                f"{v.version}: trained on {v.n_labelled} labelled image(s); none held out for validation yet."
            )
        new = " · ".join(f"{k.replace('_', ' ')} {_fmt(v.metrics[k])}" for k in shown)
        text = f"{v.version} on held-out labelled images: {new}"
        if result.previous_metrics:
            old = " · ".join(f"{k.replace('_', ' ')} {_fmt(result.previous_metrics.get(k))}" for k in shown)
            text += f"<br>previous model {v.parent}: {old}"
        verdict = "accepted" if v.accepted else "kept out (the previous model stays)"
        return f"{text}<br><b>{verdict}</b>"

    def _segment_done(self, result: dict[str, np.ndarray], job: _JobContext) -> None:
        self._refresh_all()
        n = len(result)
        if self.current_image_id in result:
            self.layers.show_prediction(result[self.current_image_id])
            self.layers.activate_labels()
            self._refresh_actions()
        model = self.project.current_model if self.project is not None else "?"
        if n == 1:
            ((image_id, labels),) = result.items()
            name = self.project.image(image_id).name if self.project is not None else image_id
            self._report(f"Segmented {name} with {model}: {int(labels.max())} gland(s) found.")
        else:
            self._report(f"Segmented {n} images with {model}.")

    def _heatmap_done(self, result: HeatmapResult, _job: _JobContext) -> None:
        self._heat_cache[(result.image_id, result.model_version)] = result.heat
        while len(self._heat_cache) > HEATMAP_CACHE_SIZE:
            self._heat_cache.popitem(last=False)
        if self._heatmap_on and result.image_id == self.current_image_id:
            self.layers.show_heatmap(result.heat)
            self.layers.activate_labels()
            self._status(f"Heat-map: model {result.model_version}'s uncertainty (bright = unsure).")

    def _import_done(self, report: ImportReport, _job: _JobContext) -> None:
        self.last_import_report = report
        self._refresh_all()
        text = f"Imported {len(report.added)} image(s)."
        if report.skipped:
            text += f" Skipped {len(report.skipped)}: " + "; ".join(
                f"{Path(p).name} ({reason})" for p, reason in report.skipped[:5]
            )
            if len(report.skipped) > 5:
                text += f"; … {len(report.skipped) - 5} more"
            self._info_box(
                "Some files were not imported",
                text,
                "\n".join(f"{p}: {reason}" for p, reason in report.skipped),
            )
        self._report(text, "warning" if report.skipped else "info")
        if self.current_image_id is None and report.added:
            self.show_image(report.added[0])

    def _export_done(self, report: ExportReport, _job: _JobContext) -> None:
        self.last_export_report = report
        model = f", model {report.model_version} in model/" if report.model_version else ", no model yet"
        self._report(
            f"Exported {report.n_labels} label image(s) and {report.n_predictions} prediction(s) "
            f"to {report.folder} (with annotations.csv{model})."
        )

    # =========================================================================== navigation
    def show_image(self, image_id: str) -> None:
        """Show an image with its saved labels (editable) and, if unlabelled, its prediction."""
        if self.project is None:
            return
        if image_id == self.current_image_id and self.layers.labels is not None:
            self._select_in_gallery(image_id)
            return
        try:
            rec = self.project.image(image_id)
        except QSAError as exc:
            self._report(str(exc), "error")
            return
        self._flush_labels()
        try:
            rgb = to_uint8_rgb(self.project.load_image(image_id))
            labels = self.project.load_labels(image_id)
            prediction = self.project.load_prediction(image_id) if rec.status != STATUS_LABELLED else None
        except QSAError as exc:
            self._report(str(exc), "error")
            return
        if labels is None:
            labels = np.zeros(rec.shape, dtype=np.int32)
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        self.current_image_id = image_id
        self._saved_labels = labels.copy()
        self._dirty = False
        reset = self.layers.show_image(rgb, rec.name)
        self.layers.show_heatmap(None)
        self.layers.show_prediction(prediction)
        self.layers.show_labels(labels)
        self.layers.activate_labels()
        if reset and self.viewer is not None:
            self.viewer.reset_view()
        self._select_in_gallery(image_id)
        self._refresh_image_label()
        self._refresh_actions()
        if self._heatmap_on:
            self._ensure_heatmap()
        self.image_changed.emit(image_id)

    def next_suggested(self) -> None:
        """Show the best-ranked suggested image still unlabelled (after the current one)."""
        if self.project is None:
            return
        nxt = self.project.next_suggested(after_id=self.current_image_id)
        if nxt is None:
            self._report(
                "No suggested image left to label: press Suggest for a new round, or Retrain.", "warning"
            )
            return
        self.show_image(nxt)

    def next_image(self) -> None:
        self._step(+1)

    def previous_image(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        order = self.gallery.visible_ids() or (
            [r.id for r in self.project.images] if self.project is not None else []
        )
        if not order:
            return
        if self.current_image_id in order:
            i = (order.index(self.current_image_id) + delta) % len(order)
        else:
            i = 0 if delta > 0 else len(order) - 1
        self.show_image(order[i])

    def mark_done(self) -> None:
        """Save the labels as finished (status labelled) and go to the next suggested image."""
        if self.project is None or self.current_image_id is None:
            return
        image_id = self.current_image_id
        self._autosave_timer.stop()
        data = self.layers.labels_data()
        if data is None:
            data = (
                self._saved_labels
                if self._saved_labels is not None
                else np.zeros(self.project.image(image_id).shape, np.int32)
            )
        try:
            self.project.save_labels(image_id, data, done=True)
        except QSAError as exc:
            self._report(f"Could not save the labels: {exc}", "error")
            return
        self._saved_labels = np.array(data, dtype=np.int32, copy=True)
        self._dirty = False
        self._refresh_record(image_id)
        rec = self.project.image(image_id)
        n = int(len(np.unique(data)) - (1 if (data == 0).any() else 0))
        done = f"{rec.name} marked done ({n} gland(s)); {self._counts_text()}."
        nxt = self.project.next_suggested(after_id=image_id)
        if nxt is not None:
            self._report(done)
            self.show_image(nxt)
        else:
            self.layers.show_prediction(None)
            self._refresh_actions()
            self._report(f"{done} No suggested image left: press Retrain, or Suggest for the next round.")

    def accept_prediction(self) -> None:
        """Copy the (possibly edited) prediction into the labels layer as one undoable step."""
        pred_layer = self.layers.get(ROLE_PREDICTION)
        labels_layer = self.layers.labels
        if pred_layer is None or labels_layer is None:
            self._report("No prediction shown for this image: press Segment image first.", "warning")
            return
        pred = np.asarray(pred_layer.data, dtype=np.int32)
        current = np.asarray(labels_layer.data)
        changed = np.nonzero(current != pred)
        if changed[0].size:
            labels_layer.data_setitem(changed, pred[changed])
        self.layers.show_prediction(None)
        self.layers.activate_labels()
        self._on_labels_edited()
        self._refresh_actions()
        self._report("Prediction copied into your labels: correct it, then Mark done (Ctrl+Z undoes).")

    def _select_in_gallery(self, image_id: str) -> None:
        if self.gallery.current_id() != image_id:
            self.gallery.blockSignals(True)
            try:
                self.gallery.select(image_id)
            finally:
                self.gallery.blockSignals(False)

    def _on_gallery_current(self, image_id: str) -> None:
        if image_id and image_id != self.current_image_id:
            self.show_image(image_id)

    def _on_suggestion_clicked(self, row: int, _column: int) -> None:
        item = self.suggestion_table.item(row, 1)
        if item is not None:
            self.show_image(item.data(Qt.ItemDataRole.UserRole))

    # =========================================================================== heat-map
    def toggle_heatmap(self, on: bool) -> None:
        """Show / hide the current model's per-pixel uncertainty over the image."""
        if on and (self.project is None or self.project.current_model is None):
            on = False
            self._report("No segmentation model yet: press Retrain first to get a heat-map.", "warning")
        self._heatmap_on = bool(on)
        self.heatmap_button.blockSignals(True)
        self.heatmap_button.setChecked(self._heatmap_on)
        self.heatmap_button.blockSignals(False)
        if self._heatmap_on:
            self._ensure_heatmap()
        else:
            self.layers.show_heatmap(None)
        self._refresh_actions()

    def _ensure_heatmap(self) -> None:
        project, image_id = self.project, self.current_image_id
        if project is None or image_id is None or project.current_model is None:
            return
        key = (image_id, project.current_model)
        if key in self._heat_cache:
            self._heat_cache.move_to_end(key)
            self.layers.show_heatmap(self._heat_cache[key])
            self.layers.activate_labels()
            return
        if self.runner.is_running:
            self._status("The heat-map will be computed when the running job ends.")
            return
        version, settings = project.current_model, self.job_settings()
        self._start(
            "heatmap",
            lambda cancel: heatmap_job(project, image_id, version, settings, cancel),
            "Uncertainty heat-map",
        )

    # =========================================================================== labels autosave
    def _on_labels_edited(self) -> None:
        if self.project is None or self.current_image_id is None:
            return
        self._dirty = True
        self._autosave_timer.start(max(0, int(self.autosave_ms)))

    def _autosave(self) -> None:
        self._flush_labels(quiet=False)

    def _flush_labels(self, quiet: bool = True) -> bool:
        """Save the labels layer if it differs from what is on disk; True if it wrote."""
        self._autosave_timer.stop()
        if not self._dirty or self.project is None or self.current_image_id is None:
            return False
        data = self.layers.labels_data()
        self._dirty = False
        if data is None:
            return False
        if (
            self._saved_labels is not None
            and self._saved_labels.shape == data.shape
            and np.array_equal(self._saved_labels, data)
        ):
            return False
        image_id = self.current_image_id
        try:
            self.project.save_labels(image_id, data, done=False)
        except QSAError as exc:
            self._dirty = True  # still unsaved: the next flush (switch, close) must try again
            self._report(f"Could not save the labels of {image_id}: {exc}", "error")
            return False
        self._saved_labels = np.array(data, dtype=np.int32, copy=True)
        self._refresh_record(image_id)
        if not quiet:
            self._status(f"Labels of {self.project.image(image_id).name} saved.")
        return True

    # =========================================================================== refresh
    def _set_project(self, project: Project) -> None:
        self.project = project
        self._shut_down = False
        self.current_image_id = None
        self._heat_cache.clear()
        self.loss_values = []
        self.loss_plot.set_values([])
        self.validation_label.setText(self._model_text())
        self._refresh_all()
        self.project_changed.emit(project)
        first = self._initial_image()
        if first is not None:
            self.show_image(first)
            if self.viewer is not None:  # again once the dock's layout has settled
                QTimer.singleShot(100, self._reset_view)

    def _reset_view(self) -> None:
        if self.viewer is not None and self.project is not None:
            try:
                self.viewer.reset_view()
            except RuntimeError:  # the viewer's window is already gone
                pass

    def _initial_image(self) -> str | None:
        assert self.project is not None
        for rec in self.project.images:
            if rec.status == STATUS_IN_PROGRESS and not rec.missing:
                return rec.id
        nxt = self.project.next_suggested()
        if nxt is not None:
            return nxt
        pool = self.project.unlabelled_ids("pool")
        if pool:
            return pool[0]
        return self.project.images[0].id if self.project.images else None

    def _ranks(self) -> dict[str, int]:
        rnd = self.project.latest_round() if self.project is not None else None
        return {} if rnd is None else {image_id: k + 1 for k, image_id in enumerate(rnd.image_ids)}

    def _refresh_all(self) -> None:
        p = self.project
        self.gallery_stack.setCurrentIndex(0 if p is None else 1)
        if p is None:
            self.gallery.set_records([], None)
        else:
            ranks = self._ranks()
            self.gallery.set_records([display_record(r, ranks) for r in p.images], p.load_image)
        self._refresh_header()
        self._refresh_suggestions()
        self._refresh_history()
        self._refresh_image_label()
        self._refresh_actions()

    def _refresh_record(self, image_id: str) -> None:
        if self.project is None:
            return
        self.gallery.update_record(display_record(self.project.image(image_id), self._ranks()))
        self._refresh_header()
        self._refresh_suggestions()
        self._refresh_image_label()
        self._refresh_actions()

    def _counts(self) -> tuple[int, int, int, int]:
        p = self.project
        if p is None:
            return 0, 0, 0, 0
        pool = [r for r in p.images if r.split == "pool"]
        labelled = sum(r.status == STATUS_LABELLED for r in pool)
        in_progress = sum(r.status == STATUS_IN_PROGRESS for r in pool)
        return labelled, len(pool), in_progress, len(p.images) - len(pool)

    def _counts_text(self) -> str:
        labelled, total, _, _ = self._counts()
        return f"{labelled} / {total} labelled"

    def _model_text(self) -> str:
        p = self.project
        if p is None or p.current_model is None:
            return "No segmentation model yet."
        m = p.model(p.current_model)
        bits = f"{m.bits}-bit" if m.bits else "float"
        f1 = m.metrics.get("object_f1")
        score = f", object F1 {float(f1):.2f}" if f1 is not None else ""
        return f"Model {m.version} ({bits}, {m.n_labelled} labelled{score})"

    def _refresh_header(self) -> None:
        p = self.project
        if p is None:
            self.name_label.setText("No project open")
            self.name_label.setToolTip("")
            self.counts_label.setText("")
            self.detail_label.setText("")
            self.labelled_bar.setVisible(False)
            return
        labelled, total, in_progress, n_test = self._counts()
        self.name_label.setText(p.name)
        self.name_label.setToolTip(str(p.folder))
        self.counts_label.setText(f"{labelled} / {total} labelled")
        self.labelled_bar.setVisible(True)
        self.labelled_bar.setRange(0, max(1, total))
        self.labelled_bar.setValue(labelled)
        parts = []
        if in_progress:
            parts.append(f"{in_progress} in progress")
        if n_test:
            parts.append(f"{n_test} held-out test")
        rnd = p.latest_round()
        if rnd is not None:
            parts.append(f"round {rnd.index}")
        parts.append(self._model_text().rstrip("."))
        self.detail_label.setText(" · ".join(parts))

    def _refresh_image_label(self) -> None:
        p, image_id = self.project, self.current_image_id
        if p is None or image_id is None:
            self.image_label.setText("")
            return
        rec = p.image(image_id)
        rank = self._ranks().get(image_id)
        colour = STATUS_COLOURS.get(rec.status, STATUS_COLOURS[STATUS_UNLABELLED])
        text = f"<b>{rec.name}</b> &nbsp;<span style='color:{colour}'>● {rec.status.replace('_', ' ')}</span>"
        if rank is not None:
            text += f" &nbsp;<span style='color:{SUGGESTION_COLOUR}'><b>suggested #{rank}</b></span>"
        if rec.split == "test":
            text += " &nbsp;(held-out test image)"
        self.image_label.setText(text)

    def _refresh_suggestions(self) -> None:
        p = self.project
        rnd = p.latest_round() if p is not None else None
        table = self.suggestion_table
        if rnd is None or p is None:
            self.round_label.setText("No suggestions yet: press Suggest." if p is not None else "")
            table.setRowCount(0)
            return
        done = sum(1 for i in rnd.image_ids if p.image(i).status == STATUS_LABELLED)
        self.round_label.setText(
            f"<b>Round {rnd.index}</b> ({rnd.strategy}) · {len(rnd.image_ids)} suggested, {done} labelled · "
            f"from {rnd.n_labelled_before} labelled images"
        )
        table.setRowCount(len(rnd.image_ids))
        for row, image_id in enumerate(rnd.image_ids):
            rec = p.image(image_id)
            score = rnd.scores.get(image_id, {}) if isinstance(rnd.scores.get(image_id), dict) else {}
            cells = [
                f"#{row + 1}",
                rec.name,
                rec.status.replace("_", " "),
                _fmt(score.get("uncertainty")),
                _fmt(score.get("representativeness"), 2),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setData(Qt.ItemDataRole.UserRole, image_id)
                if col in (0, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, col, item)

    def _refresh_history(self) -> None:
        """Mark the history stale; it is redrawn when (or as soon as) its tab is shown.

        A matplotlib redraw costs ~100 ms on a busy machine: doing it for a hidden tab after every
        job would be a visible stall for nothing.
        """
        self._history_dirty = True
        self._draw_history_if_shown()

    def _draw_history_if_shown(self) -> None:
        if not self._history_dirty or self.tabs.currentWidget() is not self._history_page:
            return
        self._history_dirty = False
        p = self.project
        if p is None:
            self.history_plot.set_rows([])
            self.history_label.setText("")
            return
        rows = history_rows(p.history())
        self.history_plot.set_rows(rows)
        kept_out = sum(1 for r in rows if not r.get("accepted", True))
        text = f"{len(rows)} model version(s), {len(p.rounds)} suggestion round(s)"
        if kept_out:
            text += f"; {kept_out} kept out by the regression guard"
        self.history_label.setText(text + ". " + self._model_text())

    def _refresh_actions(self) -> None:
        p = self.project
        busy = self.runner.is_running
        has_image = p is not None and self.current_image_id is not None
        has_model = p is not None and p.current_model is not None
        unlabelled = p.unlabelled_ids("pool") if p is not None else []
        labelled = p.labelled_ids("pool") if p is not None else []

        self.previous_button.setEnabled(p is not None and bool(p.images))
        self.next_button.setEnabled(p is not None and bool(p.images))
        nxt = p.next_suggested(after_id=self.current_image_id) if p is not None else None
        self.next_suggested_button.setEnabled(nxt is not None)
        self.mark_done_button.setEnabled(has_image)
        self.accept_button.setEnabled(has_image and self.layers.get(ROLE_PREDICTION) is not None)

        if p is not None and not unlabelled:
            pool = [r for r in p.images if r.split == "pool"]
            all_done = bool(pool) and all(r.status == STATUS_LABELLED for r in pool)
            self.suggest_button.setText("Everything is labelled" if all_done else "Nothing to suggest")
            self.suggest_button.setEnabled(False)
        else:
            self.suggest_button.setText("Suggest")
            self.suggest_button.setEnabled(p is not None and not busy)
        self.retrain_button.setEnabled(p is not None and not busy and bool(labelled))
        self.retrain_button.setToolTip(
            self.retrain_button.toolTip()
            if labelled or p is None
            else "Label at least one image and press Mark done before retraining"
        )
        self.segment_button.setEnabled(has_image and has_model and not busy)
        self.segment_all_button.setEnabled(has_model and not busy and bool(unlabelled))
        heat_ok = has_model and (not busy or self._heatmap_on)
        self.heatmap_button.setEnabled(heat_ok)
        self.heatmap_button.setToolTip(
            "Show where the current model is unsure (4·p·(1−p) of its gland probability; bright = unsure)"
            f"  [{SHORTCUTS['heatmap']}]"
            if has_model
            else "No segmentation model yet: press Retrain first; the heat-map shows the model's uncertainty"
        )
        for action in (self.import_action, self.export_action, self.close_action):
            action.setEnabled(p is not None and not busy)
        for action in (self.open_action, self.new_action, self.demo_action):
            action.setEnabled(not busy)

    # =========================================================================== messages
    def _status(self, text: str) -> None:
        self.status_message.emit(text)

    def _report(self, text: str, level: str = "info") -> None:
        """A lasting one-line outcome in the panel, also sent as a status message."""
        self.last_message, self.last_level = text, level
        colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])
        self.message_label.setStyleSheet(f"QLabel {{ border-left: 3px solid {colour}; padding: 2px 6px; }}")
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self.message_label.setVisible(bool(text))
        self.status_message.emit(text)
        self.outcome.emit(text, level)

    def _error_box(self, title: str, text: str) -> None:
        self._report(text, "error")
        self._info_box(title, text, icon=QMessageBox.Icon.Warning)

    def _info_box(self, title: str, text: str, details: str = "", icon: Any = None) -> None:
        """A non-blocking message box (never exec(): a job's result must not wait on a dialog)."""
        box = QMessageBox(self)
        box.setIcon(icon if icon is not None else QMessageBox.Icon.Information)
        box.setWindowTitle(title)
        box.setText(text)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.finished.connect(lambda _r, b=box: self._dialogs.remove(b) if b in self._dialogs else None)
        self._dialogs.append(box)
        box.open()

    # =========================================================================== dialogs
    def _ask_open_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self.open_project(folder)

    def _ask_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project")
        if folder:
            self.new_project(folder)

    def _ask_demo_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the demo project")
        if folder:
            self.new_demo_project(folder)

    def _ask_import_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import images", "", "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"
        )
        if paths:
            self.import_images(list(paths))

    def _ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export labels and model to folder")
        if folder:
            self.export_to(folder)

    # =========================================================================== window life
    def _watch_viewer_window(self) -> None:
        """Catch the napari window's Close (the dock widget gets no closeEvent of its own)."""
        window = getattr(getattr(self.viewer, "window", None), "_qt_window", None)
        if isinstance(window, QWidget):
            self._watch(window)

    def _watch(self, window: QWidget) -> None:
        if window is self._watched_window:
            return
        if self._watched_window is not None:
            self._watched_window.removeEventFilter(self._close_filter)
        self._watched_window = window
        window.installEventFilter(self._close_filter)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        window = self.window()
        if window is not self and self._watched_window is None:
            self._watch(window)

    def _on_window_close(self) -> bool:
        """The window is closing: False keeps it open (the user chose to keep a job running)."""
        if self.runner.is_running and not self.confirm_cancel_job():
            return False
        self.shutdown()
        return True

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if not self._on_window_close():
            event.ignore()
            return
        super().closeEvent(event)


__all__ = [
    "AUTOSAVE_MS",
    "AssistantWidget",
    "ExportReport",
    "SHORTCUTS",
    "display_record",
    "export_job",
    "export_model",
    "history_rows",
    "import_job",
]
