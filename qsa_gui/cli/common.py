"""What the commands share: opening a project, settings overrides from the command line, file lists."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputFileError


def open_project(path: str, *, read_only: bool = False):
    from qsa_gui.core.project.store import Project

    return Project.open(path, read_only=read_only)


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The knobs given on the command line; ``float`` bits become ``None`` (kept: float weights)."""
    keys = ("preset", "strategy", "k", "ensemble_size", "iterations", "seed", "device")
    out = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    for name in ("ensemble_bits", "seg_bits"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = None if value == "float" else int(value)
    return out


def with_overrides(settings, args: argparse.Namespace):
    """``dataclasses.replace``, not ``Settings.updated``: that drops ``None``, i.e. float bits."""
    from dataclasses import replace

    return replace(settings, **settings_overrides(args))


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files as given; folders replaced by their image and slide files, sorted by name (a DICOM
    slide's files once: :mod:`qsa_gui.core.slides.files`)."""
    from qsa_gui.core.slides.files import IMPORTABLE_SUFFIXES, folder_listing, one_file_per_slide

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = folder_listing(p)
            if not found:
                kinds = ", ".join(sorted(IMPORTABLE_SUFFIXES))
                raise InputFileError(p, f"no images or slides found in this folder (supported: {kinds})")
            out.extend(found)
        else:
            out.append(p)
    return one_file_per_slide(out)[0]
