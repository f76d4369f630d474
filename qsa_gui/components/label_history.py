"""An image's earlier labels, in words, and bringing one back: the GUI's "Label history…".

Why Qt-free: restoring is the one GUI step that can throw away work (the strokes painted since the
last save), so its order is a rule tested without a display: first the unsaved strokes are saved
as a version of their own, then the chosen version becomes current as a *new* version (the core's
:meth:`~qsa_gui.core.project.store.Project.restore_labels`), so every state the user ever saw stays
restorable and a restore can itself be undone by restoring again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qsa_gui.core.errors import QSAError

if TYPE_CHECKING:
    from qsa_gui.core.project.store import Project

    from .session import Session


@dataclass(frozen=True)
class VersionRow:
    """One kept labelling of an image, as the history dialog lists it (newest first)."""

    version: int
    when: str  # "2026-12-02 04:31" (local time of the save, as recorded)
    who: str
    glands: int | None
    finished: bool
    note: str  # "current", "restored from version 2", ""
    current: bool

    @property
    def state(self) -> str:
        return "finished" if self.finished else "in progress"


def _when(at: object) -> str:
    """The recorded ISO timestamp, shortened to minutes for a table cell."""
    text = str(at or "")
    return text.replace("T", " ")[:16] if text else "unknown time"


def version_rows(project: Project, image_id: str) -> list[VersionRow]:
    """The image's kept label versions, newest (the current labels) first."""
    versions = project.label_versions(image_id)
    rows = []
    for i, v in enumerate(versions):
        current = i == len(versions) - 1
        notes = ["current"] if current else []
        if v.get("restored_from") is not None:
            notes.append(f"restored from version {v['restored_from']}")
        objects = v.get("objects")
        rows.append(
            VersionRow(
                version=int(v["version"]),
                when=_when(v.get("at")),
                who=str(v.get("by") or "unknown"),
                glands=int(objects) if isinstance(objects, int) else None,
                finished=bool(v.get("done")),
                note=", ".join(notes),
                current=current,
            )
        )
    return rows[::-1]


def restore_version(session: Session, version: int) -> np.ndarray | None:
    """Make ``version`` of the current image's labels current again; the labels to show, or None
    (with an error message) when it could not be done. Unsaved strokes are saved first."""
    p, image_id = session.project, session.current_image_id
    if p is None or image_id is None:
        return None
    if session.dirty and session.labels_data() is not None:
        session.flush()
        if session.dirty:  # the save of the unsaved strokes failed: restoring would lose them
            session.report("Not restored: your unsaved strokes could not be saved first.", "error")
            return None
    try:
        entry = p.restore_labels(image_id, version)
        labels = p.load_labels(image_id)
    except QSAError as exc:
        session.report(f"Could not restore version {version} of the labels: {exc}", "error")
        return None
    if labels is None:  # cannot happen after a successful restore; never show a wrong image
        session.report(f"Version {version} of the labels could not be read back.", "error")
        return None
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    session.saved_labels = labels.copy()
    session.dirty = False
    session.accept.clear()
    session.records_changed.emit(image_id)
    state = "finished" if entry.get("done") else "in progress"
    session.report(
        f"Labels of {p.image(image_id).name} restored from version {version} (now version "
        f"{entry['version']}, {state}); the labels you replaced stay in the history."
    )
    return labels


__all__ = ["VersionRow", "restore_version", "version_rows"]
