"""One family of exceptions the shells can show to a user as a single clear line."""

from __future__ import annotations

from pathlib import Path


class QSAError(Exception):
    """Base of every error the product reports to a user (never a traceback)."""


class InputFileError(QSAError):
    """A file could not be used: names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(QSAError):
    """The project folder or its manifest is unusable or inconsistent."""


class ModelFileError(InputFileError):
    """A model file is corrupt, of an unknown format, or unsafe to load."""


class Cancelled(QSAError):
    """A job was cancelled by the user; whatever it was replacing is left untouched."""
