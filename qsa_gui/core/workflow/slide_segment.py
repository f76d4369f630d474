"""Segmenting one of a project's slides whole with its current model (the GUI's *Segment slide*).

The same bounded-memory path as `qsa segment-slides` (:func:`~qsa_gui.core.slides.batch.segment_one`):
QuPath GeoJSON, OME-Zarr labels and a summary, written into ``<project>/slide-segmentations/
<slide's own name>/`` through a hidden partial folder renamed at the end, so a cancel or a killed worker
leaves the previous result (or none), never a half-written one. The project's manifest is not
touched: these are outputs for QuPath, like an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import QSAError
from ..jobs import CancelToken, Job
from ..project.store import Project
from ..settings import Settings

OUTPUT_FOLDER = "slide-segmentations"


@dataclass(frozen=True)
class SlideSegmentation:
    """Where the outputs are, and what they hold."""

    slide_id: str
    folder: str  # absolute
    geojson: str  # absolute path of the GeoJSON FeatureCollection
    n_objects: int
    seconds: float
    model_version: str


def slide_segment_job(
    project: Project, slide_id: str, settings: Settings, cancel: CancelToken | None = None
) -> Job[SlideSegmentation]:
    """Segment slide ``slide_id`` at its regions' magnification with the current model."""
    from ..slides.batch import clean_partials, segment_one, slide_stem

    slide = project.slide(slide_id)
    if project.current_model is None:
        raise QSAError("no segmentation model yet: label a region and press Retrain first")
    path = project.slide_path(slide_id)
    if not path.is_file():
        raise QSAError(f"{path}: the slide file is missing (moved or on an unmounted drive)")
    out = Path(project.folder) / OUTPUT_FOLDER
    out.mkdir(exist_ok=True)
    clean_partials(out)
    version = project.current_model
    result = yield from segment_one(
        str(project.model_path(version)), str(path), str(out), slide.magnification, settings.device, cancel,
        name=slide.name,
    )  # fmt: skip
    folder = out / slide_stem(Path(slide.name))
    return SlideSegmentation(
        slide_id, str(folder), str(folder / result.geojson), result.n_objects, result.seconds, version
    )


def latest_segmentation(project: Project, slide_id: str) -> SlideSegmentation | None:
    """The finished segmentation of a slide in the project's output folder, or None."""
    from ..slides.batch import slide_stem
    from ..slides.segment import read_summary

    folder = Path(project.folder) / OUTPUT_FOLDER / slide_stem(Path(project.slide(slide_id).name))
    result = read_summary(folder)
    if result is None or not (folder / result.geojson).is_file():
        return None
    return SlideSegmentation(slide_id, str(folder), str(folder / result.geojson), result.n_objects,
                             result.seconds, "")  # fmt: skip


def gland_rings(segmentation: SlideSegmentation, slide_shape: tuple[int, int]) -> list:
    """The glands' outer rings as (N, 2) level-0 (row, column) arrays: napari's axis order."""
    from ..slides.geojson import read_features

    rings = []
    for f in read_features(segmentation.geojson, slide_shape):
        rings += [poly[0][:, ::-1].copy() for poly in f.polygons if len(poly[0]) >= 3]
    return rings
