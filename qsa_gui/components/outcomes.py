"""The one-line outcome of each job, as text and level, so every shell words results alike.

Why Qt-free: these sentences are what the user reads after every job; tests check them without
a display, and the Qt result handlers (``_qt/assistant/results.py``) only show them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qsa_gui.core.project.store import ImportReport, Project
from qsa_gui.core.workflow.transfer import ExportReport

from .records import fmt, quality_word

if TYPE_CHECKING:  # the job modules import torch; a GUI only needs their results' names
    from qsa_gui.core.workflow.results import ReplayResult, RetrainResult, SuggestResult
    from qsa_gui.core.workflow.slide_segment import SlideSegmentation

Outcome = tuple[str, str]  # (text, level)


def suggest_outcome(result: SuggestResult) -> Outcome:
    rnd = result.round
    reused = " (labels unchanged: cached scores reused)" if result.reused_scores else ""
    n = len(rnd.image_ids)
    return f"Round {rnd.index} ({rnd.strategy}): {n} image(s) suggested{reused}. Label #1 first.", "info"


def kept_words(result: RetrainResult) -> str:
    """Why a kept model was kept: better than / as good as the previous one, or the first one."""
    v = result.version
    if not v.parent:
        return "kept (the first model)"
    new, old = v.metrics.get("object_f1"), (result.previous_metrics or {}).get("object_f1")
    if new is not None and old is not None and float(new) > float(old):
        return "kept (better than the previous one)"
    return "kept (at least as good as the previous one)"


def retrain_outcome(result: RetrainResult) -> Outcome:
    """Kept or not, and how good it is in words; "poor" is a warning, never a green success."""
    v = result.version
    if not v.accepted:
        return f"Model {v.version} {v.reason}. The previous model {v.parent} stays.", "warning"
    word = quality_word(v.metrics.get("object_f1"))
    if word is None:
        text = f"Model {v.version} {kept_words(result)}; too few labelled images to measure its quality."
        return text, "info"
    advice = {"good": "", "fair": " Correct its predictions; more labels will improve it.",
              "poor": " It misses or merges many glands: label more images and retrain."}[word]  # fmt: skip
    return f"Model {v.version} {kept_words(result)}: quality {word}.{advice}", (
        "warning" if word == "poor" else "info"
    )


def validation_text(result: RetrainResult) -> str:
    """The Training tab's rich text: the new model's held-out scores against the previous one's."""
    v = result.version
    keys = ("object_f1", "object_dice", "pixel_dice")
    shown = [k for k in keys if k in v.metrics]
    if not shown:
        return f"{v.version}: trained on {v.n_labelled} labelled image(s); none held out for validation yet."
    new = " · ".join(f"{k.replace('_', ' ')} {fmt(v.metrics[k])}" for k in shown)
    text = f"{v.version} on held-out labelled images: {new}"
    if result.previous_metrics:
        old = " · ".join(f"{k.replace('_', ' ')} {fmt(result.previous_metrics.get(k))}" for k in shown)
        text += f"<br>previous model {v.parent}: {old}"
    word = quality_word(v.metrics.get("object_f1"))
    verdict = kept_words(result) if v.accepted else "kept out (the previous model stays)"
    return f"{text}<br><b>{verdict}</b>" + (f" · quality <b>{word}</b>" if word else "")


def retrain_started(n_labelled: int) -> str:
    """The Training tab while a retrain runs: the previous outcome must not look like this one's."""
    return f"Training on {n_labelled} labelled image(s)… the validation scores appear here when it ends."


def segment_outcome(project: Project | None, result: dict) -> Outcome:
    model = project.current_model if project is not None else "?"
    if len(result) == 1:
        ((image_id, labels),) = result.items()
        name = project.image(image_id).name if project is not None else image_id
        return f"Segmented {name} with {model}: {int(labels.max())} gland(s) found.", "info"
    return f"Segmented {len(result)} images with {model}.", "info"


def import_outcome(report: ImportReport) -> tuple[str, str, str]:
    """(text, level, details): details lists every skipped file with its reason (empty: none)."""
    text = f"Imported {len(report.added)} image(s)."
    if not report.skipped:
        return text, "info", ""
    text += f" Skipped {len(report.skipped)}: " + "; ".join(
        f"{Path(p).name} ({reason})" for p, reason in report.skipped[:5]
    )
    if len(report.skipped) > 5:
        text += f"; … {len(report.skipped) - 5} more"
    return text, "warning", "\n".join(f"{p}: {reason}" for p, reason in report.skipped)


def export_outcome(report: ExportReport) -> Outcome:
    model = f", model {report.model_version} in model/" if report.model_version else ", no model yet"
    text = (
        f"Exported {report.n_labels} label image(s) and {report.n_predictions} prediction(s) "
        f"to {report.folder} (with annotations.csv{model})."
    )
    return text, "info"


def retrain_cancelled(previous: str | None) -> Outcome:
    model = f"the previous model ({previous})" if previous else "the project (still without a model)"
    return f"Retrain cancelled: {model} and all labels are unchanged.", "warning"


def import_cancelled(n_imported: int, total: int) -> Outcome:
    """True to what happened: every file imported before the cancel was committed and stays."""
    if n_imported:
        return (
            f"Import cancelled: {n_imported} of {total} image(s) were imported before the cancel "
            "and stay in the project.",
            "warning",
        )
    return "Import cancelled before any image was imported: nothing was changed.", "warning"


def job_cancelled(kind: str) -> Outcome:
    return f"{kind.capitalize()} cancelled: nothing was changed.", "warning"


__all__ = [
    "export_outcome", "import_cancelled", "import_outcome", "job_cancelled", "kept_words",
    "retrain_cancelled",
    "retrain_outcome", "retrain_started", "segment_outcome", "suggest_outcome", "validation_text",
]  # fmt: skip


def slide_segment_outcome(result: SlideSegmentation) -> Outcome:
    return (
        f"Slide segmented: {result.n_objects} gland(s) in {result.seconds:.0f} s. QuPath GeoJSON and "
        f"OME-Zarr labels in {result.folder}",
        "info",
    )


def replay_outcome(result: ReplayResult) -> Outcome:
    """The replay's answer in plain words: did labelling the suggested images first pay here?"""
    d = result.aulc_difference("qsa", "random")
    on = f"On your {result.n_pool + result.n_test} labelled images"
    if d.n < 2:
        return f"{on}, one repeat cannot tell suggestions from chance: run at least 3 repeats.", "warning"
    iv = d.interval
    numbers = f"{iv.mean:+.3f} object F1 on average, 95% interval {iv.low:+.3f} to {iv.high:+.3f}"
    repeats = f"better in {d.wins} of {d.n} repeats"
    if iv.excludes_zero and iv.mean > 0:
        better = "labelling the suggested images first gave better models than random"
        return f"{on}, {better} ({numbers}; {repeats}).", "success"
    if iv.excludes_zero:
        return (
            f"{on}, random choice gave better models than the suggestions ({numbers}; {repeats}).",
            "warning",
        )
    return (
        f"{on}, suggestions and random choice did about equally well ({numbers}; {repeats}): "
        "the difference is within chance. More labels or more repeats would tell them apart.",
        "info",
    )
