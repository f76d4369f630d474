"""The whole-slide view of the assistant: Show slide, a click on a region to paint it, back.

Why a mixin of :class:`~.widget.AssistantWidget`: ``show_slide`` is an action of the one table
(both shells' buttons and menus call it) and opening a region is the panel's ordinary
``show_image`` -- a region is painted full size in the normal labels layer. What the overview
says (colours, captions, which region a click hits) is the Qt-free view-model's
(``components/slides.py``); the layers are ``_qt/slide_layers.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qsa_gui.components.slides import outline_paths, region_shapes, slide_of, slide_summaries
from qsa_gui.core.errors import QSAError
from qsa_gui.core.slides.display import display_levels
from qsa_gui.core.slides.reader import open_slide

from ..layers import STACK_ORDER
from ..slide_layers import SlideLayers

if TYPE_CHECKING:
    from qsa_gui.components.session import Session

    from ..layers import AnnotationLayers


#: The most segmented glands outlined on the slide view (all of them are in the GeoJSON).
MAX_GLAND_OUTLINES = 5000


class SlideView:
    """Show slide / open region (mixed into AssistantWidget, which provides the attributes)."""

    session: Session
    layers: AnnotationLayers
    viewer: Any
    slide_layers: SlideLayers

    def _init_slide_view(self) -> None:
        self.slide_layers = SlideLayers(self.viewer, self.open_region, self.layers.owned)
        self._hidden_annotation: list[Any] = []
        self.session.records_changed.connect(lambda _id=None: self.refresh_slide())
        self.session.project_changed.connect(lambda _p=None: self._forget_slide())

    @property
    def slide_shown(self) -> bool:
        return self.slide_layers.visible

    def show_slide(self) -> bool:
        """Show the current region's slide with its regions (or, when it is shown, go back to the
        region). False when the current image is not a region of a slide."""
        if self.slide_layers.visible:
            self.leave_slide()
            return True
        s = self.session
        slide_id = slide_of(s.project, s.current_image_id)
        if s.project is None or slide_id is None:
            s.report("This image is not a region of a slide: there is no slide to show.", "warning")
            return False
        self._flush_labels()  # type: ignore[attr-defined]
        project = s.project
        record = project.slide(slide_id)
        path = project.slide_path(slide_id)

        def levels() -> tuple[Any, list[Any]]:
            slide = open_slide(path)
            return slide, display_levels(slide)

        try:
            shapes = region_shapes(project, slide_id, s.ranks())
            self._hide_annotation()
            self.slide_layers.show(slide_id, levels, record.name, shapes, outline_paths(project, slide_id))
            self.show_slide_glands()
        except QSAError as exc:
            self._show_annotation()
            s.report(f"Cannot show the slide: {exc}", "error")
            return False
        if self.viewer is not None:
            self.view_fitter.fit()  # type: ignore[attr-defined]
        summary = next(x for x in slide_summaries(project, s.ranks()) if x.slide_id == slide_id)
        s.report(f"{summary.text}. Click a region to paint it at full resolution; "
                 "Show slide again goes back.")  # fmt: skip
        return True

    def segment_slide(self) -> None:
        """Segment the current region's whole slide (a job in the worker); outlines its glands."""
        from qsa_gui.core.jobspec import JobSpec

        from .results import RunningJob, slide_segment_done

        s = self.session
        slide_id = slide_of(s.project, s.current_image_id)
        if s.project is None or slide_id is None:
            return
        project, settings = s.project, self.job_settings()  # type: ignore[attr-defined]
        job = RunningJob("Segment slide", "segment_slide", project, lambda r: slide_segment_done(self, r))
        spec = JobSpec.make("segment_slide", project, settings, slide_id=slide_id)
        self._start(job, self.runner.spec_factory(spec, project))  # type: ignore[attr-defined]

    def show_slide_glands(self) -> None:
        """The shown slide's latest segmentation as gland outlines (none: no outlines)."""
        from qsa_gui.core.workflow.slide_segment import gland_rings, latest_segmentation

        s, sl = self.session, self.slide_layers
        if s.project is None or sl.slide_id is None:
            return
        try:
            seg = latest_segmentation(s.project, sl.slide_id)
            rings = [] if seg is None else gland_rings(seg, tuple(s.project.slide(sl.slide_id).shape))
        except QSAError as exc:
            s.report(f"Cannot show the slide's glands: {exc}", "warning")
            rings = []
        if len(rings) > MAX_GLAND_OUTLINES:  # napari's shapes layer slows to seconds beyond this
            s.say(f"Outlining {MAX_GLAND_OUTLINES} of {len(rings)} glands; all of them are in the GeoJSON.")
            rings = rings[:MAX_GLAND_OUTLINES]
        sl.show_glands(rings)

    def leave_slide(self) -> None:
        """Back from the slide to the current region (its layers shown again, the view fitted)."""
        if not self.slide_layers.visible:
            return
        self.slide_layers.hide()
        self._show_annotation()
        self.layers.activate_labels()
        if self.viewer is not None:
            self.view_fitter.fit()  # type: ignore[attr-defined]

    def open_region(self, image_id: str) -> None:
        """A region clicked on the slide: paint it full size (the ordinary image view)."""
        self.leave_slide()
        self.show_image(image_id)  # type: ignore[attr-defined]

    def refresh_slide(self) -> None:
        """Region colours and captions again (a region marked done, a new round)."""
        s, sl = self.session, self.slide_layers
        if sl.slide_id is None or s.project is None or not any(x.id == sl.slide_id for x in s.project.slides):
            return
        sl.update_regions(region_shapes(s.project, sl.slide_id, s.ranks()))

    def _forget_slide(self) -> None:
        self._hidden_annotation = []
        self.slide_layers.clear()

    def _hide_annotation(self) -> None:
        shown = [self.layers.get(role) for role in STACK_ORDER]
        self._hidden_annotation = [x for x in shown if x is not None and x.visible]
        for layer in self._hidden_annotation:
            layer.visible = False

    def _show_annotation(self) -> None:
        for layer in self._hidden_annotation:
            if self.viewer is not None and any(layer is x for x in self.viewer.layers):
                layer.visible = True
        self._hidden_annotation = []


__all__ = ["SlideView"]
