"""Reader: a qsa-gui project folder, or a histology image / label file.

A project folder (a directory with ``project.json``) opens in the docked annotation assistant
when there is one, so dropping a project onto napari resumes work; without the assistant its
images (and saved labels) come in as plain layers, read-only (the project is not locked).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

LayerData = tuple[Any, ...]
PROJECT_MANIFEST = "project.json"
#: Without the assistant, a project folder shows at most this many images (memory stays bounded).
MAX_PROJECT_IMAGES = 64
_LABEL_HINTS = ("label", "mask", "annot", "instance", "prediction")


def _is_project(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, PROJECT_MANIFEST))


def _is_image_file(path: str) -> bool:
    from qsa_gui.core.data.images import SUPPORTED_SUFFIXES

    name = os.path.basename(path).lower()
    return os.path.isfile(path) and any(name.endswith(s) for s in SUPPORTED_SUFFIXES)


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """npe2 reader command: a reader function for ``path``, or None when it is not ours."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        return None
    paths = [os.fspath(p) for p in paths]
    if len(paths) == 1 and _is_project(paths[0]):
        return read_project
    if all(_is_image_file(p) for p in paths):
        return read_images
    return None


def _looks_like_labels(path: str, data: np.ndarray) -> bool:
    name = os.path.basename(path).lower()
    return data.ndim == 2 and np.issubdtype(data.dtype, np.integer) and any(h in name for h in _LABEL_HINTS)


def read_images(path: str | list[str]) -> list[LayerData]:
    """One layer per file: RGB(A) images as rgb Image layers, integer ``*label*`` files as Labels."""
    from qsa_gui.core.data.images import read_image

    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    out: list[LayerData] = []
    for p in map(os.fspath, paths):
        data = read_image(p)
        name = Path(p).name
        if _looks_like_labels(p, data):
            out.append((data.astype(np.int32, copy=False), {"name": name}, "labels"))
        else:
            rgb = data.ndim == 3 and data.shape[-1] in (3, 4)
            out.append((data, {"name": name, "rgb": rgb}, "image"))
    return out


def read_project(path: str | list[str]) -> list[LayerData]:
    """Open the project in the docked assistant (``[(None,)]``: handled, no layers), else layers."""
    folder = os.fspath(path if isinstance(path, (str, os.PathLike)) else path[0])
    try:
        import napari

        from ._widget import find_assistant

        assistant = find_assistant(napari.current_viewer())
    except Exception:  # noqa: BLE001 - no viewer / no Qt: fall back to plain layers
        assistant = None
    if assistant is not None:
        assistant.open_project(folder)
        return [(None,)]
    return project_layers(folder)


def project_layers(folder: str | os.PathLike) -> list[LayerData]:
    """The project's images (uint8 RGB) and their saved labels as layers, read-only."""
    from qsa_gui._qt.layers import to_uint8_rgb
    from qsa_gui.core.project.store import Project

    out: list[LayerData] = []
    project = Project.open(folder, read_only=True)
    for rec in project.images[:MAX_PROJECT_IMAGES]:
        if rec.missing:
            continue
        meta = {"qsa_project": str(project.folder), "qsa_image_id": rec.id, "status": rec.status}
        out.append(
            (
                to_uint8_rgb(project.load_image(rec.id)),
                {"name": rec.name, "rgb": True, "metadata": meta},
                "image",
            )
        )
        labels = project.load_labels(rec.id)
        if labels is not None:
            out.append((labels, {"name": f"{rec.name} labels", "metadata": meta, "visible": False}, "labels"))
    return out


__all__ = ["get_reader", "project_layers", "read_images", "read_project"]
