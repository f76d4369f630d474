"""First steps in the desktop window: our welcome over the empty canvas, files dropped into the
project, and the last project reopened at start.

Why a mixin of :class:`~qsa_gui.app.window.MainWindow`: these are the window's start-up
behaviours, each small, and the window class itself stays about embedding and closing.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QSettings

from qsa_gui._qt import napari_private
from qsa_gui._qt.drops import FileDropFilter

from .recent import is_project_folder
from .welcome import WelcomeOverlay

#: QSettings key: reopen the most recent project at start (default on).
KEY_REOPEN_LAST = "start/reopen_last"


def reopen_last_enabled(settings: QSettings) -> bool:
    value = settings.value(KEY_REOPEN_LAST, True)
    if isinstance(value, str):  # INI files give strings back
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


class FirstSteps:
    """Welcome overlay, drops and reopening of MainWindow (a mixin; see the module docstring)."""

    assistant: Any
    viewer: Any
    qt_viewer: Any
    recent: Any
    settings: QSettings

    def _build_first_steps(self) -> None:
        napari_private.hide_napari_welcome(self.viewer)
        canvas = napari_private.canvas_widget(self.viewer) or self.qt_viewer
        self.welcome = WelcomeOverlay(
            canvas,
            {
                "new_project": self.new_project_dialog,  # type: ignore[attr-defined]
                "open_project": self.open_project_dialog,  # type: ignore[attr-defined]
                "import_images": lambda: self.assistant.ask_import_images(),
                "demo_project": self.open_demo,  # type: ignore[attr-defined]
            },
        )
        # every drop of files in this window goes to the project (never napari's reader)
        self.drop_filter = FileDropFilter(self, lambda _paths: True, self.drop_files)  # type: ignore[arg-type]
        self.drop_filter.install(self, self.welcome)
        self.drop_filter.install(*napari_private.drop_targets(self.viewer), accept=False)
        self._update_welcome()

    def _update_welcome(self) -> None:
        self.welcome.setVisible(self.assistant.project is None)
        if self.welcome.isVisible():
            self.welcome.raise_()

    def drop_files(self, paths: list[str]) -> None:
        """Files dropped anywhere on the window: see AssistantWidget.drop_files."""
        drop = getattr(self.assistant, "drop_files", None)
        if drop is not None:
            drop(paths)

    def reopen_last(self, last: str | None = None) -> bool:
        """Open ``last`` (default: the most recent project) if the setting allows; a missing or
        locked one is a one-line message in the status bar, never an error dialog."""
        if not reopen_last_enabled(self.settings):
            return False
        if last is None:
            items = self.recent.paths(prune=False)
            if not items:
                return False
            last = items[0]
        if not is_project_folder(last):
            self.show_message(f"The last project ({last}) is no longer there; open or create one.")  # type: ignore[attr-defined]
            self.recent.remove(last)
            self._rebuild_recent_menu()  # type: ignore[attr-defined]
            return False
        return bool(self.assistant.open_project(last, quiet=True))


__all__ = ["FirstSteps", "KEY_REOPEN_LAST", "reopen_last_enabled"]
