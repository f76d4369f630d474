"""Files dropped on the window or the canvas go into the project, not to napari's reader.

Why: napari opens a dropped image with its reader (asking which plugin when several fit) and adds
a plain layer that is not part of the project, so nothing painted on it is ever saved. Both shells
install :class:`FileDropFilter` (an ordinary Qt event filter) on napari's canvas widget and on
their own widgets; it takes the drag only when the shell says it wants those paths, so every other
drag (layer reordering, text) is left alone. What a drop means is decided by :func:`sort_drop`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject

from qsa_gui.core.project.store import MANIFEST
from qsa_gui.core.slides.files import importable_files, is_importable_name

Wants = Callable[[list[str]], bool]
Drop = Callable[[list[str]], None]


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """An image or whole-slide file by its name (what a drop may import)."""
    return is_importable_name(path)


@dataclass
class SortedDrop:
    """What a drop holds: a project folder to open, or files to import (folders expanded)."""

    project: str | None = None
    files: list[str] = field(default_factory=list)


def sort_drop(paths: list[str]) -> SortedDrop:
    """A single project folder opens; anything else is imported: files as they are (the import
    job says which it skipped and why), plain folders as the image and slide files directly
    inside them (a DICOM slide's files once)."""
    if len(paths) == 1 and (Path(paths[0]) / MANIFEST).is_file():
        return SortedDrop(project=paths[0])
    files: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            if not (path / MANIFEST).is_file():
                files.extend(str(f) for f in importable_files(path))
        else:
            files.append(str(path))
    return SortedDrop(files=files)


def local_paths(mime: Any) -> list[str]:
    """The local files of a drag's mime data (web URLs are not files to import)."""
    if mime is None or not mime.hasUrls():
        return []
    return [str(Path(u.toLocalFile())) for u in mime.urls() if u.isLocalFile()]


class FileDropFilter(QObject):
    """Takes file drags that ``wants(paths)`` accepts and hands the drop to ``drop(paths)``."""

    DRAG_TYPES = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)

    def __init__(self, parent: QObject, wants: Wants, drop: Drop) -> None:
        super().__init__(parent)
        self.wants = wants
        self.drop = drop

    def install(self, *widgets: Any, accept: bool = True) -> None:
        """Filter the drags of ``widgets``; ``accept=False`` leaves their own drop acceptance as
        it is (napari's widgets: a drag the filter lets pass must reach napari unchanged)."""
        for widget in widgets:
            if widget is not None:
                if accept:
                    widget.setAcceptDrops(True)
                widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() not in self.DRAG_TYPES:
            return False
        paths = local_paths(event.mimeData())  # type: ignore[attr-defined]
        if not paths or not self.wants(paths):
            return False  # napari (or the widget) handles it as before
        event.acceptProposedAction()  # type: ignore[attr-defined]
        if event.type() == QEvent.Type.Drop:
            self.drop(paths)
        return True


__all__ = ["FileDropFilter", "SortedDrop", "is_image_name", "local_paths", "sort_drop"]
