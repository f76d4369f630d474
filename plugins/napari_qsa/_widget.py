"""The dock widget: the shared annotation assistant, wired to napari's status bar and notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # napari imports are lazy: napari loads this module only when the widget opens
    import napari

    from qsa_gui._qt.assistant import AssistantWidget


def _show_status(viewer: Any, text: str) -> None:
    try:
        viewer.status = text
    except Exception:  # noqa: BLE001 - the status bar is a nicety; never fail a job result on it
        pass


def _notify(text: str, level: str) -> None:
    """Warnings and errors as napari notifications (info outcomes stay in the panel and status)."""
    from napari.utils.notifications import show_error, show_warning

    if level == "error":
        show_error(text)
    elif level == "warning":
        show_warning(text)


def _assistant_class() -> type:
    from qsa_gui._qt.assistant import AssistantWidget

    return AssistantWidget


class AssistantDock(_assistant_class()):  # type: ignore[misc]
    """npe2 widget contribution: the annotation assistant docked in ``napari_viewer``.

    A class (not a factory function) because napari looks for the ``napari_viewer`` parameter on
    ``__init__``. napari hands plugins a ``PublicOnlyProxy`` of the viewer; the assistant tracks its
    layers by identity, so it works on the viewer itself.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: Any = None) -> None:
        viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self._docked = False
        super().__init__(viewer, parent)
        self.status_message.connect(lambda text: _show_status(viewer, text))
        self.outcome.connect(_notify)
        self._intercept_drops(viewer)

    def _intercept_drops(self, viewer: Any) -> None:
        """While a project is open, files dropped on the canvas are imported into it (the same
        import job as Project ▸ Import images…) instead of becoming a plain napari layer that is
        never saved with the project. With no project open, napari opens them as usual: napari
        users drop files for many other reasons, and there is no project to import into."""
        from qsa_gui._qt import napari_private
        from qsa_gui._qt.drops import FileDropFilter

        self._drop_filter = FileDropFilter(self, lambda _paths: self.project is not None, self.drop_files)
        self._drop_filter.install(*napari_private.drop_targets(viewer), accept=False)

    def event(self, event: Any) -> bool:
        """Guard napari's dock (its x button) as soon as this widget is put into one."""
        from qtpy.QtCore import QEvent

        if event.type() == QEvent.Type.ParentChange:
            self._on_parent_changed()
        return super().event(event)

    def _on_parent_changed(self) -> None:
        from qsa_gui._qt import napari_private

        parent = self.parent()
        if parent is not None:
            self._docked = napari_private.guard_dock_close(parent, self.close_dock) or self._docked
        elif self._docked and not self._shut_down:  # the dock was removed some other way
            self.close_dock(ask=False)

    def close_dock(self, ask: bool = True) -> bool:
        """The dock is closing: ask about a running job (``confirm_cancel_job``), cancel it, save
        the labels, take the project's layers away and release the project's lock."""
        if ask and self.runner.is_running and not self.confirm_cancel_job():
            return False
        self._autosave_timer.stop()
        self.runner.shutdown(timeout=60.0)
        if self.project is not None:
            self.close_project()
        self.shutdown()
        return True


def make_assistant_widget(napari_viewer: napari.viewer.Viewer) -> AssistantWidget:
    """The dock widget for ``napari_viewer`` (for scripts: ``viewer.window.add_dock_widget(...)``)."""
    return AssistantDock(napari_viewer)


def find_assistant(viewer: Any | None) -> AssistantWidget | None:
    """The assistant docked in ``viewer`` (the reader opens project folders in it), if any."""
    from qsa_gui._qt.assistant import AssistantWidget

    window = getattr(viewer, "window", None)
    docks = getattr(window, "dock_widgets", None)
    if docks is None:
        return None
    try:
        widgets = list(docks.values())
    except Exception:  # noqa: BLE001 - a closing window may refuse: then there is no assistant
        return None
    for widget in widgets:
        inner = getattr(widget, "native", widget)
        if isinstance(inner, AssistantWidget):
            return inner
    return None


__all__ = ["AssistantDock", "find_assistant", "make_assistant_widget"]
