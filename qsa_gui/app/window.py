"""The standalone main window: napari's canvas in the middle, the assistant on the right.

Why: many pathologists never open napari. This window gives them a normal desktop application
(File/Edit/View/Help menus, recent projects, shortcuts, remembered geometry, a confirmation before
quitting with a job running) around the same :class:`~qsa_gui._qt.assistant.AssistantWidget` the
napari plugin docks. It is deliberately thin: every action calls the assistant's public API, and
every computation runs as a core job on a worker thread (the one thing done here, writing the demo
project, also runs on a :class:`~qsa_gui._qt.runner.JobRunner`).

Embedding: a hidden ``napari.Viewer(show=False)`` owns the layers; its ``QtViewer`` (canvas +
dims slider) becomes the central widget, its layer controls (label picker, brush size,
paint/fill/erase/pick mode) and its layer list become left docks. napari's own hidden window and
menus are never shown.

Keyboard shortcuts (window-wide; they win over napari's canvas key bindings, so none of them may
be a key napari uses for painting):

- next image: ``N`` and ``Right``; previous image: ``Shift+N`` and ``Left``. ``P`` is *not* used
  because napari binds it (and ``2``) to the Labels paint mode; ``Left``/``Right`` only step
  through extra dimensions in napari, which 2-D histology images do not have.
- ``Ctrl+D`` mark done, ``Ctrl+Shift+N`` next suggested image.
- ``Ctrl+Z`` / ``Ctrl+Shift+Z`` (and ``Ctrl+Y``) undo / redo on the labels layer being painted
  (the same thing napari's own Labels key bindings do, so nothing is lost).
- ``Ctrl+N`` new project, ``Ctrl+O`` open project, ``Ctrl+I`` import images, ``Ctrl+Q`` quit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import QSettings, Qt, QTimer
from qtpy.QtGui import QAction, QCloseEvent
from qtpy.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from qsa_gui._qt import napari_private
from qsa_gui._qt.assistant.dialogs import IMAGE_FILTER
from qsa_gui._qt.icon import app_icon
from qsa_gui.core.project.store import STATUS_IN_PROGRESS, STATUS_LABELLED, STATUS_UNLABELLED

from .dialogs import ask_confirm_close, ask_open_demo, show_error
from .first_steps import FirstSteps
from .menus import WindowMenus
from .recent import (
    KEY_DEMO_FOLDER,
    RecentProjects,
    default_demo_folder,
    is_project_folder,
    make_settings,
    restore_window_state,
    save_window_state,
)

logger = logging.getLogger(__name__)

AssistantFactory = Callable[[Any], QWidget]
ConfirmClose = Callable[[str], bool]
AskDemo = Callable[[Path], "Path | None"]

APP_TITLE = "qsa-gui"
DEFAULT_SIZE = (1500, 950)
#: The canvas keeps at least this share of the window's width: docks are narrowed to fit.
CANVAS_SHARE = 0.52
#: Dock widths on a first start (wider screens) and the narrowest the fit makes them.
TOOLS_WIDTH, ASSISTANT_WIDTH = 260, 360
TOOLS_MIN_WIDTH = 200
#: Seconds to wait for a cancelled job to reach its next cancel check when quitting.
SHUTDOWN_TIMEOUT_S = 60.0

_STATUS_TEXT = {
    STATUS_UNLABELLED: "not labelled yet",
    STATUS_IN_PROGRESS: "labelling in progress",
    STATUS_LABELLED: "labelled (done)",
}


def _apply_napari_theme(widget: QWidget, theme: str | None) -> None:
    """Style the window like napari so the reparented controls keep their icons and colours."""
    sheet = napari_private.napari_stylesheet(theme)
    if sheet is not None:
        widget.setStyleSheet(sheet)


def _scrolled(widget: QWidget, name: str) -> QScrollArea:
    """``widget`` in a frameless scroll area that may be narrower than it (a left dock)."""
    area = QScrollArea()
    area.setObjectName(name)
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setMinimumWidth(TOOLS_MIN_WIDTH)
    return area


class MainWindow(FirstSteps, WindowMenus, QMainWindow):
    """The qsa-gui desktop window (see the module docstring).

    Everything a test may want to replace is a constructor argument: ``settings`` (a
    :class:`QSettings`, e.g. an INI file in a temporary folder), ``viewer`` (a napari Viewer,
    e.g. from ``make_napari_viewer``), ``assistant_factory`` and ``confirm_close`` (called with the
    running job's name, returns True to cancel it and quit).
    """

    def __init__(
        self,
        *,
        settings: QSettings | None = None,
        viewer: Any | None = None,
        assistant_factory: AssistantFactory | None = None,
        confirm_close: ConfirmClose | None = None,
        theme: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("qsa-main-window")
        self.setWindowIcon(app_icon())
        self.settings = settings if settings is not None else make_settings()
        self.recent = RecentProjects(self.settings)
        self.confirm_close: ConfirmClose = confirm_close or (lambda name: ask_confirm_close(self, name))
        self.notify_error: Callable[[str, str], None] = lambda title, msg: show_error(self, title, msg)
        self._closed = False

        if viewer is None:
            import napari

            viewer = napari.Viewer(title=APP_TITLE, show=False)
        self.viewer = viewer
        self._napari_window = napari_private.viewer_window(viewer)
        # napari filters every application event through its (here hidden) window to show an
        # auto-hidden menu bar; that window never shows, so drop the per-event Python call.
        app = QApplication.instance()
        if app is not None and self._napari_window is not None:
            app.removeEventFilter(self._napari_window)
        self.qt_viewer = napari_private.qt_viewer(viewer)
        self.setCentralWidget(self.qt_viewer)

        if assistant_factory is None:
            from qsa_gui._qt.assistant import AssistantWidget

            # The window owns the shortcuts (on its menu actions); the panel's own QShortcuts
            # would make every key sequence ambiguous, and ambiguous shortcuts fire nothing.
            def assistant_factory(v: Any) -> QWidget:
                return AssistantWidget(v, shortcuts=False)

        self.assistant = assistant_factory(viewer)

        self.menu_actions: dict[str, QAction] = {}
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect_assistant()
        self._build_first_steps()
        _apply_napari_theme(self, theme)

        self.resize(*DEFAULT_SIZE)
        self.restored_state = restore_window_state(self.settings, self)
        self._refresh_status()
        self._update_title()
        self._update_actions()
        # The image's status changes while the user paints (autosave -> in progress) without a
        # signal: a cheap 1 s refresh of two labels keeps the status bar honest.
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.timeout.connect(self._update_actions)
        self._status_timer.start()

    # -- construction ------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, name: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        # napari's layer controls (~350 px tall) and its layer list (~250 px wide by its style
        # sheet) scroll rather than make the window taller or the canvas narrower
        tools = _scrolled(self.qt_viewer.controls, "toolsScroll")
        self.tools_dock = self._dock("Painting tools", tools, "dock-layer-controls", left)
        layer_list = QWidget()
        layer_list.setObjectName("layerList")
        box = QVBoxLayout(layer_list)
        box.setContentsMargins(4, 2, 4, 4)
        box.addWidget(self.qt_viewer.layers)
        layers = _scrolled(layer_list, "layersScroll")
        self.layers_dock = self._dock("Layers", layers, "dock-layer-list", left)
        self.assistant_dock = self._dock("Assistant", self.assistant, "dock-assistant", right)
        widths = [TOOLS_WIDTH, ASSISTANT_WIDTH]
        self.resizeDocks([self.tools_dock, self.assistant_dock], widths, Qt.Orientation.Horizontal)
        self.resizeDocks([self.tools_dock, self.layers_dock], [420, 260], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self._project_label = QLabel()
        self._image_label = QLabel()
        for label in (self._image_label, self._project_label):
            label.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(label)

    def _connect_assistant(self) -> None:
        a = self.assistant
        a.project_changed.connect(self._on_project_changed)
        a.busy_changed.connect(lambda _busy: self._update_actions())
        a.status_message.connect(self.show_message)
        a.image_changed.connect(lambda _id: (self._refresh_status(), self._update_actions()))

    # -- layout ------------------------------------------------------------------------------
    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        QTimer.singleShot(0, self.fit_docks)  # once Qt has laid the docks out at the new size

    def fit_docks(self) -> None:
        """Narrow the side docks when they would leave the canvas under :data:`CANVAS_SHARE` of
        the width (a small screen); docks the user made narrower stay as they are."""
        docks = [d for d in (self.tools_dock, self.assistant_dock) if d.isVisible() and not d.isFloating()]
        widths = [d.width() for d in docks]
        budget = int(self.width() * (1.0 - CANVAS_SHARE))
        if not docks or sum(widths) <= budget:
            return
        scale = budget / sum(widths)
        pairs = zip(docks, widths, strict=True)
        fitted = [max(d.minimumSizeHint().width(), int(w * scale)) for d, w in pairs]
        self.resizeDocks(docks, fitted, Qt.Orientation.Horizontal)

    # -- project actions ---------------------------------------------------------------------
    def open_project(self, path: str | os.PathLike[str]) -> bool:
        """Open a project folder in the assistant; on success it becomes the first recent entry."""
        ok = bool(self.assistant.open_project(str(path)))
        if ok:
            self.recent.add(path)
            self._rebuild_recent_menu()
        return ok

    def new_project(self, path: str | os.PathLike[str], name: str | None = None) -> bool:
        ok = bool(self.assistant.new_project(str(path), name))
        if ok:
            self.recent.add(path)
            self._rebuild_recent_menu()
        return ok

    def _start_folder(self) -> str:
        recent = self.recent.paths()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "New project: name its folder",
            self._start_folder(),
            "Project folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.new_project(path, Path(path).name)

    def open_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project folder", self._start_folder())
        if path:
            self.open_project(path)

    def import_images_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import images", str(Path.home()), IMAGE_FILTER)
        if paths:
            self.assistant.import_images(list(paths))

    def export_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export labels and model to", str(Path.home()))
        if path:
            self.assistant.export_to(path)

    def open_demo(
        self, folder: str | os.PathLike[str] | None = None, *, n_images: int = 24, size: int = 256
    ) -> bool:
        """Open the demo project at ``folder``, generating it first (in a job) if missing.

        Returns False if the folder is unusable or a job runs; True when the project was opened or
        is being created (the assistant opens it when its job finishes).
        """
        target = Path(folder) if folder is not None else default_demo_folder(self.settings)
        if is_project_folder(target):
            return self.open_project(target)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            self.notify_error(
                "Demo project",
                f"{target} already exists and is not a qsa-gui project; choose an empty or new folder.",
            )
            return False
        if self.assistant.is_busy:
            return False
        self.settings.setValue(KEY_DEMO_FOLDER, str(target))
        # a job of the assistant's runner (off the GUI thread); it opens the project when done
        return bool(self.assistant.new_demo_project(str(target), n_images=n_images, size=size))

    def offer_demo(self, ask: AskDemo | None = None, *, n_images: int = 24, size: int = 256) -> bool:
        """First start: ask whether to create the demo project; True if it is being opened."""
        ask = ask or (lambda default: ask_open_demo(self, default))
        folder = ask(default_demo_folder(self.settings))
        return self.open_demo(folder, n_images=n_images, size=size) if folder is not None else False

    # -- edit --------------------------------------------------------------------------------
    def labels_layer(self) -> Any | None:
        """The Labels layer Undo/Redo act on: the selected one, else the layer named 'labels'."""
        from napari.layers import Labels

        active = self.viewer.layers.selection.active
        if isinstance(active, Labels):
            return active
        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and layer.name == "labels":
                return layer
        return None

    def undo(self) -> bool:
        layer = self.labels_layer()
        if layer is None:
            return False
        layer.undo()
        return True

    def redo(self) -> bool:
        layer = self.labels_layer()
        if layer is None:
            return False
        layer.redo()
        return True

    # -- view --------------------------------------------------------------------------------
    def _toggle_heatmap(self, on: bool) -> None:
        self.assistant.toggle_heatmap(bool(on))
        self._update_actions()  # the assistant may refuse (no model yet): show its real state

    def show_message(self, text: str) -> None:
        """Job and assistant messages: shown until the next one."""
        self.statusBar().showMessage(str(text))

    # -- state -------------------------------------------------------------------------------
    def _on_project_changed(self, project: object) -> None:
        if project is not None:
            folder = getattr(project, "folder", None)
            if folder is not None:
                self.recent.add(folder)
                self._rebuild_recent_menu()
        heat = self.menu_actions["heatmap"]
        heat.blockSignals(True)
        heat.setChecked(False)
        heat.blockSignals(False)
        self._update_title()
        self._update_actions()
        self._refresh_status()
        self._update_welcome()

    def _update_title(self) -> None:
        project = self.assistant.project
        self.setWindowTitle(f"{project.name} — {APP_TITLE}" if project is not None else APP_TITLE)

    def _refresh_status(self) -> None:
        project = self.assistant.project
        if project is None:
            self._project_label.setText("No project open")
            self._image_label.setText("")
            return
        pool = [r for r in project.images if r.split == "pool"]
        done = sum(r.status == STATUS_LABELLED for r in pool)
        model = project.current_model or "no model yet"
        self._project_label.setText(f"Project: {project.name}  ·  {done}/{len(pool)} labelled  ·  {model}")
        image_id = self.assistant.current_image_id
        if image_id is None:
            self._image_label.setText("")
            return
        try:
            record = project.image(image_id)
        except Exception:  # noqa: BLE001 - image removed meanwhile: nothing to show
            self._image_label.setText("")
            return
        text = f"{record.name}: {_STATUS_TEXT.get(record.status, record.status)}"
        if record.split == "test":
            text += " (held-out test image)"
        suggestion = record.suggestion or {}
        if record.status != STATUS_LABELLED and suggestion.get("rank"):
            text += f"  ·  suggested #{suggestion['rank']}"
        self._image_label.setText(text)

    # -- closing -----------------------------------------------------------------------------
    def _running_job_name(self) -> str | None:
        if self.assistant.is_busy:
            return self.assistant.runner.job_name or "job"
        return None

    def _prepare_close(self) -> bool:
        """Ask about a running job, stop it, close the project; False keeps the window open."""
        job = self._running_job_name()
        if job is not None:
            if not self.confirm_close(job):
                return False
            if self.assistant.is_busy:
                self.assistant.cancel_job()
                if not self.assistant.runner.shutdown(SHUTDOWN_TIMEOUT_S):
                    self.notify_error("Quit", f"The job ({job}) is still stopping; try again in a moment.")
                    return False
        if self.assistant.project is not None and not self.assistant.close_project():
            return False
        return True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self._closed:
            event.accept()
            return
        if not self._prepare_close():
            event.ignore()
            return
        self._closed = True
        self._status_timer.stop()
        save_window_state(self.settings, self)
        self._close_viewer()
        event.accept()

    def _close_viewer(self) -> None:
        # napari's hidden window would store its own (meaningless) geometry in napari's settings.
        if self._napari_window is not None:
            napari_private.forget_window_geometry(self._napari_window)
        try:
            self.viewer.close()
        except RuntimeError:  # already deleted with the window
            logger.debug("napari viewer already closed", exc_info=True)


__all__ = ["APP_TITLE", "MainWindow"]
