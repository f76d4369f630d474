"""The annotation assistant panel (:class:`AssistantWidget`), docked in napari and the main window.

- :mod:`.widget` -- the thin composition: project, jobs, autosave timer, window life.
- :mod:`.navigation` -- show / next / previous / mark done / accept prediction / heat-map.
- :mod:`.panel` -- building the widgets; :mod:`.view` -- drawing the session into them.
- :mod:`.results` -- one handler per job outcome; :mod:`.dialogs`; :mod:`.watch`.

The Qt-free state is :class:`qsa_gui.components.session.Session` (``w.session``).
"""

from __future__ import annotations

from qsa_gui.components.records import display_record, history_rows
from qsa_gui.components.session import AUTOSAVE_MS
from qsa_gui.core.workflow.transfer import ExportReport, export_job, export_model, import_job

from ..actions import SHORTCUTS
from .widget import AssistantWidget

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
