"""Which files of a folder (or of a list of paths) to import: images and slides, one per slide.

Why a module of its own: three shells turn folders into files (``qsa import``, a drop on the
window, ``qsa segment-slides``) and each once kept its own list of suffixes, so a folder of MIRAX
or DICOM slides imported nothing. And DICOM WSI keeps every pyramid level (and the label and
overview images) in a ``.dcm`` file of its own, all of one series in one folder; OpenSlide opens
the whole slide from any of them, so those files are *one* slide, not one per level.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..data.images import SUPPORTED_SUFFIXES
from .reader import SLIDE_SUFFIXES

#: Every file name ending that is imported: flat images and whole slides.
IMPORTABLE_SUFFIXES: frozenset[str] = SUPPORTED_SUFFIXES | SLIDE_SUFFIXES


def is_importable_name(path: str | Path) -> bool:
    """An image or slide file by its name (content is checked when it is imported)."""
    name = Path(path).name.lower()
    return not name.startswith(".") and any(name.endswith(s) for s in IMPORTABLE_SUFFIXES)


def folder_listing(folder: str | Path) -> list[Path]:
    """Every image and slide file directly inside ``folder``, sorted by name (a DICOM slide's
    files all listed: callers that gather several folders collapse them once, at the end)."""
    return sorted(f for f in Path(folder).iterdir() if f.is_file() and is_importable_name(f))


def importable_files(folder: str | Path) -> list[Path]:
    """The image and slide files directly inside ``folder``, sorted by name, one per slide."""
    return one_file_per_slide(folder_listing(folder))[0]


def dicom_series(path: Path) -> str | None:
    """The DICOM WSI series ``path`` belongs to, or None (not a ``.dcm``, unreadable, no OpenSlide)."""
    if not path.name.lower().endswith(".dcm"):
        return None
    try:
        import openslide

        with openslide.OpenSlide(str(path)) as osr:
            return osr.properties.get("dicom.SeriesInstanceUID") or None
    except Exception:  # noqa: BLE001 - not a WSI file / no extra: the import says why, per file
        return None


def slide_file_name(path: str | Path) -> str:
    """The name a slide is known by: its file's, but a DICOM slide's folder (its files are one
    per level, often named by UID), so outputs and the gallery say "case-17", not "level0"."""
    path = Path(path)
    if path.name.lower().endswith(".dcm") and path.absolute().parent.name:
        return path.absolute().parent.name + ".dcm"
    return path.name


def one_file_per_slide(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """``paths`` in their order, less the second and later files of each DICOM WSI series in one
    folder; returns (kept, [(dropped, the file kept for its slide)])."""
    kept: list[Path] = []
    dropped: list[tuple[Path, Path]] = []
    first_of: dict[tuple[Path, str], Path] = {}
    for raw in paths:
        path = Path(raw)
        series = dicom_series(path)
        key = (path.absolute().parent, series) if series else None
        if key is not None and key in first_of:
            dropped.append((path, first_of[key]))
            continue
        if key is not None:
            first_of[key] = path
        kept.append(path)
    return kept, dropped


__all__ = [
    "IMPORTABLE_SUFFIXES",
    "dicom_series",
    "folder_listing",
    "importable_files",
    "is_importable_name",
    "one_file_per_slide",
    "slide_file_name",
]
