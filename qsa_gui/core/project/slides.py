"""Slides in a project: importing a slide as a pool of regions, and reading a region's pixels.

Why regions are read from the slide on demand and not cached as crops: opening an SVS and
decoding a 775 x 522 region takes ~14 ms (tests/data/cmu_small_region.svs, this machine), about
what decoding a PNG crop of that size costs, while crops would duplicate the slide's tissue
(~1 MB a region as PNG; a 60000 x 60000 slide with half tissue has ~4400 regions: 4 GB).

Every region is an :class:`ImageRecord` (id ``img_NNNN``) whose ``region`` names its slide and
level-0 box, so suggest, label, train, segment, evaluate and history treat it as an image:
:meth:`Project.load_image` is the one place that knows (it calls :meth:`load_region_rgb`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ProjectError
from ..slides.files import slide_file_name
from ..slides.reader import OPENSLIDE_SUFFIXES, open_slide, slide_suffix
from ..slides.regions import RegionPlan, RegionSpec, plan_regions, read_region_pixels, region_pixel_shape
from ..slides.tissue import LowRes, TissueMask, detect_tissue, low_res
from .files import safe_display_name
from .records import ImageRecord, ImportReport, SlideRecord, now


@dataclass(frozen=True)
class RegionView:
    """A region as a GUI lists it: image id, level-0 box (y0, y1, x0, x1), tissue fraction, status
    and its rank in the latest suggestion round (None when not ranked)."""

    image_id: str
    box: tuple[int, int, int, int]
    tissue: float
    status: str
    rank: int | None


def _outline_lists(mask: TissueMask) -> list[list[list[float]]]:
    return [[[round(float(x), 1), round(float(y), 1)] for x, y in ring] for ring in mask.outlines]


class SlidesMixin:
    """Slide methods of :class:`~qsa_gui.core.project.store.Project`."""

    # ---------------------------------------------------------------- lookups

    def slide(self, slide_id: str) -> SlideRecord:
        for s in self.slides:  # type: ignore[attr-defined]
            if s.id == slide_id:
                return s
        raise ProjectError(f"no slide {slide_id!r} in project {self.name!r}")  # type: ignore[attr-defined]

    def slide_path(self, slide_id: str) -> Path:
        rec = self.slide(slide_id)
        p = Path(rec.path)
        return p if p.is_absolute() else self.folder / p  # type: ignore[attr-defined]

    def slide_regions(self, slide_id: str) -> list[RegionView]:
        """The regions of a slide in raster order, with their status and latest suggestion rank."""
        self.slide(slide_id)
        out = []
        for rec in self.images:  # type: ignore[attr-defined]
            if rec.region is not None and rec.region["slide"] == slide_id:
                rank = (rec.suggestion or {}).get("rank")
                box = tuple(int(v) for v in rec.region["box"])
                out.append(RegionView(rec.id, box, float(rec.region.get("tissue", 1.0)), rec.status, rank))
        return sorted(out, key=lambda r: (r.box[0], r.box[2]))

    def slide_overview(self, slide_id: str, max_side: int = 2048) -> LowRes:
        """A low-resolution view of the slide for display (``downsample`` level-0 px per pixel)."""
        with open_slide(self.slide_path(slide_id)) as s:
            return low_res(s, max_side)

    def tissue_outlines(self, slide_id: str) -> list[np.ndarray]:
        """The slide's tissue outlines as (N, 2) level-0 (x, y) arrays (stored: no slide read)."""
        return [np.asarray(r, np.float64) for r in self.slide(slide_id).tissue]

    def load_region_rgb(self, image_id: str) -> np.ndarray:
        """float32 H x W x 3 in [0, 1] of a region, read from its slide."""
        rec = self.image(image_id)  # type: ignore[attr-defined]
        if rec.region is None:
            raise ProjectError(f"{image_id} is not a region of a slide")
        slide = self.slide(rec.region["slide"])
        box = tuple(int(v) for v in rec.region["box"])
        with open_slide(self.slide_path(slide.id)) as s:
            pixels = read_region_pixels(s, box, slide.scale)  # type: ignore[arg-type]
        if pixels.shape[:2] != tuple(rec.shape):
            raise InputFileError(self.slide_path(slide.id), f"region {image_id} reads as {pixels.shape[:2]}")
        return pixels.astype(np.float32) / np.float32(255.0)

    # ---------------------------------------------------------------- import

    def _next_slide_id(self) -> str:
        numbers = [int(g.group(1)) for s in self.slides if (g := re.match(r"^slide_(\d+)$", s.id))]  # type: ignore[attr-defined]
        return f"slide_{max(numbers, default=0) + 1:04d}"

    def _import_slide(
        self, src: Path, digest: str, copy_file: bool, split: str, spec: RegionSpec, report: ImportReport
    ) -> str | None:
        """Import one slide and its regions (inside the caller's mutation: all or nothing)."""
        if any(s.sha256 == digest for s in self.slides):  # type: ignore[attr-defined]
            return f"slide already in project (as {next(s.id for s in self.slides if s.sha256 == digest)})"  # type: ignore[attr-defined]
        try:
            with open_slide(src) as s:
                info = s.info
                mask = detect_tissue(low_res(s), info.mpp)
                plan = plan_regions(info, mask, spec)
                if plan.regions:  # prove full-resolution tiles decode, not only the low-res level
                    read_region_pixels(s, plan.regions[0].box, plan.scale)
                    read_region_pixels(s, plan.regions[-1].box, plan.scale)
        except InputFileError as e:
            return e.reason
        if not plan.regions:
            pct = 100 * mask.fraction
            return f"no tissue found ({pct:.1f}% of the slide; no region >= {spec.min_tissue:.0%} tissue)"
        slide_id = self._next_slide_id()
        suffix = slide_suffix(src) or src.suffix.lower()
        notes = [*info.notes, *plan.notes]
        if copy_file and suffix in OPENSLIDE_SUFFIXES:  # a file plus a folder of data files
            copy_file = False
            notes.append("referenced where it is, not copied (this format keeps its data in other files)")
        if copy_file:
            rel = f"images/{slide_id}{suffix}"
            target = self._inside(rel, "slide copy")  # type: ignore[attr-defined]
            try:
                self._copy_in(src, target)  # type: ignore[attr-defined]
            except OSError as e:
                return f"cannot copy into the project ({e.strerror or e})"
        else:
            rel = str(src.absolute())
        rec = SlideRecord(
            id=slide_id,
            name=safe_display_name(Path(slide_file_name(src))),
            path=rel,
            shape=info.shape,
            format=info.format,
            mpp=info.mpp,
            objective_power=info.objective_power,
            magnification=spec.magnification,
            scale=plan.scale,
            region_size=spec.size,
            min_tissue=spec.min_tissue,
            tissue=_outline_lists(mask),
            notes=notes,
            sha256=digest,
            copied=copy_file,
            added=now(),
        )
        self.slides.append(rec)  # type: ignore[attr-defined]
        ids = self._add_regions(rec, plan, split)
        report.added.extend(ids)
        report.slides.append(
            {"id": slide_id, "name": rec.name, "regions": len(ids), "mpp": rec.mpp,
             "objective_power": rec.objective_power, "magnification": rec.magnification, "notes": rec.notes}
        )  # fmt: skip
        return None

    def _add_regions(self, slide: SlideRecord, plan: RegionPlan, split: str) -> list[str]:
        ids = []
        for region in plan.regions:
            image_id = f"img_{self._next_image_number:04d}"  # type: ignore[attr-defined]
            while image_id in self._by_id:  # type: ignore[attr-defined]
                self._next_image_number += 1  # type: ignore[attr-defined]
                image_id = f"img_{self._next_image_number:04d}"  # type: ignore[attr-defined]
            y0, _, x0, _ = region.box
            rec = ImageRecord(
                id=image_id,
                name=f"{slide.name} [x {x0}, y {y0}]",
                path=slide.path,
                shape=region_pixel_shape(region.box, plan.scale),
                split=split,
                copied=slide.copied,
                region={"slide": slide.id, "box": list(region.box), "tissue": region.tissue},
            )
            self._next_image_number += 1  # type: ignore[attr-defined]
            self.images.append(rec)  # type: ignore[attr-defined]
            self._by_id[image_id] = rec  # type: ignore[attr-defined]
            ids.append(image_id)
        return ids
