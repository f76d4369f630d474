"""The records a project manifest holds (images, rounds, model versions) and their JSON forms.

Kept apart from the store so readers (GUI gallery, CLI) and the schema check share one definition.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 2  # 2: slides and their regions (a project without slides is still written as 1)
APP_NAME = "qsa-gui"
MANIFEST = "project.json"
LOCK_FILE = ".lock"

STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED = "unlabelled", "in_progress", "labelled"
STATUSES = (STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED)
SPLITS = ("pool", "test")
SUBDIRS = ("images", "labels", "predictions", "models", "scores")


def now() -> str:
    """ISO 8601 UTC timestamp (seconds) for manifests: sortable and timezone-unambiguous."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_user() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:  # noqa: BLE001 - no login name (containers, services): still label
        return "user"


def jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples and Paths (manifests must round-trip)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def normalized(obj: Any) -> Any:
    """``obj`` as it will read back from project.json, so in-memory == reopened state."""
    return json.loads(json.dumps(jsonable(obj)))


@dataclass
class ImageRecord:
    """One image of the project. ``path`` is relative to the project folder, or absolute for a
    reference imported with copy=False; ``missing`` is computed on open (never stored).
    ``label_versions`` lists every kept labelling (see :meth:`Project.label_versions`); the last
    one is ``label_path``."""

    id: str
    name: str
    path: str
    shape: tuple[int, int]
    status: str = STATUS_UNLABELLED
    split: str = "pool"
    labelled_by: str | None = None
    labelled_at: str | None = None
    label_path: str | None = None
    prediction_path: str | None = None
    prediction_model: str | None = None
    suggestion: dict | None = None
    sha256: str = ""
    copied: bool = True
    label_versions: list[dict] = field(default_factory=list)
    region: dict | None = None
    missing: bool = False


@dataclass
class SlideRecord:
    """One whole slide. Its regions are :class:`ImageRecord` s whose ``region`` is
    ``{"slide": id, "box": [y0, y1, x0, x1], "tissue": fraction}`` (level-0 pixels, top-left
    origin) and whose ``shape`` is the region image at ``magnification``; ``scale`` is level-0
    pixels per region pixel. ``tissue`` holds the tissue outlines (level-0 [x, y] rings) so a GUI
    can draw them without reopening the slide; ``notes`` what had to be assumed (unknown pixel
    size ...). ``path`` and ``copied`` as for images."""

    id: str
    name: str
    path: str
    shape: tuple[int, int]
    format: str = "tiff"
    mpp: float | None = None
    objective_power: float | None = None
    magnification: float = 20.0
    scale: float = 1.0
    region_size: tuple[int, int] = (522, 775)
    min_tissue: float = 0.25
    tissue: list[list[list[float]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sha256: str = ""
    copied: bool = True
    added: str = ""
    missing: bool = False


@dataclass
class SuggestionRound:
    """One 'suggest' run: the ranked image ids and their scores. ``index``, ``created`` and
    ``n_labelled_before`` are filled in by :meth:`Project.add_round` when left as None/""."""

    index: int | None = None
    created: str = ""
    strategy: str = ""
    model_key: str = ""
    image_ids: list[str] = field(default_factory=list)
    scores: dict[str, dict] = field(default_factory=dict)
    n_labelled_before: int | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class ModelVersion:
    """One model file. ``accepted`` False + ``reason``: the regression guard kept the old model.
    ``round_index`` (filled in by add_model) ties the version to the latest round for history()."""

    version: str
    path: str
    created: str = ""
    kind: str = "segmentation"
    bits: int | None = None
    n_labelled: int = 0
    metrics: dict = field(default_factory=dict)
    accepted: bool = True
    reason: str = ""
    parent: str | None = None
    round_index: int | None = None


@dataclass
class ImportReport:
    """What import_images did: ids added, and (path, reason) for every file skipped."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    slides: list[dict] = field(default_factory=list)  # per slide: id, name, regions, mpp, notes


IMAGE_FIELDS = {f.name for f in fields(ImageRecord)} - {"missing"}
SLIDE_FIELDS = {f.name for f in fields(SlideRecord)} - {"missing"}
ROUND_FIELDS = {f.name for f in fields(SuggestionRound)}
MODEL_FIELDS = {f.name for f in fields(ModelVersion)}


def image_to_dict(rec: ImageRecord) -> dict:
    d = asdict(rec)
    d.pop("missing")
    if d["region"] is None:  # plain images keep the schema-1 form
        d.pop("region")
    d["shape"] = list(rec.shape)
    return jsonable(d)


def slide_to_dict(rec: SlideRecord) -> dict:
    d = asdict(rec)
    d.pop("missing")
    return jsonable(d)
