"""The annotation assistant panel: the napari dock widget and the main window's side panel.

Why one widget for both shells: a pathologist gets the same loop everywhere -- see which images
to label next (ranked, highlighted suggestions), paint glands with napari's Labels tools (saved
automatically), mark an image done, retrain, look at the model's predictions and its uncertainty
heat-map -- and the two shells cannot drift apart. The widget is a thin composition: the state
and texts live in the Qt-free :class:`~qsa_gui.components.session.Session`, the layout in
:mod:`.panel`, the drawing in :mod:`.view`, job outcomes in :mod:`.results`; every computation
is a core job run through :class:`~qsa_gui._qt.runner.JobRunner` (Suggest, Retrain, Segment and
the heat-map in a worker process, the rest on a worker thread).

Public API (used by the PySide6 main window and the napari plugin)::

    w = AssistantWidget(viewer)                 # viewer: napari.Viewer (or None: no canvas)
                                                # (process jobs: the warm job worker is started once,
                                                # after the first paint; warm_up=False skips)
    w.open_project(path) / w.new_project(path, name=None) / w.close_project() -> bool
    w.import_images(paths) ; w.export_to(folder)
    w.suggest() ; w.retrain() ; w.segment_current() ; w.segment_all() ; w.cancel_job() ; w.ask_settings()
    w.next_suggested() ; w.next_image() ; w.previous_image() ; w.mark_done() ; w.show_image(id)
    w.show_slide() ; w.open_region(id) ; w.leave_slide() ; w.slide_shown   # whole slides
    w.toggle_heatmap(on) ; w.trigger(action_key)   # keys of qsa_gui._qt.actions.ACTIONS
    w.session ; w.project ; w.current_image_id ; w.runner ; w.is_busy ; w.settings_override
    signals: project_changed(object), busy_changed(bool), status_message(str), image_changed(str),
             outcome(str text, str level)   # level: "info" | "warning" | "error"
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QSize, QTimer, Signal
from qtpy.QtWidgets import QApplication, QWidget

from qsa_gui.components.outcomes import job_cancelled, retrain_started
from qsa_gui.components.session import Session
from qsa_gui.core.errors import QSAError
from qsa_gui.core.jobs import CancelToken, Job, Progress
from qsa_gui.core.jobspec import JobSpec
from qsa_gui.core.project.store import ImportReport, Project
from qsa_gui.core.settings import Settings
from qsa_gui.core.workflow.demo_project import demo_project_job
from qsa_gui.core.workflow.heatmap import HeatmapSource
from qsa_gui.core.workflow.transfer import ExportReport

from .. import napari_private, none_guard, settings_dialog
from ..actions import ACTIONS
from ..fit import ViewFitter
from ..frame_pacer import FramePacer
from ..layers import ROLE_PREDICTION, AnnotationLayers
from ..runner import JobRunner
from . import dialogs, results
from .glands import GlandController, GlandTools
from .navigation import Navigation
from .panel import PANEL_WIDTH, build_panel, install_shortcuts
from .results import RunningJob
from .slide_view import SlideView
from .transfers import Transfers
from .view import PanelView
from .watch import WindowWatcher

if TYPE_CHECKING:
    from qsa_gui.core.workflow import RetrainResult

logger = logging.getLogger(__name__)

#: torch's one-time costs are paid this long after the panel first shows, off the GUI thread.
WARM_UP_DELAY_MS = 1500


def _workflow(verb: str = "") -> Any:
    """The core's job verbs (or the module of ``verb``), imported when a job starts, on the job's
    worker thread: they import torch, which a GUI must not wait for at start-up."""
    import importlib

    return importlib.import_module("qsa_gui.core.workflow" + (f".{verb}" if verb else ""))


def _warm_up_jobs(runner: JobRunner) -> None:
    """Pay torch's start-up before the first job, after the first paint: start the warm job
    worker (process jobs), or torch's first-optimizer costs on a daemon thread (thread jobs, see
    :mod:`qsa_gui.core.model.warmup`); never on the GUI thread."""
    if runner.process_jobs:
        runner.warm_up()
        return
    import threading

    from qsa_gui.core.model.warmup import torch_warmed_up, warm_up_torch

    if not torch_warmed_up():
        threading.Thread(target=warm_up_torch, name="qsa-torch-warm-up", daemon=True).start()


class AssistantWidget(Navigation, SlideView, GlandTools, Transfers, dialogs.AskDialogs, QWidget):
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
        none_guard.install()  # PySide6 leaks references to None: a long session must not abort
        self._warm_up = warm_up  # once per process, once the panel is on screen (showEvent)
        self.setObjectName("qsaAssistant")
        self.viewer = viewer
        self.session = Session()
        self.runner = JobRunner(self)
        self.layers = AnnotationLayers(viewer, self._on_labels_edited, self._on_foreign_layer)
        self.view_fitter = ViewFitter(viewer, self)  # re-fits the image when the canvas resizes
        # an image switch is painted as one frame after the loop's turn (frame_pacer.py)
        self.frame_pacer = FramePacer(lambda: napari_private.canvas_widget(self.viewer), self)
        self.session.labels_source = self.layers.labels_data
        self.session.prediction_probe = lambda: self.layers.get(ROLE_PREDICTION) is not None
        self._init_slide_view()  # the whole-slide overview layers (slide_view.py)
        self.last_import_report: ImportReport | None = None
        self.last_export_report: ExportReport | None = None
        self.last_retrain: RetrainResult | None = None
        self.loss_values: list[float] = []
        self._job: RunningJob | None = None
        self._shut_down = False
        self._watcher = WindowWatcher(self, self._on_window_close)
        self.boxes = dialogs.MessageBoxes(self)

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.timeout.connect(lambda: self.session.flush(quiet=False))

        self.glands = GlandController(self)  # the annotation tools (glands.py)
        build_panel(self, thumbnail_size)
        self.view = PanelView(self)
        self.shortcuts = install_shortcuts(self) if shortcuts else {}

        s = self.session
        s.message.connect(self._on_message)
        s.status.connect(self.status_message.emit)
        s.records_changed.connect(self.view.refresh_record)
        s.project_changed.connect(self.project_changed.emit)
        s.image_changed.connect(self.image_changed.emit)
        s.state_changed.connect(self.view.refresh_actions)
        self.runner.busy_changed.connect(self._on_busy)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.progress_panel.attach(self.runner)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        window = napari_private.viewer_window(viewer)
        if isinstance(window, QWidget):  # the dock widget gets no closeEvent of its own
            self._watcher.watch(window)
        self.view.refresh_all()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """A dock's width, not that of the widest table: the canvas gets the rest."""
        return QSize(PANEL_WIDTH, super().sizeHint().height())

    # -- session state, under the names the shells use ---------------------------------------------
    project = property(lambda self: self.session.project)
    current_image_id = property(lambda self: self.session.current_image_id)
    last_message = property(lambda self: self.session.last_message)
    last_level = property(lambda self: self.session.last_level)

    @property
    def settings_override(self) -> dict | Settings | None:
        return self.session.settings_override

    @settings_override.setter
    def settings_override(self, value: dict | Settings | None) -> None:
        self.session.settings_override = value

    @property
    def autosave_ms(self) -> int:
        return self.session.autosave_ms

    @autosave_ms.setter
    def autosave_ms(self, value: int) -> None:
        self.session.autosave_ms = value

    @property
    def is_busy(self) -> bool:
        return self.runner.is_running

    def job_settings(self) -> Settings:
        return self.session.job_settings()

    def trigger(self, key: str) -> bool:
        """Run an action of the table if its rule allows it now; False when it does not."""
        spec = ACTIONS[key]
        if not spec.enabled(self.session):
            return False
        if key == "heatmap":
            self.toggle_heatmap(not self.session.heatmap_on)
        else:
            getattr(self, spec.handler)()
        return True

    # -- project -----------------------------------------------------------------------------------
    def open_project(self, path: str | Path, *, quiet: bool = False) -> bool:
        """Close the current project (asks if a job runs), open ``path`` and show its gallery.
        ``quiet``: a failure is a one-line warning, not a dialog (reopening at start)."""
        if not self.close_project():
            return False
        try:
            project = Project.open(path)
        except (QSAError, OSError) as exc:
            if quiet:
                self._report(f"Could not reopen the last project: {exc}", "warning")
            else:
                self._error_box("Cannot open project", str(exc))
            return False
        self._set_project(project)
        self._report(f"Opened {project.name}: {self.session.counts_text()}.")
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
        job = RunningJob(
            "Creating demo project", "demo", None, lambda _r: self.open_project(path), any_project=True
        )
        return self._start(job, lambda _cancel: demo_project_job(path, n_images, size))

    def close_project(self) -> bool:
        """Save the labels and close; False when a job runs and the user keeps working."""
        if self.project is None:
            return True
        if self.runner.is_running:
            if not self.confirm_cancel_job():
                return False
            self.runner.shutdown(timeout=60.0)
        self._flush_labels()
        self.layers.clear()
        project = self.session.take_project()
        self._close(project)
        self.view.reset_job_views()
        self.session.project_changed.emit(None)
        return True

    def _close(self, project: Project | None) -> None:
        try:
            if project is not None:
                project.close()
        except QSAError as exc:  # releasing the lock failed: nothing the user can do now
            logger.warning("closing %s: %s", project.folder, exc)

    def shutdown(self) -> None:
        """Cancel any job, wait for it, save and close (window closing, app quitting)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.runner.shutdown(timeout=60.0)
        self._autosave_timer.stop()
        if self.project is not None:
            self._flush_labels()
            self._close(self.project)
            self.session.project = None
        self.gallery.wait_thumbnails(5.0)
        self._watcher.release()  # a closed viewer must not be kept alive by this panel
        self.glands.tool.detach()
        self.slide_layers.detach()
        self.layers.detach()
        self.view_fitter.detach()
        self.frame_pacer.detach()
        self.session.pixels.clear()
        self.viewer = None

    def confirm_cancel_job(self) -> bool:
        """Ask whether to cancel the running job (tests replace this method)."""
        return dialogs.confirm_cancel(self, self.runner.job_name)

    def _set_project(self, project: Project) -> None:
        self._shut_down = False
        self.session.set_project(project)
        self.view.reset_job_views()
        first = self.session.initial_image()
        if first is not None:
            self.show_image(first)
            if self.viewer is not None:  # again once the dock's layout has settled
                QTimer.singleShot(100, self._reset_view)

    def _reset_view(self) -> None:
        if self.viewer is not None and self.project is not None:
            self.view_fitter.fit()

    # -- jobs --------------------------------------------------------------------------------------
    def suggest(self) -> None:
        """Rank the unlabelled images (a job); the round's images get highlighted, #1 is shown."""
        if self.project is None or not self.project.unlabelled_ids("pool"):
            self._report("Everything is labelled: there is nothing left to suggest.", "warning")
            return
        self._flush_labels()
        project, settings = self.project, self.job_settings()
        job = RunningJob("Suggest", "suggest", project, lambda r: results.suggest_done(self, r))
        spec = JobSpec.make("suggest", project, settings)
        if self._start(job, self.runner.spec_factory(spec, project)):
            settings_dialog.announce_estimate(self, "suggest", settings)

    def retrain(self) -> None:
        """Retrain the segmentation model on the labelled images (a job, guarded against regressions)."""
        if self.project is None:
            return
        if not self.project.labelled_ids("pool"):
            self._report("No labelled images yet: label an image and press Mark done first.", "warning")
            return
        self._flush_labels()
        project, settings, w = self.project, self.job_settings(), self
        self.loss_values = []
        self.loss_plot.set_values([])
        self.tabs.setCurrentIndex(1)
        previous = project.current_model
        job = RunningJob("Retrain", "retrain", project, lambda r: results.retrain_done(w, r),
                         lambda _exc: results.retrain_cancelled(w, previous),
                         on_progress=lambda p: results.retrain_progress(w, p))  # fmt: skip
        spec = JobSpec.make("retrain", project, settings)
        if self._start(job, self.runner.spec_factory(spec, project)):
            settings_dialog.announce_estimate(self, "retrain", settings)

    def segment_current(self) -> None:
        """Segment the shown image with the current model (a job); shows the prediction layer."""
        if self.project is None or self.current_image_id is None:
            return
        self._segment([self.current_image_id], "Segment image")

    def segment_all(self) -> None:
        """Segment every unlabelled image with the current model (a job)."""
        if self.project is None:
            return
        if not self.project.unlabelled_ids("pool"):
            self._report("Every image is labelled: nothing to segment.", "warning")
            return
        self._segment(None, "Segment all")

    def _segment(self, ids: list[str] | None, name: str) -> None:
        assert self.project is not None
        if self.project.current_model is None:
            self._report("No segmentation model yet: press Retrain first.", "warning")
            return
        project, settings = self.project, self.job_settings()
        job = RunningJob(name, "segment", project, lambda r: results.segment_done(self, r))
        spec = JobSpec.make("segment", project, settings, image_ids=ids)
        self._start(job, self.runner.spec_factory(spec, project))

    def _start_heatmap(self, image_id: str, source: HeatmapSource) -> None:
        project, settings = self.project, self.job_settings()
        job = RunningJob("Uncertainty heat-map", "heatmap", project, lambda r: results.heatmap_done(self, r))
        spec = JobSpec.make("heatmap", project, settings, image_id=image_id, source=source)
        self._start(job, self.runner.spec_factory(spec, project))

    def cancel_job(self) -> None:
        """Ask the running job to stop at its next safe point (it commits nothing)."""
        if self.runner.is_running:
            self.runner.cancel()
            self.session.say("Cancelling at the next safe point…")

    def _start(self, job: RunningJob, factory: Callable[[CancelToken], Job[Any]]) -> bool:
        if self.runner.is_running:
            self._report(f"“{self.runner.job_name}” is still running; wait for it or cancel it.", "warning")
            return False
        self._job = job
        self.runner.start(factory, job.name)
        self.session.begin_job(job.name)
        if job.kind == "retrain":
            self.validation_label.setText(retrain_started(len(self.session.labelled())))
            self.validation_label.setToolTip("")
        return True

    def _on_busy(self, busy: bool) -> None:
        self.session.set_busy(busy)
        self.busy_changed.emit(busy)
        if not busy:
            QTimer.singleShot(0, self._after_job)

    def _on_progress(self, progress: Progress, _fraction: float, _eta: str, _stage: str) -> None:
        if self._job is not None and self._job.on_progress is not None:
            self._job.on_progress(progress)

    def _on_finished(self, result: object) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        if not job.any_project and (job.project is not self.project or self.project is None):
            return  # the project was closed meanwhile
        job.on_done(result)

    def _on_failed(self, message: str) -> None:
        job, self._job = self._job, None
        if job is not None and job.on_failed is not None and self.project is not None:
            job.on_failed()
        self._report(message, "error")

    def _on_cancelled(self) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        if job.on_cancelled is None:
            self._report(*job_cancelled(job.kind))
        else:
            job.on_cancelled(self.runner.last_cancel)

    def _after_job(self) -> None:
        if not self.runner.is_running and self.session.heatmap_on:
            self._ensure_heatmap()

    # -- labels autosave ---------------------------------------------------------------------------
    def _on_labels_edited(self) -> None:
        prediction = self.session.accept_undone()
        if prediction is not None:
            self.on_accept_undone(prediction)
        delay = self.session.labels_edited()
        if delay is not None:
            self._autosave_timer.start(delay)

    def _flush_labels(self, quiet: bool = True) -> bool:
        self._autosave_timer.stop()
        return self.session.flush(quiet)

    # -- messages and dialogs ----------------------------------------------------------------------
    def _report(self, text: str, level: str = "info") -> None:
        """A lasting one-line outcome in the panel, also sent as a status message."""
        self.session.report(text, level)

    def _on_message(self, text: str, level: str) -> None:
        self.view.show_message(text, level)
        if text:  # "" only clears the line (a job starts)
            self.status_message.emit(text)
            self.outcome.emit(text, level)

    def _error_box(self, title: str, text: str) -> None:
        self._report(text, "error")
        self.boxes.warning(title, text)

    # -- window life -------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._warm_up:
            self._warm_up = False
            QTimer.singleShot(WARM_UP_DELAY_MS, lambda: _warm_up_jobs(self.runner))
        window = self.window()
        if window is not self and self._watcher.window is None:
            self._watcher.watch(window)

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


__all__ = ["AssistantWidget"]
