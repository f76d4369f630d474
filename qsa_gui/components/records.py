"""Project data shaped for display: gallery records with current ranks, history plot rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qsa_gui.core.project.history import flat_history_rows
from qsa_gui.core.project.store import ImageRecord, Project


def history_rows(history: Sequence[dict]) -> list[dict]:
    """Project.history() (one row per round, models nested) -> HistoryPlot rows (one per model).

    The flattening is the project's own (:func:`~qsa_gui.core.project.history.flat_history_rows`);
    the plot draws model versions, so rounds without a model are left out here.
    """
    return [row for row in flat_history_rows(history) if row.get("version") is not None]


def display_record(rec: ImageRecord, ranks: dict[str, int]) -> ImageRecord:
    """A copy of ``rec`` whose suggestion rank is 1-based (#1 = label first) in the latest round.

    The project stores the rank as the 0-based position in the round; the gallery shows "#rank".
    Recomputing from the latest round's order makes the badge right whichever convention is stored.
    """
    sug = rec.suggestion
    if rec.id in ranks:
        sug = dict(sug or {}, rank=ranks[rec.id])
    elif sug is not None:
        sug = None  # a suggestion of an older round is not a current suggestion
    return replace(rec, suggestion=sug)


#: Object F1 on held-out labelled images -> the word the panel says (numbers go in tooltips).
#: Chosen from the GlaS literature: published gland segmenters reach 0.8-0.9 object F1, so 0.70+
#: is usable as a first draft to correct ("good"), 0.50-0.70 needs real correcting ("fair"), and
#: below 0.50 most glands are missed or merged ("poor": label more images before relying on it).
QUALITY_THRESHOLDS: tuple[tuple[float, str], ...] = ((0.70, "good"), (0.50, "fair"), (0.0, "poor"))
#: Suggestion strategies that rank without a model (nothing labelled yet): their u and r are zeros.
QUALITY_TIP = "Quality from object F1 on held-out labelled images: good ≥ 0.70, fair ≥ 0.50, poor below."
MODEL_FREE_STRATEGIES = frozenset({"diverse", "random", "stratified"})
U_WHY = "how much the suggestive models disagree on this image; higher = more to learn from it"
R_WHY = "how typical it is of the unlabelled images; higher = its labels carry over to more images"
U_TIP = f"u = uncertainty: {U_WHY}"
R_TIP = f"r = representativeness: {R_WHY}"


def quality_word(object_f1: object) -> str | None:
    """The word "good", "fair" or "poor" for an object F1 (see QUALITY_THRESHOLDS); None without a score."""
    try:
        f1 = float(object_f1)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return next(word for limit, word in QUALITY_THRESHOLDS if f1 >= limit)


def suggestion_scores(suggestion: dict | None) -> dict[str, float]:
    """The suggestion's u and r worth showing: none for a round ranked before any model existed."""
    if not suggestion or suggestion.get("strategy") in MODEL_FREE_STRATEGIES:
        return {}
    out = {}
    for key in ("uncertainty", "representativeness"):
        try:
            out[key] = float(suggestion[key])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def model_text(p: Project | None) -> str:
    """The current model in words: version, labels it learnt from, quality (numbers: tooltip)."""
    if p is None or p.current_model is None:
        return "No segmentation model yet."
    m = p.model(p.current_model)
    word = quality_word(m.metrics.get("object_f1"))
    quality = f": quality {word}" if word else ": quality not measured yet"
    return f"Model {m.version} ({m.n_labelled} labelled){quality}"


def model_tooltip(p: Project | None) -> str:
    """The numbers behind the quality word (held-out labelled images)."""
    if p is None or p.current_model is None:
        return ""
    m = p.model(p.current_model)
    bits = f"{m.bits}-bit" if m.bits else "float"
    scores = ", ".join(f"{k.replace('_', ' ')} {fmt(m.metrics[k], 2)}" for k in sorted(m.metrics))
    return (f"{m.version}: {bits} weights, trained on {m.n_labelled} labelled image(s); "
            f"{scores or 'no held-out labelled images to measure it yet'}. {QUALITY_TIP}")  # fmt: skip


def fmt(value: object, digits: int = 3) -> str:
    """A score for a table cell: ``0.123``, or an en dash when there is none."""
    try:
        return f"{float(value):.{digits}f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"


__all__ = [
    "MODEL_FREE_STRATEGIES", "QUALITY_THRESHOLDS", "QUALITY_TIP", "R_TIP", "R_WHY", "U_TIP", "U_WHY",
    "display_record", "fmt", "history_rows", "model_text", "model_tooltip", "quality_word",
    "suggestion_scores",
]  # fmt: skip
