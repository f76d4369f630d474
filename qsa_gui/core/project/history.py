"""The project's history as rows for plots and tables.

:func:`history_rows` is what ``Project.history()`` returns (one row per round, models nested);
:func:`flat_history_rows` is one row per model version, what tables and CSV exports want, so the
GUI need not flatten the nested rows itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import ModelVersion, SuggestionRound


def _model_row(m: ModelVersion, current_model: str | None) -> dict:
    return {
        "version": m.version,
        "n_labelled": m.n_labelled,
        "bits": m.bits,
        "metrics": dict(m.metrics),
        "accepted": m.accepted,
        "reason": m.reason,
        "current": m.version == current_model,
        "created": m.created,
    }


def history_rows(
    rounds: Sequence[SuggestionRound],
    models: Sequence[ModelVersion],
    current_model: str | None,
    n_labelled_now: int,
) -> list[dict]:
    """One row per round (plus a leading round=None row for models trained before the first
    round): n_labelled_before, n_labelled (at the end of the round), n_suggested and the model
    versions trained in that round with their metrics."""
    rows: list[dict] = []
    early = [m for m in models if m.round_index is None]
    if early:
        rows.append(
            {
                "round": None,
                "created": "",
                "strategy": "",
                "n_labelled_before": None,
                "n_labelled": max(m.n_labelled for m in early),
                "n_suggested": 0,
                "models": [_model_row(m, current_model) for m in early],
            }
        )
    for k, r in enumerate(rounds):
        after = rounds[k + 1].n_labelled_before if k + 1 < len(rounds) else n_labelled_now
        rows.append(
            {
                "round": r.index,
                "created": r.created,
                "strategy": r.strategy,
                "n_labelled_before": r.n_labelled_before,
                "n_labelled": after,
                "n_suggested": len(r.image_ids),
                "models": [_model_row(m, current_model) for m in models if m.round_index == r.index],
            }
        )
    return rows


def flat_history_rows(rows: Sequence[dict]) -> list[dict]:
    """One flat row per (round, model) from :func:`history_rows`; a round without models gives
    one row with ``version`` None. Model keys win over round keys of the same name, except that
    the round's ``created`` is kept as ``round_created`` and its count as ``round_n_labelled``."""
    flat: list[dict] = []
    for row in rows:
        base = {k: v for k, v in row.items() if k != "models"}
        base["round_created"] = base.pop("created", "")
        base["round_n_labelled"] = base.pop("n_labelled", None)
        models = row.get("models") or [None]
        for m in models:
            entry = dict(base)
            if m is None:
                entry.update(
                    version=None,
                    n_labelled=None,
                    bits=None,
                    metrics={},
                    accepted=None,
                    reason="",
                    current=False,
                    created="",
                )
            else:
                entry.update(m)
            flat.append(entry)
    return flat
