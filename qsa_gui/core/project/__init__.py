"""The project store: one folder per annotation project (see :mod:`.store`)."""

from .history import flat_history_rows, history_rows
from .lock import ProjectLock
from .records import (
    APP_NAME,
    LOCK_FILE,
    MANIFEST,
    SCHEMA_VERSION,
    SPLITS,
    STATUS_IN_PROGRESS,
    STATUS_LABELLED,
    STATUS_UNLABELLED,
    STATUSES,
    ImageRecord,
    ImportReport,
    ModelVersion,
    SuggestionRound,
)
from .schema import checked_settings
from .store import Project

__all__ = [
    "APP_NAME",
    "LOCK_FILE",
    "MANIFEST",
    "SCHEMA_VERSION",
    "SPLITS",
    "STATUSES",
    "STATUS_IN_PROGRESS",
    "STATUS_LABELLED",
    "STATUS_UNLABELLED",
    "ImageRecord",
    "ImportReport",
    "ModelVersion",
    "Project",
    "ProjectLock",
    "SuggestionRound",
    "checked_settings",
    "flat_history_rows",
    "history_rows",
]
