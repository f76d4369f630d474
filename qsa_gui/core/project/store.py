"""A project folder: manifest, images, labels, predictions, model versions, suggestion rounds.

Layout (see docs/architecture.md)::

    project.json        manifest; written atomically *after* the files it points to
    images/             copied images (or absolute references when imported with copy=False)
    labels/<id>.tif     expert instance labels
    predictions/<id>.<version>.tif   model predictions, one file per (image, model version)
    models/<version>.qsam            model files; never overwritten
    scores/<key>.npz    cached suggestion scores (a cache: may be deleted at any time)
    .lock               one writer at a time (pid + host + time)

Why this shape: users resume work across days, so the folder must reopen exactly; a crash or
kill at any moment must leave the previous consistent manifest (data files are written first,
the manifest last, both atomically); and two windows must never write the same project.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import errno
import getpass
import hashlib
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from qsa_gui.core.data import images as qio
from qsa_gui.core.data import lazy as qlazy

from ..atomic import atomic_open, atomic_write_json
from ..errors import InputFileError, ProjectError

SCHEMA_VERSION = 1
APP_NAME = "qsa-gui"
MANIFEST = "project.json"
LOCK_FILE = ".lock"

STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED = "unlabelled", "in_progress", "labelled"
STATUSES = (STATUS_UNLABELLED, STATUS_IN_PROGRESS, STATUS_LABELLED)
SPLITS = ("pool", "test")

_SUBDIRS = ("images", "labels", "predictions", "models", "scores")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MODEL_NUM_RE = re.compile(r"-v(\d+)$")
_MAX_NAME_CHARS = 120
# Above this many pixels an image is validated lazily on import (= largeimage.LARGE_IMAGE_PIXELS).
_LARGE_IMAGE_PIXELS = 4096 * 4096
# An unreadable lock younger than this may be one another process is still writing.
_FRESH_LOCK_S = 5.0


def _now() -> str:
    """ISO 8601 UTC timestamp (seconds) for manifests: sortable and timezone-unambiguous."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _default_user() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:  # noqa: BLE001 - no login name (containers, services): still label
        return "user"


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples and Paths (manifests must round-trip)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def _normalized(obj: Any) -> Any:
    """``obj`` as it will read back from project.json, so in-memory == reopened state."""
    return json.loads(json.dumps(_jsonable(obj)))


def _safe_display_name(path: Path) -> str:
    """A printable UTF-8 name for any file name (non-UTF-8 bytes, control chars, very long)."""
    raw = os.fsencode(path.name)
    name = raw.decode("utf-8", errors="replace")
    name = "".join(ch if ch.isprintable() else "\ufffd" for ch in name)
    if len(name) > _MAX_NAME_CHARS:
        keep = _MAX_NAME_CHARS // 2 - 1
        name = name[:keep] + "\u2026" + name[-keep:]
    return name or "image"


