"""The verbs every shell runs on a project, one module per verb.

The CLI, the PySide6 window and the napari plugin call these same jobs; each reads what it needs
from the project, computes without touching it and commits its result at the very end.
"""

from qsa_gui.core.workflow.common import project_settings
from qsa_gui.core.workflow.predict import evaluate_job, segment_job
from qsa_gui.core.workflow.retrain import RetrainResult, retrain_job
from qsa_gui.core.workflow.suggest import SuggestResult, suggest_job

__all__ = [
    "RetrainResult",
    "SuggestResult",
    "evaluate_job",
    "project_settings",
    "retrain_job",
    "segment_job",
    "suggest_job",
]
