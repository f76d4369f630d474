"""Segmenting a whole slide with bounded memory: QuPath GeoJSON + OME-Zarr labels.

How: the slide is served at the regions' magnification as a :class:`LazyImage`
(:class:`SlideSource`), so :func:`~qsa_gui.core.model.largeimage.segment_large` segments it strip
by strip exactly as any large image (memory O(strip x width)). Windows with no tissue (by the
low-resolution tissue mask) skip the model. The gland probability is kept as uint8 in a scratch
file for the per-gland mean confidence. Polygons are traced per gland from its bounding box in
the (memory-mapped, uncompressed) label TIFF, so no step holds the slide.

Everything is written into ``out_dir`` under temporary names and renamed at the end; a cancel or
crash leaves no file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..data.lazy import LazyImage
from ..jobs import CancelToken, Job, Progress, check, sub_job
from .files import slide_file_name
from .geojson import feature, write_feature_collection
from .omezarr import write_label_pyramid
from .polygons import mask_to_polygons
from .reader import open_slide
from .regions import DEFAULT_MAGNIFICATION, region_scale
from .slide_base import SlideBase
from .tissue import TissueMask, detect_tissue, low_res


class SlideSource(LazyImage):
    """A slide at ``scale`` level-0 px per pixel, read a box at a time (uint8 RGB)."""

    def __init__(self, slide: SlideBase, scale: float) -> None:
        h0, w0 = slide.info.shape
        super().__init__(slide.path, (max(1, round(h0 / scale)), max(1, round(w0 / scale)), 3), np.uint8)
        self.slide, self.scale = slide, scale
        self.last_rows = (0, 0)

    def level0_box(self, y0: int, y1: int, x0: int, x1: int) -> tuple[int, int, int, int]:
        h0, w0 = self.slide.info.shape
        s = self.scale
        return (min(h0 - 1, int(y0 * s)), max(1, min(h0, round(y1 * s))), min(w0 - 1, int(x0 * s)),
                max(1, min(w0, round(x1 * s))))  # fmt: skip

    def _region(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        self.last_rows = (y0, y1)
        return self.slide.read_region(self.level0_box(y0, y1, x0, x1), (y1 - y0, x1 - x0))


#: Low-resolution pixels the tissue mask is grown by before it masks the probabilities: a gland
#: at the tissue's edge is never cut, glass farther out never holds one.
TISSUE_MARGIN = 3


class _TissueAwareModel:
    """The segmenter seen by segment_large: windows without tissue get zero probabilities without
    running the model, and inside a window the probabilities are zero off the (slightly grown)
    tissue mask, so glass and dust never become glands (a model trained on a few regions fires on
    the bright background); every window's gland probability is kept (uint8) for confidences."""

    def __init__(self, inner: Any, source: SlideSource, tissue: TissueMask, confidence: np.ndarray) -> None:
        from scipy.ndimage import binary_dilation

        self.inner, self.source, self.tissue, self.confidence = inner, source, tissue, confidence
        self.overlap = getattr(inner, "overlap", 32)
        self.skipped = 0
        grown = tissue.mask.astype(bool)
        self.grown = binary_dilation(grown, iterations=TISSUE_MARGIN) if grown.any() else grown

    def tissue_window(self, y0: int, y1: int, width: int) -> np.ndarray:
        """The grown tissue mask at the window's pixels (rows y0..y1 of the segmented image)."""
        h, w = self.grown.shape
        k = self.source.scale / self.tissue.downsample  # segmented px -> low-res px
        rows = np.clip(((np.arange(y0, y1) + 0.5) * k).astype(int), 0, h - 1)
        cols = np.clip(((np.arange(width) + 0.5) * k).astype(int), 0, w - 1)
        return self.grown[np.ix_(rows, cols)]

    def probabilities(self, image: np.ndarray, device: str | None = None, cancel: CancelToken | None = None):
        y0, y1 = self.source.last_rows
        box = self.source.level0_box(y0, y1, 0, self.source.width)
        if self.tissue.fraction_in(box) == 0.0:
            self.skipped += 1
            z = np.zeros(image.shape[:2], np.float32)
            return z, z
        gland, contour = self.inner.probabilities(image, device=device, cancel=cancel)
        if gland.shape == (y1 - y0, self.source.width):  # the window is the source's rows
            on = self.tissue_window(y0, y1, self.source.width)
            gland, contour = gland * on, contour * on
        self.confidence[y0:y1] = np.clip(np.rint(gland * 255), 0, 255).astype(np.uint8)
        return gland, contour


@dataclass(frozen=True)
class SlideResult:
    """What one slide gave (also written as ``summary.json``)."""

    slide: str
    shape: tuple[int, int]
    mpp: float | None
    magnification: float
    scale: float
    n_objects: int
    tissue_fraction: float
    seconds: float
    geojson: str
    labels: str


