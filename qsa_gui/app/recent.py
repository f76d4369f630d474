"""Recent projects and window state, persisted in :class:`QSettings`.

Why: desktop users expect File > Open recent and a window that reopens where they left it.
Everything persistent goes through one :class:`QSettings` object that the caller hands in, so
tests (and a portable install: ``qsa-gui --settings FILE``) use an INI file of their own and
never touch the user's real settings.

Values are stored as JSON strings / ``QByteArray`` so that the same code reads them back on
every platform backend (a one-element list read back from an INI file would otherwise come back
as a plain string).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qtpy.QtCore import QByteArray, QSettings
from qtpy.QtWidgets import QMainWindow

#: ``qsa_gui.core.project.records.MANIFEST``, spelt out: importing the project package here
#: cost the splash ~240 ms (numpy and the store) before it could paint (tests/gui/test_first_steps.py
#: checks the two agree).
MANIFEST = "project.json"

ORGANIZATION = "qsa-gui"
APPLICATION = "qsa-gui"
MAX_RECENT = 8

KEY_RECENT = "recent/projects"
KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_DEMO_FOLDER = "demo/folder"
#: Bump when the dock layout changes, so an old saved state is not applied to new docks.
STATE_VERSION = 1


def make_settings(path: str | os.PathLike[str] | None = None) -> QSettings:
    """The app's settings: the user's native store, or an INI file at ``path`` (tests, portable)."""
    if path is None:
        return QSettings(ORGANIZATION, APPLICATION)
    return QSettings(str(path), QSettings.Format.IniFormat)


def is_project_folder(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` holds a project manifest (what 'still exists' means for a recent entry)."""
    return (Path(path) / MANIFEST).is_file()


def _normalise(path: str | os.PathLike[str]) -> str:
    return str(Path(path).expanduser().resolve())


class RecentProjects:
    """Most-recently-opened project folders, newest first, at most ``max_items``.

    Folders that no longer hold a project are pruned whenever the list is read, so the menu
    never offers an entry that would fail to open.
    """

    def __init__(self, settings: QSettings, max_items: int = MAX_RECENT) -> None:
        self._settings = settings
        self.max_items = max(1, int(max_items))

    def _read(self) -> list[str]:
        raw = self._settings.value(KEY_RECENT, "[]")
        try:
            items = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        except (TypeError, ValueError):
            items = []
        return [str(p) for p in items if isinstance(p, str) and p]

    def _write(self, items: list[str]) -> None:
        self._settings.setValue(KEY_RECENT, json.dumps(items[: self.max_items]))
        self._settings.sync()

    def paths(self, *, prune: bool = True) -> list[str]:
        """The stored folders, newest first; with ``prune`` missing projects are dropped for good."""
        items = self._read()
        if not prune:
            return items[: self.max_items]
        kept = [p for p in items if is_project_folder(p)][: self.max_items]
        if kept != items:
            self._write(kept)
        return kept

    def add(self, path: str | os.PathLike[str]) -> list[str]:
        """Put ``path`` first (removing an older copy of it) and return the new list."""
        entry = _normalise(path)
        items = [entry] + [p for p in self._read() if _normalise(p) != entry]
        items = items[: self.max_items]
        self._write(items)
        return items

    def remove(self, path: str | os.PathLike[str]) -> None:
        entry = _normalise(path)
        self._write([p for p in self._read() if _normalise(p) != entry])

    def clear(self) -> None:
        self._write([])


def save_window_state(settings: QSettings, window: QMainWindow) -> None:
    """Remember the window's geometry and dock layout."""
    settings.setValue(KEY_GEOMETRY, window.saveGeometry())
    settings.setValue(KEY_STATE, window.saveState(STATE_VERSION))
    settings.sync()


def restore_window_state(settings: QSettings, window: QMainWindow) -> bool:
    """Restore what :func:`save_window_state` stored; False when nothing (valid) was stored."""
    geometry = settings.value(KEY_GEOMETRY)
    state = settings.value(KEY_STATE)
    ok = False
    if isinstance(geometry, QByteArray | bytes) and len(geometry):
        ok = bool(window.restoreGeometry(QByteArray(geometry)))
    if isinstance(state, QByteArray | bytes) and len(state):
        window.restoreState(QByteArray(state), STATE_VERSION)
    return ok


def default_demo_folder(settings: QSettings | None = None) -> Path:
    """Where the demo project goes unless the user picks another folder: ``~/qsa-gui-demo``."""
    if settings is not None:
        stored = settings.value(KEY_DEMO_FOLDER)
        if isinstance(stored, str) and stored:
            return Path(stored)
    return Path.home() / "qsa-gui-demo"


__all__ = [
    "APPLICATION",
    "MAX_RECENT",
    "ORGANIZATION",
    "RecentProjects",
    "default_demo_folder",
    "is_project_folder",
    "make_settings",
    "restore_window_state",
    "save_window_state",
]
