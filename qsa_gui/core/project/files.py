"""Paths inside a project folder: confinement of manifest paths, safe names, label arrays.

Every path read from project.json goes through :func:`inside`, so a hand-edited or hostile
manifest (``../``, absolute paths, symlinks) can never make the store read or write elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError, ProjectError
from .records import ImageRecord

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MAX_NAME_CHARS = 120


def inside(folder: Path, manifest_path: Path, rel: str, what: str) -> Path:
    """Resolve a manifest path that must stay inside ``folder`` (no ../, absolute, or symlink
    escaping): files written there must never land outside the project."""
    p = Path(rel)
    if p.is_absolute() or p.drive or ".." in p.parts:
        raise ProjectError(f"{manifest_path}: {what} {rel!r} points outside the project folder")
    root = folder.resolve()
    target = (root / p).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ProjectError(f"{manifest_path}: {what} {rel!r} points outside the project folder (via a link)")
    return root / p


def safe_display_name(path: Path) -> str:
    """A printable UTF-8 name for any file name (non-UTF-8 bytes, control chars, very long)."""
    raw = os.fsencode(path.name)
    name = raw.decode("utf-8", errors="replace")
    name = "".join(ch if ch.isprintable() else "\ufffd" for ch in name)
    if len(name) > _MAX_NAME_CHARS:
        keep = _MAX_NAME_CHARS // 2 - 1
        name = name[:keep] + "\u2026" + name[-keep:]
    return name or "image"


def safe_key(key: str) -> str:
    """A file-name-safe, collision-free spelling of a cache key."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key).strip(".") or "key"
    if safe != key or len(safe) > 100:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[:80]}-{digest}"
    return safe


def image_suffix(path: Path, supported: Iterable[str]) -> str | None:
    lower = os.fsencode(path.name).decode("utf-8", "replace").lower()
    for suffix in sorted(supported, key=len, reverse=True):
        if lower.endswith(suffix.lower()):
            return suffix.lower()
    return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def validated_labels(rec: ImageRecord, labels: Any, where: Path) -> np.ndarray:
    """int32 labels of the image's shape; anything else is an InputFileError naming the image."""
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