def _bboxes(labels: np.ndarray, n: int, rows: int = 1024) -> np.ndarray:
    """(n + 1, 4) bounding boxes y0, y1, x0, x1 of ids 1..n, found a strip at a time."""
    from scipy import ndimage as ndi

    box = np.zeros((n + 1, 4), np.int64)
    box[:, 0] = box[:, 2] = np.iinfo(np.int64).max
    for y in range(0, labels.shape[0], rows):
        strip = np.asarray(labels[y : y + rows])
        for k, sl in enumerate(ndi.find_objects(strip, max_label=n), start=1):
            if sl is not None:
                ys, xs = sl
                b = box[k]
                b[0], b[1] = min(b[0], ys.start + y), max(b[1], ys.stop + y)
                b[2], b[3] = min(b[2], xs.start), max(b[3], xs.stop)
    return box


def _features(labels: np.ndarray, conf: np.ndarray, n: int, scale: float, mpp: float | None, cancel):
    box = _bboxes(labels, n)
    for k in range(1, n + 1):
        if k % 256 == 0:
            check(cancel)
        y0, y1, x0, x1 = (int(v) for v in box[k])
        if y1 <= y0:
            continue
        mask = np.asarray(labels[y0:y1, x0:x1]) == k
        polys = mask_to_polygons(mask, (x0 * scale, y0 * scale), scale)
        if polys:
            c = float(np.asarray(conf[y0:y1, x0:x1])[mask].mean()) / 255.0
            yield feature(polys, area_px=float(mask.sum()) * scale * scale, confidence=c, mpp=mpp)


def segment_slide(
    segmenter: Any,
    slide_path: str | Path,
    out_dir: str | Path,
    *,
    magnification: float = DEFAULT_MAGNIFICATION,
    strip_rows: int | None = None,
    device: str | None = None,
    name: str | None = None,
    cancel: CancelToken | None = None,
) -> Job[SlideResult]:
    """Segment one slide into ``out_dir/<stem>.geojson`` and ``out_dir/<stem>.labels.ome.zarr``
    plus ``summary.json`` (written last: its presence means the rest is complete). ``name``: the
    slide's own file name where the file is a project's copy (``slide_0001.svs``); it names the
    outputs and the GeoJSON's slide, which QuPath matches."""
    import tifffile

    from ..model.largeimage import segment_large

    t0 = time.monotonic()
    slide_path, out_dir = Path(slide_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or slide_file_name(slide_path)
    stem = name.split(".")[0] or "slide"
    with open_slide(slide_path) as slide, tempfile.TemporaryDirectory(dir=out_dir, prefix=".work.") as tmp:
        info = slide.info
        yield Progress("finding tissue", 0.0, name)
        tissue = detect_tissue(low_res(slide), info.mpp)
        scale, _ = region_scale(info, magnification)
        source = SlideSource(slide, scale)
        h, w = source.shape[:2]
        conf = np.memmap(Path(tmp) / "confidence.u8", np.uint8, mode="w+", shape=(h, w))
        model = _TissueAwareModel(segmenter, source, tissue, conf)
        labels_tif = Path(tmp) / "labels.tif"
        seg = yield from sub_job(
            segment_large(model, source, labels_tif, strip_rows=strip_rows, device=device, cancel=cancel),
            0.02, 0.8, "segmenting: ",
        )  # fmt: skip
        labels = tifffile.memmap(labels_tif, mode="r")
        yield Progress("tracing glands", 0.8, f"{seg.n_objects} glands")
        meta = {"name": name, "width": info.shape[1], "height": info.shape[0], "mpp": info.mpp}
        geo = out_dir / f"{stem}.geojson"
        with atomic_open(geo, "w") as fh:
            write_feature_collection(
                fh, _features(labels, conf, seg.n_objects, scale, info.mpp, cancel), meta
            )
        check(cancel)
        yield Progress("writing OME-Zarr labels", 0.92, "")
        zpath = out_dir / f"{stem}.labels.ome.zarr"
        ztmp = Path(tmp) / "labels.ome.zarr"
        write_label_pyramid(labels, ztmp, scale=scale, mpp=info.mpp)
        del labels, conf
        if zpath.exists():
            import shutil

            shutil.rmtree(zpath)
        os.replace(ztmp, zpath)
    result = SlideResult(
        slide=name, shape=info.shape, mpp=info.mpp, magnification=magnification, scale=scale,
        n_objects=seg.n_objects, tissue_fraction=round(tissue.fraction, 4),
        seconds=round(time.monotonic() - t0, 2), geojson=geo.name, labels=zpath.name,
    )  # fmt: skip
    with atomic_open(out_dir / "summary.json", "w") as fh:
        json.dump(asdict(result), fh, indent=1)
    yield Progress("slide done", 1.0, f"{seg.n_objects} glands")
    return result


def read_summary(folder: Path) -> SlideResult | None:
    """The result recorded in ``folder/summary.json``, or None when absent or unreadable."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        d = json.loads((folder / "summary.json").read_text("utf-8"))
        d["shape"] = tuple(d["shape"])
        return SlideResult(**d)
    return None
