"""Project data shaped for display: gallery records with current ranks, history plot rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qsa_gui.core.project.history import flat_history_rows
from qsa_gui.core.project.store import ImageRecord


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


def fmt(value: object, digits: int = 3) -> str:
    """A score for a table cell: ``0.123``, or an en dash when there is none."""
    try:
        return f"{float(value):.{digits}f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"


__all__ = ["display_record", "fmt", "history_rows"]
