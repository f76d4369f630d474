"""A project folder: manifest, images, labels, predictions, model versions, suggestion rounds.

Layout (see docs/architecture.md)::

    project.json        manifest; written atomically *after* the files it points to
    images/             copied images (or absolute references when imported with copy=False)
    labels/<id>[.vN-x].tif   expert instance labels, one file per kept version
    predictions/<id>.<version>.tif   model predictions, one file per (image, model version)
    models/<version>.qsam            model files; never overwritten
    scores/<key>.npz    cached suggestion scores (a cache: may be deleted at any time)
    .lock               one writer at a time (flock; pid + host + time for messages)

Why this shape: users resume work across days, so the folder must reopen exactly; a crash or
kill at any moment must leave the previous consistent manifest (data files are written first
under new names, the manifest last, both atomically: the manifest switch is the commit); and
two windows must never write the same project. This module is the transaction and the facade;
records, schema, lock, files, labels, import and job artifacts live in sibling modules.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qsa_gui.core.data import images as qio

from ..atomic import atomic_write_json
from ..errors import InputFileError, ProjectError
from .artifacts import ArtifactsMixin
from .files import ID_RE, inside, validated_labels
from .history import flat_history_rows, history_rows
from .importer import _LARGE_IMAGE_PIXELS, ImportMixin
from .labels import LabelsMixin, legacy_versions
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
    SUBDIRS,
    ImageRecord,
    ImportReport,
    ModelVersion,
    SlideRecord,
    SuggestionRound,
    image_to_dict,
    jsonable,
    normalized,
    now,
    slide_to_dict,
)
from .schema import parse_manifest
from .slides import SlidesMixin

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
    "SlideRecord",
    "SuggestionRound",
    "_LARGE_IMAGE_PIXELS",
    "atomic_write_json",
]


class Project(LabelsMixin, ImportMixin, SlidesMixin, ArtifactsMixin):
    """An open project folder. Every mutating method writes its data files and then the
    manifest (atomically); if that fails, the in-memory state is rolled back to match disk and
    the files written for it are removed, so the folder is as it was."""

    def __init__(self, folder: Path, *, read_only: bool) -> None:
        # Use Project.create / Project.open.
        self.folder: Path = Path(folder).absolute()
        self.read_only = read_only
        self.name: str = self.folder.name
        self.created: str = ""
        self.settings: dict = {}
        self.images: list[ImageRecord] = []
        self.slides: list[SlideRecord] = []
        self.rounds: list[SuggestionRound] = []
        self.models: list[ModelVersion] = []
        self.current_model: str | None = None
        self._next_image_number = 1
        self._by_id: dict[str, ImageRecord] = {}
        self._reserved_model_numbers: set[int] = set()
        self._batch_depth = 0
        self._after_save: list[Callable[[], object]] = []
        self._on_rollback: list[Callable[[], object]] = []
        self._lock = ProjectLock(self.folder)
        self._closed = False
        self._mutex = threading.RLock()

    # ---------------------------------------------------------------- create / open / close

    @classmethod
    def create(cls, folder: str | Path, name: str | None = None, settings: dict | None = None) -> Project:
        """Make a new project in ``folder`` (absent or empty) and open it for writing."""
        folder = Path(folder)
        if folder.exists():
            if not folder.is_dir():
                raise ProjectError(f"{folder}: exists and is not a folder")
            if (folder / MANIFEST).exists():
                raise ProjectError(f"{folder}: already contains a project (project.json)")
            if any(folder.iterdir()):
                raise ProjectError(f"{folder}: folder is not empty; choose an empty or new folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"{folder}: cannot create project folder ({e.strerror or e})") from e
        proj = cls(folder, read_only=False)
        proj._lock.acquire()
        try:
            proj._make_subdirs()
            proj.name = name if name else proj.folder.name
            proj.created = now()
            proj.settings = normalized(settings or {})
            proj.save()
        except BaseException:
            proj._lock.release()
            raise
        return proj

    @classmethod
    def open(cls, folder: str | Path, *, read_only: bool = False) -> Project:
        """Open an existing project; any problem is a ProjectError saying what is wrong.
        read_only=True takes no lock and writes nothing: it reads one snapshot of the manifest
        (replaced atomically by writers), so it works beside a running job or on a read-only mount."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ProjectError(f"{folder}: no such project folder")
        if not (folder / MANIFEST).is_file():
            raise ProjectError(f"{folder}: no {MANIFEST} here (not a qsa-gui project folder)")
        proj = cls(folder, read_only=read_only)
        if not read_only:
            proj._lock.acquire()
        try:
            proj._load_manifest()
            if not read_only:
                proj._make_subdirs()
        except BaseException:
            proj._lock.release()
            raise
        return proj

    def _make_subdirs(self) -> None:
        for sub in SUBDIRS:
            try:
                (self.folder / sub).mkdir(exist_ok=True)
            except OSError as e:
                raise ProjectError(f"{self.folder / sub}: cannot create folder ({e.strerror or e})") from e
            self._inside(sub, "folder")  # a data folder linked elsewhere would be written through

    def scratch_path(self, sub: str, name: str) -> Path:
        """A hidden temporary path inside ``sub`` (e.g. a large prediction being written), checked
        to stay inside the project; hidden names are ignored by every reader."""
        if sub not in SUBDIRS or not ID_RE.match(name):
            raise ValueError(f"bad scratch location {sub!r}/{name!r}")
        return self._inside(f"{sub}/.{name}", "scratch file")

    def close(self) -> None:
        """Release the lock; the object refuses further writes."""
        with self._mutex:
            self._lock.release()
            self._closed = True

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "closed" if self._closed else "open"
        return f"<Project {self.name!r} at {self.folder} ({mode}, {len(self.images)} images)>"

    @property
    def lock_path(self) -> Path:
        return self._lock.path

    def _check_writable(self) -> None:
        if self._closed:
            raise ProjectError(f"{self.folder}: project is closed")
        if self.read_only:
            raise ProjectError(f"{self.folder}: project is open read-only; changes are not allowed")

    # ---------------------------------------------------------------- manifest transaction

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def _manifest_dict(self) -> dict:
        extra = {"slides": [slide_to_dict(s) for s in self.slides]} if self.slides else {}
        return {
            "schema_version": SCHEMA_VERSION if self.slides else 1,  # readable by older versions
            "app": APP_NAME,
            "name": self.name,
            "created": self.created,
            "settings": jsonable(self.settings),
            "next_image_number": self._next_image_number,
            "images": [image_to_dict(r) for r in self.images],
            "rounds": [jsonable(r.__dict__) for r in self.rounds],
            "models": [jsonable(m.__dict__) for m in self.models],
            "current_model": self.current_model,
            **extra,
        }

    def save(self) -> None:
        """Write project.json atomically (the last step of every mutation: the commit)."""
        with self._mutex:
            self._check_writable()
            try:
                atomic_write_json(self.manifest_path, self._manifest_dict())
            except OSError as e:
                raise ProjectError(f"{self.manifest_path}: could not save ({e.strerror or e})") from e

    #: The manifest's fields besides the image records, copied before a mutation and put back
    #: when it fails (image records are restored in place, see :meth:`_mutation`).
    _SNAPSHOT_FIELDS = (
        "name", "settings", "rounds", "models", "current_model", "_next_image_number", "slides",
    )  # fmt: skip

    def _snapshot(self) -> tuple:
        return copy.deepcopy(tuple(getattr(self, f) for f in self._SNAPSHOT_FIELDS))

    def _restore_snapshot(self, snapshot: tuple) -> None:
        for name, value in zip(self._SNAPSHOT_FIELDS, snapshot, strict=True):
            setattr(self, name, value)

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[None]:
        """Run a change then save; on any failure restore the in-memory state and remove the
        files written for it (disk is then as before). Image records are restored in place, so
        references held by a GUI stay valid and true. Inside :meth:`batch` the save (and the
        rollback) happen once, for the whole batch."""
        with self._mutex:
            self._check_writable()
            if self._batch_depth > 0:
                yield
                return
            originals = {id(r): r for r in self.images}
            snapshot = self._snapshot()
            saved_images = [(id(r), copy.deepcopy(r.__dict__)) for r in self.images]
            try:
                yield
                self.save()
            except BaseException:
                self._after_save.clear()
                undo, self._on_rollback = self._on_rollback, []
                for fn in reversed(undo):  # the manifest never named these files
                    with contextlib.suppress(OSError, ProjectError):
                        fn()
                self._restore_snapshot(snapshot)
                restored = []
                for key, state in saved_images:
                    rec = originals[key]
                    rec.__dict__.clear()
                    rec.__dict__.update(state)
                    restored.append(rec)
                self.images = restored
                self._reindex()
                raise
            self._on_rollback.clear()
            cleanups, self._after_save = self._after_save, []
            for fn in cleanups:  # only once the manifest no longer points at what they remove
                with contextlib.suppress(OSError, ProjectError):
                    fn()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many changes (e.g. a prediction for every image) into one manifest write; if
        anything inside fails, all of them are rolled back together."""
        with self._mutation():
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1

    def _reindex(self) -> None:
        self._by_id = {r.id: r for r in self.images}

    def _load_manifest(self) -> None:
        path = self.manifest_path
        try:
            raw = path.read_bytes()  # one read: writers replace the file atomically
        except OSError as e:
            raise ProjectError(f"{path}: cannot read project.json ({e.strerror or e})") from e
        m = parse_manifest(path, raw)
        for rec in m.images:
            self._check_image_path(rec)
            for attr in ("label_path", "prediction_path"):
                value = getattr(rec, attr)
                if value is not None:
                    self._inside(value, f"image {rec.id}: {attr}")
            for v in rec.label_versions:
                self._inside(v["path"], f"image {rec.id}: label version {v['version']}")
            legacy_versions(rec)
        for mv in m.models:
            self._inside(mv.path, f"model {mv.version}: path")
        for sr in m.slides:
            self._check_image_path(sr)  # type: ignore[arg-type]
        self.name = m.name if m.name else self.folder.name
        self.created, self.settings = m.created, m.settings
        numbers = [int(g.group(1)) for r in m.images if (g := re.match(r"^img_(\d+)$", r.id))]
        self._next_image_number = max([m.next_image_number, *(n + 1 for n in numbers)])
        self.images, self.rounds, self.models, self.current_model = (
            m.images,
            m.rounds,
            m.models,
            m.current_model,
        )
        self.slides = m.slides
        self._reindex()
        self._refresh_missing()

    def _inside(self, rel: str, what: str) -> Path:
        return inside(self.folder, self.manifest_path, rel, what)

    def _check_image_path(self, rec: ImageRecord | SlideRecord) -> None:
        p = Path(rec.path)
        if p.is_absolute():
            if rec.copied:
                raise ProjectError(
                    f"{self.manifest_path}: image {rec.id}: copied image path {rec.path!r} must be "
                    "relative to the project folder"
                )
            return
        self._inside(rec.path, f"image {rec.id}: path")

    def _refresh_missing(self) -> None:
        for slide in self.slides:
            slide.missing = not self.slide_path(slide.id).is_file()
        for rec in self.images:
            rec.missing = not self.image_path(rec.id).is_file()

    def missing_images(self) -> list[str]:
        """Ids of images whose file is gone (e.g. a moved copy=False reference)."""
        return [r.id for r in self.images if r.missing]

    # ---------------------------------------------------------------- lookups

    def image(self, image_id: str) -> ImageRecord:
        try:
            return self._by_id[image_id]
        except KeyError:
            raise ProjectError(f"no image {image_id!r} in project {self.name!r}") from None

    def image_path(self, image_id: str) -> Path:
        """Absolute path of the image file (of its slide, for a region of a slide)."""
        rec = self.image(image_id)
        if rec.region is not None:
            return self.slide_path(rec.region["slide"])
        p = Path(rec.path)
        return p if p.is_absolute() else self.folder / p

    def labelled_ids(self, split: str = "pool") -> list[str]:
        """Ids with status labelled (and an image file present): the training set."""
        return [
            r.id for r in self.images if r.split == split and r.status == STATUS_LABELLED and not r.missing
        ]

    def unlabelled_ids(self, split: str = "pool") -> list[str]:
        """Ids with status unlabelled (not in_progress, file present): the suggestion pool."""
        return [
            r.id for r in self.images if r.split == split and r.status == STATUS_UNLABELLED and not r.missing
        ]

    def load_image(self, image_id: str) -> np.ndarray:
        """float32 H x W x 3 in [0, 1]."""
        path = self.image_path(image_id)
        if not path.is_file():
            raise InputFileError(path, f"image file of {image_id} is missing")
        if self.image(image_id).region is not None:
            return self.load_region_rgb(image_id)
        return qio.load_rgb(path)

    def load_labels(self, image_id: str) -> np.ndarray | None:
        """The saved labels (int32 H x W), or None when none were saved."""
        return self._read_label_image(image_id, "label")

    def load_prediction(self, image_id: str) -> np.ndarray | None:
        """The latest saved prediction (int32 H x W), or None."""
        return self._read_label_image(image_id, "prediction")

    def _read_label_image(self, image_id: str, kind: str) -> np.ndarray | None:
        """Read ``rec.<kind>_path``, confined to the project and checked against the image shape."""
        rec = self.image(image_id)
        rel = getattr(rec, f"{kind}_path")
        if rel is None:
            return None
        path = self._inside(rel, f"image {image_id}: {kind}_path")
        if not path.is_file():
            raise InputFileError(path, f"{kind} file of {image_id} is missing")
        return qio.read_labels(path, expected_shape=rec.shape)

    def _validated_labels(self, rec: ImageRecord, labels: Any, where: Path | None = None) -> np.ndarray:
        return validated_labels(rec, labels, where if where is not None else self.image_path(rec.id))

    # ---------------------------------------------------------------- settings / history

    def set_split(self, image_id: str, split: str) -> None:
        """Move an image between the suggestion pool and the held-out test set."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        with self._mutation():
            self.image(image_id).split = split

    def set_settings(self, settings: dict) -> None:
        """Replace the project settings (saved)."""
        with self._mutation():
            self.settings = normalized(settings)

    def history(self) -> list[dict]:
        """Rows for the history plot, one per round (see :func:`history.history_rows`)."""
        return history_rows(self.rounds, self.models, self.current_model, len(self.labelled_ids()))

    def history_flat(self) -> list[dict]:
        """One row per (round, model version): :func:`history.flat_history_rows`."""
        return flat_history_rows(self.history())