def _safe_key(key: str) -> str:
    """A file-name-safe, collision-free spelling of a cache key."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key).strip(".") or "key"
    if safe != key or len(safe) > 100:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[:80]}-{digest}"
    return safe


def _image_suffix(path: Path, supported: Iterable[str]) -> str | None:
    lower = os.fsencode(path.name).decode("utf-8", "replace").lower()
    for suffix in sorted(supported, key=len, reverse=True):
        if lower.endswith(suffix.lower()):
            return suffix.lower()
    return None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (errs on the side of 'alive')."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - os.kill(pid, 0) would send CTRL_C there
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


# --------------------------------------------------------------------------- records


@dataclass
class ImageRecord:
    """One image of the project. ``path`` is relative to the project folder, or absolute for a
    reference imported with copy=False; ``missing`` is computed on open (never stored)."""

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


_IMAGE_FIELDS = {f.name for f in fields(ImageRecord)} - {"missing"}
_ROUND_FIELDS = {f.name for f in fields(SuggestionRound)}
_MODEL_FIELDS = {f.name for f in fields(ModelVersion)}


def _image_to_dict(rec: ImageRecord) -> dict:
    d = asdict(rec)
    d.pop("missing")
    d["shape"] = list(rec.shape)
    return _jsonable(d)


def _expect(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _opt_str(v: Any, what: str) -> None:
    _expect(v is None or isinstance(v, str), f"{what} must be a string or null")


def _image_from_dict(d: Any) -> ImageRecord:
    _expect(isinstance(d, dict), "not an object")
    for key in ("id", "name", "path", "shape"):
        _expect(key in d, f"missing {key!r}")
    kwargs = {k: v for k, v in d.items() if k in _IMAGE_FIELDS}
    shape = kwargs["shape"]
    _expect(
        isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s > 0 for s in shape),
        "shape must be [H, W]",
    )
    kwargs["shape"] = (int(shape[0]), int(shape[1]))
    for key in ("id", "name", "path"):
        _expect(isinstance(kwargs[key], str), f"{key} must be a string")
    _expect(bool(_ID_RE.match(kwargs["id"])), f"id {kwargs['id']!r} is not a valid image id")
    for key in ("labelled_by", "labelled_at", "label_path", "prediction_path", "prediction_model"):
        _opt_str(kwargs.get(key), key)
    _expect(kwargs.get("status", STATUS_UNLABELLED) in STATUSES, f"unknown status {kwargs.get('status')!r}")
    _expect(kwargs.get("split", "pool") in SPLITS, f"unknown split {kwargs.get('split')!r}")
    sug = kwargs.get("suggestion")
    _expect(sug is None or isinstance(sug, dict), "suggestion must be an object or null")
    return ImageRecord(**kwargs)


def _round_from_dict(d: Any) -> SuggestionRound:
    _expect(isinstance(d, dict), "not an object")
    kwargs = {k: v for k, v in d.items() if k in _ROUND_FIELDS}
    _expect(isinstance(kwargs.get("index"), int), "index must be an integer")
    ids = kwargs.get("image_ids", [])
    _expect(isinstance(ids, list) and all(isinstance(i, str) for i in ids), "image_ids must be strings")
    _expect(isinstance(kwargs.get("scores", {}), dict), "scores must be an object")
    _expect(isinstance(kwargs.get("settings", {}), dict), "settings must be an object")
    return SuggestionRound(**kwargs)


def _model_from_dict(d: Any) -> ModelVersion:
    _expect(isinstance(d, dict), "not an object")
    for key in ("version", "path"):
        _expect(isinstance(d.get(key), str), f"{key} must be a string")
    kwargs = {k: v for k, v in d.items() if k in _MODEL_FIELDS}
    _expect(isinstance(kwargs.get("metrics", {}), dict), "metrics must be an object")
    return ModelVersion(**kwargs)


# --------------------------------------------------------------------------- project


class Project:
    """An open project folder. Every mutating method writes its data files and then the
    manifest (atomically); if that fails, the in-memory state is rolled back to match disk."""

    def __init__(self, folder: Path, *, read_only: bool) -> None:
        # Use Project.create / Project.open.
        self.folder: Path = Path(folder).absolute()
        self.read_only = read_only
        self.name: str = self.folder.name
        self.created: str = ""
        self.settings: dict = {}
        self.images: list[ImageRecord] = []
        self.rounds: list[SuggestionRound] = []
        self.models: list[ModelVersion] = []
        self.current_model: str | None = None
        self._next_image_number = 1
        self._by_id: dict[str, ImageRecord] = {}
        self._reserved_model_numbers: set[int] = set()
        self._batch_depth = 0
        self._after_save: list[Callable[[], object]] = []
        self._lock_token: str | None = None
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
        proj._acquire_lock()
        try:
            proj._make_subdirs()
            proj.name = name if name else proj.folder.name
            proj.created = _now()
            proj.settings = _normalized(settings or {})
            proj.save()
        except BaseException:
            proj._release_lock()
            raise
        return proj

    @classmethod
    def open(cls, folder: str | Path, *, read_only: bool = False) -> Project:
        """Open an existing project; any problem is a ProjectError saying what is wrong."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ProjectError(f"{folder}: no such project folder")
        if not (folder / MANIFEST).is_file():
            raise ProjectError(f"{folder}: no {MANIFEST} here (not a qsa-gui project folder)")
        proj = cls(folder, read_only=read_only)
        if not read_only:
            proj._acquire_lock()
        try:
            proj._load_manifest()
            if not read_only:
                proj._make_subdirs()
        except BaseException:
            proj._release_lock()
            raise
        return proj

    def _make_subdirs(self) -> None:
        for sub in _SUBDIRS:
            try:
                (self.folder / sub).mkdir(exist_ok=True)
            except OSError as e:
                raise ProjectError(f"{self.folder / sub}: cannot create folder ({e.strerror or e})") from e
            self._inside(sub, "folder")  # a data folder linked elsewhere would be written through

    def scratch_path(self, sub: str, name: str) -> Path:
        """A hidden temporary path inside ``sub`` (e.g. a large prediction being written), checked
        to stay inside the project; hidden names are ignored by every reader."""
        if sub not in _SUBDIRS or not _ID_RE.match(name):
            raise ValueError(f"bad scratch location {sub!r}/{name!r}")
        return self._inside(f"{sub}/.{name}", "scratch file")

    def close(self) -> None:
        """Release the lock; the object refuses further writes."""
        with self._mutex:
            self._release_lock()
            self._closed = True

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "closed" if self._closed else "open"
        return f"<Project {self.name!r} at {self.folder} ({mode}, {len(self.images)} images)>"

    # ---------------------------------------------------------------- lock

    @property
    def lock_path(self) -> Path:
        return self.folder / LOCK_FILE

    def _acquire_lock(self) -> None:
        """Create .lock with O_EXCL; take over a lock whose process is dead on this host."""
        host = socket.gethostname()
        token = secrets.token_hex(8)
        payload = json.dumps({"pid": os.getpid(), "host": host, "time": _now(), "token": token}).encode()
        for _attempt in range(3):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing_lock(host)
                continue
            except OSError as e:
                raise ProjectError(f"{self.folder}: cannot create lock file ({e.strerror or e})") from e
            try:
                try:
                    if os.write(fd, payload) != len(payload):
                        raise OSError(errno.ENOSPC, "short write")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:  # e.g. a full disk: leave no empty lock behind to block others
                with contextlib.suppress(OSError):
                    self.lock_path.unlink()
                raise ProjectError(f"{self.folder}: cannot write the lock file ({e.strerror or e})") from e
            self._lock_token = token
            return
        raise ProjectError(f"{self.folder}: could not take the project lock ({self.lock_path})")

    def _handle_existing_lock(self, host: str) -> None:
        """Raise if the lock is held by a live process; otherwise remove the stale lock."""
        try:
            raw = self.lock_path.read_bytes()
            info = json.loads(raw.decode("utf-8"))
            pid = int(info["pid"])
            lock_host = str(info.get("host", ""))
        except FileNotFoundError:
            return  # released meanwhile: retry
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable: maybe another process is writing it right now; else leftover garbage.
            try:
                age = time.time() - self.lock_path.stat().st_mtime
            except FileNotFoundError:
                return
            if age < _FRESH_LOCK_S:
                raise ProjectError(f"{self.folder} is being opened by another window") from None
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
            return
        if lock_host and lock_host != host:
            raise ProjectError(
                f"{self.folder} is open in another window (pid {pid} on {lock_host}); "
                f"close it there, or delete {self.lock_path} if that computer is off"
            )
        if _pid_alive(pid):
            raise ProjectError(f"{self.folder} is open in another window (pid {pid})")
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()  # stale: its process is gone

    def _release_lock(self) -> None:
        if self._lock_token is None:
            return
        token, self._lock_token = self._lock_token, None
        try:
            info = json.loads(self.lock_path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(info, dict) and info.get("token") == token:  # never remove someone else's lock
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()

    def _check_writable(self) -> None:
        if self._closed:
            raise ProjectError(f"{self.folder}: project is closed")
        if self.read_only:
            raise ProjectError(f"{self.folder}: project is open read-only; changes are not allowed")

    # ---------------------------------------------------------------- manifest

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def _manifest_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "app": APP_NAME,
            "name": self.name,
            "created": self.created,
            "settings": _jsonable(self.settings),
            "next_image_number": self._next_image_number,
            "images": [_image_to_dict(r) for r in self.images],
            "rounds": [_jsonable(asdict(r)) for r in self.rounds],
            "models": [_jsonable(asdict(m)) for m in self.models],
            "current_model": self.current_model,
        }

    def save(self) -> None:
        """Write project.json atomically (the last step of every mutation)."""
        with self._mutex:
            self._check_writable()
            try:
                atomic_write_json(self.manifest_path, self._manifest_dict())
            except OSError as e:
                raise ProjectError(f"{self.manifest_path}: could not save ({e.strerror or e})") from e

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[None]:
        """Run a change then save; on any failure restore the in-memory state (disk is unchanged).

        Image records are restored in place, so references held by a GUI stay valid and true.
        Inside :meth:`batch` the save (and the rollback) happen once, for the whole batch."""
        with self._mutex:
            self._check_writable()
            if self._batch_depth > 0:
                yield
                return
            originals = {id(r): r for r in self.images}
            snapshot = copy.deepcopy(
                (
                    self.name,
                    self.settings,
                    self.rounds,
                    self.models,
                    self.current_model,
                    self._next_image_number,
                )
            )
            saved_images = [(id(r), copy.deepcopy(r.__dict__)) for r in self.images]
            try:
                yield
                self.save()
            except BaseException:
                self._after_save.clear()
                (
                    self.name,
                    self.settings,
                    self.rounds,
                    self.models,
                    self.current_model,
                    self._next_image_number,
                ) = snapshot
                restored = []
                for key, state in saved_images:
                    rec = originals[key]
                    rec.__dict__.clear()
                    rec.__dict__.update(state)
                    restored.append(rec)
                self.images = restored
                self._reindex()
                raise
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
            raw = path.read_bytes()
        except OSError as e:
            raise ProjectError(f"{path}: cannot read project.json ({e.strerror or e})") from e
        if not raw.strip():
            raise ProjectError(f"{path}: project.json is empty (truncated by a crash?)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(f"{path}: project.json is not UTF-8 text (corrupt file)") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProjectError(
                f"{path}: project.json is corrupt or truncated ({e.msg} at line {e.lineno}, column {e.colno})"
            ) from None
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: project.json is not a JSON object")
        if data.get("app") != APP_NAME:
            raise ProjectError(f"{path}: not a qsa-gui project (app = {data.get('app')!r})")
        schema = data.get("schema_version")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
            raise ProjectError(f"{path}: project.json has an invalid schema_version ({schema!r})")
        if schema > SCHEMA_VERSION:
            raise ProjectError(
                f"{path}: project made by a newer version of qsa-gui (schema {schema} > {SCHEMA_VERSION}); "
                "update qsa-gui to open it"
            )

        def part(where: str, fn: Any, value: Any) -> Any:
            try:
                return fn(value)
            except (ValueError, TypeError, KeyError) as e:
                raise ProjectError(f"{path}: {where} is malformed ({e})") from None

        for key, typ in (("images", list), ("rounds", list), ("models", list), ("settings", dict)):
            if not isinstance(data.get(key, typ()), typ):
                raise ProjectError(f"{path}: '{key}' must be a JSON {typ.__name__}")
        name = data.get("name", self.folder.name)
        self.name = name if isinstance(name, str) else self.folder.name
        self.created = data.get("created", "") if isinstance(data.get("created", ""), str) else ""
        self.settings = data.get("settings", {})
        images = [part(f"images[{i}]", _image_from_dict, d) for i, d in enumerate(data.get("images", []))]
        rounds = [part(f"rounds[{i}]", _round_from_dict, d) for i, d in enumerate(data.get("rounds", []))]
        models = [part(f"models[{i}]", _model_from_dict, d) for i, d in enumerate(data.get("models", []))]

        ids = [r.id for r in images]
        if len(set(ids)) != len(ids):
            raise ProjectError(f"{path}: duplicate image ids in project.json")
        for rec in images:
            self._check_image_path(rec)
            for attr in ("label_path", "prediction_path"):
                value = getattr(rec, attr)
                if value is not None:
                    self._inside(value, f"image {rec.id}: {attr}")
        versions = [m.version for m in models]
        if len(set(versions)) != len(versions):
            raise ProjectError(f"{path}: duplicate model versions in project.json")
        for m in models:
            self._inside(m.path, f"model {m.version}: path")
        current = data.get("current_model")
        if current is not None and current not in versions:
            raise ProjectError(f"{path}: current_model {current!r} is not one of the recorded models")
        known = set(ids)
        for r in rounds:
            unknown = [i for i in r.image_ids if i not in known]
            if unknown:
                raise ProjectError(f"{path}: round {r.index} names unknown images {unknown[:3]}")
        nxt = data.get("next_image_number", 1)
        numbers = [int(m.group(1)) for i in ids if (m := re.match(r"^img_(\d+)$", i))]
        self._next_image_number = max([nxt if isinstance(nxt, int) else 1, *(n + 1 for n in numbers)])

        self.images, self.rounds, self.models, self.current_model = images, rounds, models, current
        self._reindex()
        self._refresh_missing()

    def _inside(self, rel: str, what: str) -> Path:
        """Resolve a manifest path that must stay inside the project (no ../, absolute, or
        symlink escaping): files written there must never land outside the folder."""
        p = Path(rel)
        if p.is_absolute() or p.drive or ".." in p.parts:
            raise ProjectError(f"{self.manifest_path}: {what} {rel!r} points outside the project folder")
        root = self.folder.resolve()
        target = (root / p).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ProjectError(
                f"{self.manifest_path}: {what} {rel!r} points outside the project folder (via a link)"
            )
        return root / p

    def _check_image_path(self, rec: ImageRecord) -> None:
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
        """Absolute path of the image file."""
        rec = self.image(image_id)
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

    # ---------------------------------------------------------------- import

    def import_images(
        self,
        paths: Iterable[str | Path],
        *,
        copy: bool = True,
        split: str = "pool",
        labels: Mapping[str | Path, str | Path] | None = None,
    ) -> ImportReport:
        """Add image files. Each is validated by decoding it; a bad file is skipped with a reason,
        never raised. ``labels`` maps image path -> ground-truth label file (marks it labelled)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        label_map: dict[Path, Path] = {}
        for k, v in (labels or {}).items():
            label_map[Path(k).absolute()] = Path(v)
        report = ImportReport()
        with self._mutation():
            known = {r.sha256: r.id for r in self.images if r.sha256}
            for raw_path in paths:
                src = Path(raw_path)
                shown = str(src)
                try:
                    shown.encode("utf-8")
                except UnicodeEncodeError:  # non-UTF-8 file name: printable for CLI/GUI messages
                    shown = os.fsencode(src).decode("utf-8", errors="replace")
                reason = self._import_one(src, copy, split, label_map, known, report)
                if reason is not None:
                    report.skipped.append((shown, reason))
        return report

    @staticmethod
    def _validated_image_shape(src: Path) -> tuple[int, int]:
        """(H, W) of an importable image, decoding it to prove it reads. Large images (see
        largeimage.LARGE_IMAGE_PIXELS) are opened lazily and only their first and last rows
        decoded (a truncated file loses its tail), so importing a slide never needs its size in RAM."""
        with qlazy.open_lazy(src) as lazy:
            h, w = int(lazy.shape[0]), int(lazy.shape[1])
            if h * w <= _LARGE_IMAGE_PIXELS:
                lazy.read_rgb(0, h)  # == load_rgb(src), decoded once
            else:
                rows = max(1, min(h, 4_000_000 // max(1, w)))
                lazy.read_rgb(0, rows)
                lazy.read_rgb(max(0, h - rows), h)
        return h, w

    def _import_one(
        self,
        src: Path,
        copy_file: bool,
        split: str,
        label_map: dict[Path, Path],
        known: dict[str, str],
        report: ImportReport,
    ) -> str | None:
        """Import one file; return a skip reason or None when added."""
        suffix = _image_suffix(src, qio.SUPPORTED_SUFFIXES)
        if suffix is None:
            return f"unsupported file type (supported: {', '.join(sorted(qio.SUPPORTED_SUFFIXES))})"
        try:  # by stat alone: a FIFO must not block, /dev/zero must not be hashed forever
            qio.check_regular_file(src)
        except InputFileError as e:
            return "no such file" if e.reason == "file not found" else e.reason
        try:
            digest = _file_sha256(src)
        except OSError as e:
            return f"cannot read file ({e.strerror or e})"
        if digest in known:
            return f"already in project (as {known[digest]})"
        try:
            shape = self._validated_image_shape(src)
        except InputFileError as e:
            return e.reason
        except Exception as e:  # noqa: BLE001 - one undecodable file must not stop the import
            return f"cannot decode image ({type(e).__name__}: {e})"
        gt = None
        label_src = label_map.get(src.absolute())
        if label_src is not None:
            try:
                gt = qio.read_labels(label_src, expected_shape=shape)
            except InputFileError as e:
                return f"labels {_safe_display_name(label_src)}: {e.reason}"
            except Exception as e:  # noqa: BLE001
                return f"labels {_safe_display_name(label_src)}: cannot read ({type(e).__name__}: {e})"

        image_id = f"img_{self._next_image_number:04d}"
        while image_id in self._by_id:  # hand-edited manifests may hold this id already
            self._next_image_number += 1
            image_id = f"img_{self._next_image_number:04d}"
        if copy_file:
            rel = f"images/{image_id}{suffix}"
            try:
                target = self._inside(rel, "image copy")
            except ProjectError as e:
                return str(e)
            try:
                with open(src, "rb") as fin, atomic_open(target, "wb") as fout:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
            except OSError as e:
                return f"cannot copy into the project ({e.strerror or e})"
        else:
            rel = str(src.absolute())
        rec = ImageRecord(
            id=image_id,
            name=_safe_display_name(src),
            path=rel,
            shape=shape,
            split=split,
            sha256=digest,
            copied=copy_file,
        )
        if gt is not None:
            label_rel = f"labels/{image_id}.tif"
            try:
                qio.write_labels(self.folder / label_rel, self._validated_labels(rec, gt, src))
            except OSError as e:
                return f"cannot write its labels into the project ({e.strerror or e})"
            rec.label_path = label_rel
            rec.status = STATUS_LABELLED
            rec.labelled_by = "import"
            rec.labelled_at = _now()
        self._next_image_number += 1
        self.images.append(rec)
        self._by_id[image_id] = rec
        known[digest] = image_id
        report.added.append(image_id)
        return None

    # ---------------------------------------------------------------- labels / status

    def _validated_labels(self, rec: ImageRecord, labels: Any, where: Path | None = None) -> np.ndarray:
        """int32 labels of the image's shape; anything else is an InputFileError naming the image."""
        where = where if where is not None else self.image_path(rec.id)
        arr = np.asarray(labels)
        if arr.ndim != 2 or tuple(arr.shape) != tuple(rec.shape):
            raise InputFileError(
                where,
                f"labels of {rec.id} ({rec.name}) have shape {tuple(arr.shape)}, "
                f"the image is {rec.shape[0]} x {rec.shape[1]}",
            )
        if arr.dtype == bool:
            arr = arr.astype(np.int32)
        elif np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
                raise InputFileError(where, f"labels of {rec.id} must be whole numbers (instance ids)")
        elif not np.issubdtype(arr.dtype, np.integer):
            raise InputFileError(where, f"labels of {rec.id} have unsupported type {arr.dtype}")
        if arr.size and arr.min() < 0:
            raise InputFileError(where, f"labels of {rec.id} contain negative values")
        if arr.size and arr.max() > np.iinfo(np.int32).max:
            raise InputFileError(where, f"labels of {rec.id} exceed the int32 range")
        return np.ascontiguousarray(arr, dtype=np.int32)

    def _write_labels_file(self, rel: str, arr: np.ndarray, what: str) -> None:
        """Write a label TIFF; a disk error (full, read-only, gone) becomes a ProjectError naming
        the file, so every shell shows it as one line and the previous file stays as it was."""
        path = self._inside(rel, what)  # refuses a labels/ or predictions/ linked elsewhere
        try:
            qio.write_labels(path, arr)
        except OSError as e:
            raise ProjectError(f"{path}: could not save the {what} ({e.strerror or e})") from e

    def save_labels(self, image_id: str, labels: Any, *, done: bool = False, user: str | None = None) -> None:
        """Autosave (done=False: an unlabelled image becomes in_progress, others keep their
        status) or finish (done=True: labelled, by ``user`` at now)."""
        with self._mutation():
            rec = self.image(image_id)
            arr = self._validated_labels(rec, labels)
            rel = f"labels/{rec.id}.tif"
            self._write_labels_file(rel, arr, "labels")
            rec.label_path = rel
            if done:
                rec.status = STATUS_LABELLED
                rec.labelled_by = user or _default_user()
                rec.labelled_at = _now()
            elif rec.status == STATUS_UNLABELLED:
                rec.status = STATUS_IN_PROGRESS

    def set_status(self, image_id: str, status: str, *, user: str | None = None) -> None:
        """Change the status. labelled needs saved labels; leaving labelled clears who/when."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        with self._mutation():
            rec = self.image(image_id)
            if status == STATUS_LABELLED:
                if rec.label_path is None:
                    raise ProjectError(f"cannot mark {image_id} as labelled: no labels were saved for it")
                if rec.status != STATUS_LABELLED or user is not None:
                    rec.labelled_by = user or _default_user()
                    rec.labelled_at = _now()
            else:
                rec.labelled_by = None
                rec.labelled_at = None
            rec.status = status

    def set_split(self, image_id: str, split: str) -> None:
        """Move an image between the suggestion pool and the held-out test set."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        with self._mutation():
            self.image(image_id).split = split

    def set_settings(self, settings: dict) -> None:
        """Replace the project settings (saved)."""
        with self._mutation():
            self.settings = _normalized(settings)

    # ---------------------------------------------------------------- rounds

    def add_round(self, rnd: SuggestionRound) -> SuggestionRound:
        """Record a suggestion round and mark each suggested image's ``suggestion``; images not in
        it lose theirs (suggestion describes the latest round). Returns the stored round."""
        with self._mutation():
            ids = list(rnd.image_ids)
            for i in ids:
                self.image(i)
            if len(set(ids)) != len(ids):
                raise ProjectError("a suggestion round lists the same image twice")
            stored = _round_from_dict(_normalized(asdict(rnd)) | {"index": 0})
            # 1-based like workflow.suggest_job; auto = one after the latest
            auto = self.rounds[-1].index + 1 if self.rounds else 1
            stored.index = auto if rnd.index is None else int(rnd.index)
            if self.rounds and stored.index <= self.rounds[-1].index:
                raise ProjectError(
                    f"round index {stored.index} is not after the latest round ({self.rounds[-1].index})"
                )
            stored.created = rnd.created or _now()
            if rnd.n_labelled_before is None:
                stored.n_labelled_before = len(self.labelled_ids())
            self.rounds.append(stored)
            for rec in self.images:
                rec.suggestion = None
            for rank, i in enumerate(ids, start=1):  # 1 = label first
                s = stored.scores.get(i, {}) if isinstance(stored.scores.get(i), dict) else {}
                self._by_id[i].suggestion = {
                    "round": stored.index,
                    "rank": rank,
                    "uncertainty": s.get("uncertainty"),
                    "representativeness": s.get("representativeness"),
                    "strategy": stored.strategy,
                }
        return stored

    def latest_round(self) -> SuggestionRound | None:
        return self.rounds[-1] if self.rounds else None

    def next_suggested(self, after_id: str | None = None) -> str | None:
        """The next still-unlabelled image of the latest round's ranking, cycling after
        ``after_id`` (which comes last, if still unlabelled); None when none is left."""
        rnd = self.latest_round()
        if rnd is None:
            return None
        ids = rnd.image_ids
        if after_id in ids:
            k = ids.index(after_id)
            order = ids[k + 1 :] + ids[: k + 1]
        else:
            order = ids
        for i in order:
            rec = self._by_id.get(i)
            if rec is not None and rec.status == STATUS_UNLABELLED and not rec.missing:
                return i
        return None

    # ---------------------------------------------------------------- predictions

    def save_prediction(self, image_id: str, labels: Any, model_version: str) -> None:
        """Store a model's instance labels for an image. A new file per version, so a crash
        never leaves the manifest pointing at another version's file; the old one goes after."""
        with self._mutex:
            rec = self.image(image_id)
            old = rec.prediction_path
            with self._mutation():
                arr = self._validated_labels(rec, labels)
                tag = _safe_key(str(model_version))
                rel = f"predictions/{rec.id}.{tag}.tif"
                self._write_labels_file(rel, arr, "prediction")
                rec.prediction_path = rel
                rec.prediction_model = str(model_version)
                if old and old != rel:
                    self._after_save.append(lambda: self._inside(old, "old prediction").unlink())

    def save_prediction_file(self, image_id: str, file: str | Path, model_version: str) -> Path:
        """Adopt a label TIFF already written to disk as the prediction (large images are written
        strip by strip and never held in memory). The file is *moved* into predictions/; it must
        lie on the project's file system (write it inside the project folder). Returns its path."""
        src = Path(file)
        with self._mutex:
            rec = self.image(image_id)
            old = rec.prediction_path
            with qlazy.open_lazy(src) as lazy:
                if len(lazy.shape) != 2 or tuple(lazy.shape) != tuple(rec.shape):
                    raise InputFileError(
                        src, f"prediction shape {lazy.shape} does not match image {rec.id} {rec.shape}"
                    )
                if not np.issubdtype(lazy.dtype, np.integer):
                    raise InputFileError(src, f"prediction pixels are {lazy.dtype}, not instance ids")
            with self._mutation():
                rel = f"predictions/{rec.id}.{_safe_key(str(model_version))}.tif"
                target = self._inside(rel, "prediction")
                try:
                    os.replace(src, target)
                except OSError as e:
                    raise ProjectError(f"{target}: could not save the prediction ({e.strerror or e})") from e
                rec.prediction_path = rel
                rec.prediction_model = str(model_version)
                if old and old != rel:
                    self._after_save.append(lambda: self._inside(old, "old prediction").unlink())
            return target

    # ---------------------------------------------------------------- models

    @property
    def models_dir(self) -> Path:
        return self.folder / "models"

    def _used_model_numbers(self) -> set[int]:
        nums = set(self._reserved_model_numbers)
        for m in self.models:
            if mm := _MODEL_NUM_RE.search(m.version):
                nums.add(int(mm.group(1)))
        if self.models_dir.is_dir():
            for p in self.models_dir.iterdir():
                if not p.name.startswith(".") and (mm := _MODEL_NUM_RE.search(p.name.split(".")[0])):
                    nums.add(int(mm.group(1)))
        return nums

    def new_model_path(self, prefix: str) -> Path:
        """An unused models/<prefix>-vNNNN.qsam path; numbers only grow (across prefixes), so
        version order is creation order and no model file is ever overwritten."""
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"model prefix {prefix!r} must be letters, digits, '-' or '_'")
        with self._mutex:
            self._check_writable()
            n = max(self._used_model_numbers(), default=0) + 1
            self._reserved_model_numbers.add(n)
            self.models_dir.mkdir(exist_ok=True)
            return self._inside(f"models/{prefix}-v{n:04d}.qsam", "new model")

    def add_model(self, mv: ModelVersion, make_current: bool = True) -> ModelVersion:
        """Record a model file already written inside models/. make_current=False keeps the
        previous current model (regression guard: pass accepted=False and the reason)."""
        with self._mutation():
            if any(m.version == mv.version for m in self.models):
                raise ProjectError(f"model version {mv.version!r} already exists")
            p = Path(mv.path)
            if p.is_absolute():
                try:
                    rel = p.resolve().relative_to(self.folder.resolve()).as_posix()
                except ValueError:
                    raise ProjectError(f"model file {p} is not inside {self.folder}") from None
            else:
                rel = p.as_posix()
            full = self._inside(rel, f"model {mv.version}: path")
            if not full.exists():  # a file, or a folder for multi-file models
                raise ProjectError(f"model file {full} does not exist; write it before add_model")
            if mv.parent is not None and not any(m.version == mv.parent for m in self.models):
                raise ProjectError(f"parent model {mv.parent!r} of {mv.version!r} is unknown")
            stored = _model_from_dict(_normalized(asdict(mv)))
            stored.path = rel
            stored.created = mv.created or _now()
            if stored.round_index is None and self.rounds:
                stored.round_index = self.rounds[-1].index
            self.models.append(stored)
            if make_current:
                self.current_model = stored.version
        return stored

    def model(self, version: str) -> ModelVersion:
        for m in self.models:
            if m.version == version:
                return m
        raise ProjectError(f"no model version {version!r} in project {self.name!r}")

    def model_path(self, version: str) -> Path:
        """Absolute path of a model version's file."""
        return self._inside(self.model(version).path, f"model {version}: path")

    def set_current_model(self, version: str | None) -> None:
        """Choose any earlier version as the current one (e.g. to start from it)."""
        with self._mutation():
            if version is not None:
                self.model(version)
            self.current_model = version

    # ---------------------------------------------------------------- scores cache

    def scores_path(self, model_key: str) -> Path:
        return self._inside(f"scores/{_safe_key(model_key)}.npz", "scores cache")

    def save_scores(self, model_key: str, arrays: Mapping[str, Any]) -> None:
        """Cache suggestion scores (plain numeric/string arrays only: never pickles)."""
        with self._mutex:
            self._check_writable()
            data = {str(k): np.asarray(v) for k, v in arrays.items()}
            for k, v in data.items():
                if v.dtype == object:
                    raise ValueError(f"scores array {k!r} has dtype object; only plain arrays are stored")
            try:
                with atomic_open(self.scores_path(model_key), "wb") as fh:
                    np.savez(fh, **data)
            except OSError as e:
                raise ProjectError(
                    f"{self.scores_path(model_key)}: could not save ({e.strerror or e})"
                ) from e

    def load_scores(self, model_key: str) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None when absent or unreadable (a cache is recomputed)."""
        try:
            path = self.scores_path(model_key)
        except ProjectError:  # scores/ linked out of the project: not ours to read
            return None
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception:  # noqa: BLE001 - zip/npy errors vary; a bad cache is just recomputed
            return None

    # ---------------------------------------------------------------- history

    def history(self) -> list[dict]:
        """Rows for the history plot, one per round (plus a leading round=None row for models
        trained before the first round): n_labelled_before, n_labelled (at the end of the round),
        n_suggested and the model versions trained in that round with their metrics."""

        def model_row(m: ModelVersion) -> dict:
            return {
                "version": m.version,
                "n_labelled": m.n_labelled,
                "bits": m.bits,
                "metrics": dict(m.metrics),
                "accepted": m.accepted,
                "reason": m.reason,
                "current": m.version == self.current_model,
                "created": m.created,
            }

        rows: list[dict] = []
        early = [m for m in self.models if m.round_index is None]
        if early:
            rows.append(
                {
                    "round": None,
                    "created": "",
                    "strategy": "",
                    "n_labelled_before": None,
                    "n_labelled": max(m.n_labelled for m in early),
                    "n_suggested": 0,
                    "models": [model_row(m) for m in early],
                }
            )
        n_now = len(self.labelled_ids())
        for k, r in enumerate(self.rounds):
            after = self.rounds[k + 1].n_labelled_before if k + 1 < len(self.rounds) else n_now
            rows.append(
                {
                    "round": r.index,
                    "created": r.created,
                    "strategy": r.strategy,
                    "n_labelled_before": r.n_labelled_before,
                    "n_labelled": after,
                    "n_suggested": len(r.image_ids),
                    "models": [model_row(m) for m in self.models if m.round_index == r.index],
                }
            )
        return rows
