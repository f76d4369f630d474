"""Whole slides shaped for display: which slides a project has, each region as a coloured,
captioned rectangle in level-0 coordinates, and which region a click on the slide hits.

Why Qt-free: the slide overview's colours, captions ("#3 u=0.412 r=0.87") and hit test are the
decisions; the napari layers (``qsa_gui/_qt/slide_layers.py``) only draw them, so they are
tested here without a viewer. Ranks are the session's (1-based, latest round only), the words
those of the gallery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qsa_gui.core.project.store import STATUS_IN_PROGRESS, STATUS_LABELLED, Project

from .records import suggestion_scores

#: What a region rectangle shows, by precedence: labelled > suggested > in progress > other.
KIND_LABELLED, KIND_SUGGESTED, KIND_IN_PROGRESS, KIND_OTHER = "labelled", "suggested", "in_progress", "other"
#: The gallery's colours (status chips, the suggestion badge), so one region looks alike in both.
KIND_COLOURS: dict[str, str] = {
    KIND_LABELLED: "#2e9e4f",
    KIND_SUGGESTED: "#d6246e",
    KIND_IN_PROGRESS: "#f0a202",
    KIND_OTHER: "#9aa1ab",
}
KIND_WORDS: dict[str, str] = {
    KIND_LABELLED: "labelled",
    KIND_SUGGESTED: "suggested",
    KIND_IN_PROGRESS: "in progress",
    KIND_OTHER: "not suggested",
}
#: Thicker outlines for what asks for attention (suggested) or is done (labelled).
KIND_WIDTHS: dict[str, float] = {
    KIND_LABELLED: 3.0, KIND_SUGGESTED: 3.0, KIND_IN_PROGRESS: 2.0, KIND_OTHER: 1.5,
}  # fmt: skip


@dataclass(frozen=True)
class SlideSummary:
    """One slide of the project, for a list or a header line."""

    slide_id: str
    name: str
    n_regions: int
    n_labelled: int
    n_suggested: int

    @property
    def text(self) -> str:
        return (f"{self.name}: {self.n_regions} region(s), {self.n_suggested} suggested, "
                f"{self.n_labelled} labelled")  # fmt: skip


@dataclass(frozen=True)
class RegionShape:
    """A region as the overview draws it: level-0 box (y0, y1, x0, x1), kind, colour, caption."""

    image_id: str
    box: tuple[int, int, int, int]
    kind: str
    rank: int | None
    text: str
    tooltip: str

    @property
    def colour(self) -> str:
        return KIND_COLOURS[self.kind]

    @property
    def width(self) -> float:
        return KIND_WIDTHS[self.kind]

    def corners(self) -> np.ndarray:
        """(4, 2) (row, column) corners in level-0 pixels: a napari rectangle."""
        y0, y1, x0, x1 = self.box
        return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], np.float64)


def slide_of(project: Project | None, image_id: str | None) -> str | None:
    """The slide id of a region image; None for a plain image (or nothing)."""
    if project is None or image_id is None:
        return None
    region = project.image(image_id).region
    return None if region is None else str(region["slide"])


def region_kind(status: str, rank: int | None) -> str:
    if status == STATUS_LABELLED:
        return KIND_LABELLED
    if rank is not None:
        return KIND_SUGGESTED
    return KIND_IN_PROGRESS if status == STATUS_IN_PROGRESS else KIND_OTHER


def score_words(suggestion: Mapping | None) -> str:
    """``"u=0.412 r=0.87"`` as the gallery writes it ("" before any model existed)."""
    scores = suggestion_scores(dict(suggestion) if suggestion else None)
    parts = []
    if "uncertainty" in scores:
        parts.append(f"u={scores['uncertainty']:.3f}")
    if "representativeness" in scores:
        parts.append(f"r={scores['representativeness']:.2f}")
    return " ".join(parts)


def region_shapes(project: Project, slide_id: str, ranks: Mapping[str, int]) -> list[RegionShape]:
    """Every region of the slide (raster order) with its kind and caption; ``ranks`` are the
    session's (image id -> 1-based rank in the latest round)."""
    rnd = project.latest_round()
    strategy = rnd.strategy if rnd is not None else None
    shapes = []
    for view in project.slide_regions(slide_id):
        rank = ranks.get(view.image_id)
        kind = region_kind(view.status, rank)
        raw = rnd.scores.get(view.image_id) if rnd is not None and rank is not None else None
        scores = score_words({**raw, "strategy": strategy}) if isinstance(raw, dict) else ""
        if rank is not None:
            text = " ".join(x for x in (f"#{rank}", scores, "✓" if kind == KIND_LABELLED else "") if x)
        else:
            text = "✓" if kind == KIND_LABELLED else ""
        y0, _, x0, _ = view.box
        tip = [f"{project.image(view.image_id).name}: {KIND_WORDS[kind]}",
               f"tissue {view.tissue:.0%} of the region"]  # fmt: skip
        if rank is not None:
            tip.append(f"suggested #{rank} in the latest round" + (f" ({scores})" if scores else ""))
        shapes.append(RegionShape(view.image_id, view.box, kind, rank, text, "; ".join(tip)))
    return shapes


def slide_summaries(project: Project | None, ranks: Mapping[str, int]) -> list[SlideSummary]:
    """The project's slides with their region counts (imports order)."""
    if project is None:
        return []
    out = []
    for slide in project.slides:
        views = project.slide_regions(slide.id)
        out.append(SlideSummary(
            slide.id, slide.name, len(views),
            sum(1 for v in views if v.status == STATUS_LABELLED),
            sum(1 for v in views if v.image_id in ranks and v.status != STATUS_LABELLED),
        ))  # fmt: skip
    return out


def region_at(shapes: Sequence[RegionShape], row: float, col: float) -> str | None:
    """The region under a level-0 point. Regions overlap a little at their borders: the one whose
    centre is nearest wins, so a click always opens the region it is most inside of."""
    best, best_d = None, float("inf")
    for s in shapes:
        y0, y1, x0, x1 = s.box
        if y0 <= row < y1 and x0 <= col < x1:
            d = (row - (y0 + y1) / 2) ** 2 + (col - (x0 + x1) / 2) ** 2
            if d < best_d:
                best, best_d = s.image_id, d
    return best


def outline_paths(project: Project, slide_id: str) -> list[np.ndarray]:
    """The tissue outlines as (N, 2) (row, column) level-0 paths (napari's axis order)."""
    return [ring[:, ::-1].copy() for ring in project.tissue_outlines(slide_id) if len(ring) >= 2]


__all__ = [
    "KIND_COLOURS", "KIND_IN_PROGRESS", "KIND_LABELLED", "KIND_OTHER", "KIND_SUGGESTED", "KIND_WORDS",
    "RegionShape", "SlideSummary", "outline_paths", "region_at", "region_kind", "region_shapes",
    "score_words", "slide_of", "slide_summaries",
]  # fmt: skip
