"""QuPath annotations of a slide -> labels of the project's regions they cover, and back.

All or nothing: the file is validated whole (:func:`geojson.read_features`) and every covered
region's labels are saved in one project batch, so a bad file or a failed write changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..errors import ProjectError
from ..project.store import Project
from .geojson import label_features, read_features, region_labels, write_feature_collection


@dataclass(frozen=True)
class AnnotationImport:
    """Which regions got labels and how many objects in all."""

    slide_id: str
    features: int
    regions: list[str]
    objects: int


def find_slide(project: Project, key: str) -> str:
    """A slide id from an id or a file name (case-insensitive, suffix optional)."""
    for s in project.slides:
        if key == s.id:
            return s.id
    matches = [s.id for s in project.slides if key.lower() in (s.name.lower(), s.name.lower().split(".")[0])]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(f"{s.id} ({s.name})" for s in project.slides) or "none"
    raise ProjectError(f"no single slide {key!r} in project {project.name!r} (slides: {shown})")


def import_annotations(
    project: Project,
    slide_id: str,
    path: str | Path,
    *,
    class_name: str | None = None,
    user: str | None = "qupath",
    done: bool = True,
) -> AnnotationImport:
    """Labels for every region of ``slide_id`` that the GeoJSON's polygons cover (only features of
    ``class_name`` when given); regions covered by nothing keep what they had."""
    slide = project.slide(slide_id)
    features = read_features(path, slide.shape, slide.name)
    if class_name is not None:
        features = [f for f in features if f.class_name == class_name]
    planned: dict[str, np.ndarray] = {}
    for view in project.slide_regions(slide_id):
        rec = project.image(view.image_id)
        lab = region_labels(features, view.box, slide.scale, tuple(rec.shape))  # type: ignore[arg-type]
        if lab.any():
            planned[view.image_id] = lab
    with project.batch():
        for image_id, lab in planned.items():
            project.save_labels(image_id, lab, done=done, user=user)
    return AnnotationImport(
        slide_id, len(features), list(planned), int(sum(int(v.max()) for v in planned.values()))
    )


def export_region_labels(
    project: Project, slide_id: str, out: str | Path, *, object_type: str = "annotation"
) -> int:
    """The labelled regions of a slide as one QuPath GeoJSON (level-0 coordinates); returns the
    number of features. Where regions overlap, a gland is written once per region holding it."""
    slide = project.slide(slide_id)
    meta = {"name": slide.name, "width": slide.shape[1], "height": slide.shape[0], "mpp": slide.mpp}

    def features():
        for view in project.slide_regions(slide_id):
            lab = project.load_labels(view.image_id)
            if lab is not None and lab.any():
                y0, _, x0, _ = view.box
                yield from label_features(
                    lab, offset=(x0, y0), scale=slide.scale, mpp=slide.mpp, object_type=object_type
                )

    with atomic_open(Path(out), "w") as fh:
        return write_feature_collection(fh, features(), meta)
