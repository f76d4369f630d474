"""The suggestive ensemble kept beside its scores, so that the heat-map can show, per pixel, the
disagreement whose image mean ranked the suggestions (the table's u).

Why stored: recomputing the members would train them again (minutes) and, with other random
draws, give a map that no longer matches the round. They are packed model files (no pickle) in
``scores/<key>.members/``, a cache like the scores: a project without them (older rounds, a
random or MC-dropout round) falls back to the segmentation model's own doubt, named differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qsa_gui.core.project.store import Project

if TYPE_CHECKING:  # torch-backed: imported where models are saved or loaded, not by the GUI's checks
    from qsa_gui.core.model.fcn import SAFCN
    from qsa_gui.core.model.segmenter import Segmenter

from ..errors import ModelFileError, ProjectError

MEMBER_META = {"kind": "suggestive ensemble"}


def save_members(
    project: Project,
    model_key: str,
    models: Sequence[SAFCN],
    *,
    bits: int | None,
    tile: int,
    overlap: int,
    quantizer: str = "inq",
) -> Path:
    """Write the ensemble of ``model_key`` (with the tiling its scores used) into the project,
    packed by the quantizer it was trained with."""
    from qsa_gui.core.model.segmenter import Segmenter

    members = Segmenter(list(models), tile=tile, overlap=overlap, quantizer=quantizer)
    meta = dict(MEMBER_META, model_key=model_key)
    return project.save_ensemble(model_key, lambda folder: members.save(folder, bits=bits, meta=meta))


def has_members(project: Project, model_key: str) -> bool:
    """Whether the members of ``model_key`` are stored (a cheap check: the actions ask it often)."""
    if not model_key:
        return False
    try:
        return (project.ensemble_folder(model_key) / "member_0.qsam").is_file()
    except ProjectError:
        return False


def load_members(project: Project, model_key: str, device: str | None = None) -> Segmenter | None:
    """The stored members of ``model_key``, or None when absent or unreadable (a cache)."""
    if not has_members(project, model_key):
        return None
    from qsa_gui.core.model.segmenter import Segmenter

    try:
        return Segmenter.load(project.ensemble_folder(model_key), device=device)
    except (ModelFileError, OSError):
        return None


__all__ = ["has_members", "load_members", "save_members"]
