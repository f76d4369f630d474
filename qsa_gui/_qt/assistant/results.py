"""What the panel does with each job's outcome: one handler per job, chosen when the job starts.

Why: the widget used to dispatch finished jobs on a string ``kind``; a job now carries its own
handlers (:class:`RunningJob`), so adding a job is one start call and its handlers, and a typo
cannot route a result to the wrong place. The texts come from :mod:`qsa_gui.components.outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qsa_gui.components import outcomes
from qsa_gui.core.errors import Cancelled
from qsa_gui.core.jobs import Progress
from qsa_gui.core.project.store import ImportReport, Project
from qsa_gui.core.workflow.transfer import ExportReport, ImportCancelled

if TYPE_CHECKING:  # the job modules import torch; a GUI only needs their results' names
    from qsa_gui.core.workflow.heatmap import HeatmapResult
    from qsa_gui.core.workflow.results import RetrainResult, SuggestResult
    from qsa_gui.core.workflow.slide_segment import SlideSegmentation

    from .widget import AssistantWidget


@dataclass
class RunningJob:
    """The job being run and what to do with its outcome.

    ``project`` is the project it ran on: a result for a project closed meanwhile is dropped
    (unless ``any_project``, e.g. the demo job, which opens its own).
    """

    name: str
    kind: str  # "suggest", "retrain", ...: the word of the generic "… cancelled" message
    project: Project | None
    on_done: Callable[[Any], None]
    on_cancelled: Callable[[Cancelled | None], None] | None = None
    on_failed: Callable[[], None] | None = None
    on_progress: Callable[[Progress], None] | None = None
    any_project: bool = False


def suggest_done(w: AssistantWidget, result: SuggestResult) -> None:
    w.view.refresh_all()
    w.tabs.setCurrentIndex(0)
    w.gallery.set_filter("all")
    w.gallery.set_sort("rank")
    w.session.report(*outcomes.suggest_outcome(result))
    if result.round.image_ids:
        w.show_image(result.round.image_ids[0])


def retrain_progress(w: AssistantWidget, progress: Progress) -> None:
    if progress.metrics and "loss" in progress.metrics:
        w.loss_values.append(float(progress.metrics["loss"]))
        w.loss_plot.set_values(w.loss_values)


def retrain_done(w: AssistantWidget, result: RetrainResult) -> None:
    w.last_retrain = result
    w.session.heat_cache.clear()
    w.validation_label.setText(outcomes.validation_text(result))
    w.validation_label.setToolTip(w.session.model_tooltip())
    w.view.refresh_all()
    w.session.report(*outcomes.retrain_outcome(result))


def retrain_cancelled(w: AssistantWidget, previous: str | None) -> None:
    w.session.report(*outcomes.retrain_cancelled(previous))


def segment_done(w: AssistantWidget, result: dict[str, np.ndarray]) -> None:
    w.view.refresh_all()
    if w.current_image_id in result:
        w.show_prediction(result[w.current_image_id])
        w.layers.activate_labels()
        w.view.refresh_actions()
    w.session.report(*outcomes.segment_outcome(w.project, result))


def heatmap_done(w: AssistantWidget, result: HeatmapResult) -> None:
    src = result.source
    w.session.store_heat(result.image_id, src.cache_key, result.heat)
    if w.session.heatmap_on and result.image_id == w.current_image_id:
        w.show_heat(src, result.heat)
        where = f"round {src.round_index}'s suggestive models" if src.round_index else f"model {src.key}"
        w.session.say(f"{src.title} ({where}): mean {result.mean:.3f}; clear where certain.")


def slide_segment_done(w: AssistantWidget, result: SlideSegmentation) -> None:
    if not w.slide_shown:
        w.show_slide()
    else:
        w.show_slide_glands()
    w.session.report(*outcomes.slide_segment_outcome(result))


def import_done(w: AssistantWidget, report: ImportReport) -> None:
    w.last_import_report = report
    w.view.refresh_all()
    text, level, details = outcomes.import_outcome(report)
    if details:
        w.boxes.info("Some files were not imported", text, details)
    w.session.report(text, level)
    if w.current_image_id is None and report.added:
        w.show_image(report.added[0])


def import_cancelled(w: AssistantWidget, exc: Cancelled | None) -> None:
    """Files imported before the cancel were committed: show them and say how many."""
    w.view.refresh_all()
    if isinstance(exc, ImportCancelled):
        w.last_import_report = exc.report
        w.session.report(*outcomes.import_cancelled(len(exc.report.added), exc.total))
    else:
        w.session.report("Import cancelled: the images imported so far stay in the project.", "warning")


def import_failed(w: AssistantWidget) -> None:
    w.view.refresh_all()  # files imported before the failure are in the project


def export_done(w: AssistantWidget, report: ExportReport) -> None:
    w.last_export_report = report
    w.session.report(*outcomes.export_outcome(report))


__all__ = [
    "RunningJob", "export_done", "heatmap_done", "import_cancelled", "import_done", "import_failed",
    "retrain_cancelled", "retrain_done", "retrain_progress", "segment_done", "suggest_done",
]  # fmt: skip
