"""Importing images into the project and exporting labels and the model, as jobs of the panel.

Why a mixin of :class:`~.widget.AssistantWidget`: both are public verbs of the panel
(``w.import_images(paths)``, ``w.export_to(folder)``) shared by the menus, the empty state and
file drops; the jobs themselves are the core's (``core/workflow/transfer.py``), the same as the CLI's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qsa_gui.core.workflow.transfer import export_job, import_job

from . import results
from .results import RunningJob


class Transfers:
    """Import / export (mixed into AssistantWidget, which provides the attributes)."""

    project: Any
    _start: Any
    _report: Any
    _flush_labels: Any

    def import_images(self, paths: list[str]) -> None:
        """Import image files (copied into the project) in a job; skipped files are listed."""
        if self.project is None:
            self._report("Open or create a project before importing images.", "warning")
            return
        if not paths:
            return
        project, w = self.project, self
        job = RunningJob(
            "Importing images",
            "import",
            project,
            lambda r: results.import_done(w, r),
            lambda exc: results.import_cancelled(w, exc),
            lambda: results.import_failed(w),
        )
        self._start(job, lambda cancel: import_job(project, list(paths), cancel))

    def export_to(self, folder: str | Path) -> None:
        """Export labels, predictions, annotations.csv and the current model (``model/``) into
        ``folder`` in a job: the same files as ``qsa export`` (core/workflow/transfer.py)."""
        if self.project is None:
            self._report("No project open: nothing to export.", "warning")
            return
        self._flush_labels()
        project = self.project
        job = RunningJob(
            "Exporting labels and model", "export", project, lambda r: results.export_done(self, r)
        )
        self._start(job, lambda cancel: export_job(project, folder, cancel))


__all__ = ["Transfers"]
