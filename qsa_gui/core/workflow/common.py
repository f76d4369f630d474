"""What the project verbs share: the project's settings and loading labelled pairs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np

from qsa_gui.core.project.store import Project

from ..errors import QSAError
from ..settings import Settings


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def project_settings(project: Project) -> Settings:
    """The project's Settings; a bad value is a ProjectError naming project.json and the field."""
    from qsa_gui.core.project.schema import checked_settings

    return checked_settings(project.manifest_path, project.settings, Settings)


def _load_pairs(project: Project, ids: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, labels = [], []
    for image_id in ids:
        lab = project.load_labels(image_id)
        if lab is None:
            raise QSAError(f"image {project.image(image_id).name} is marked labelled but has no label file")
        images.append(project.load_image(image_id))
        labels.append(lab)
    return images, labels
