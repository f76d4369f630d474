"""What the Suggest, Retrain and Replay jobs return, in a module that does not import torch.

Why: in the GUI these results come back from the worker process pickled, and unpickling a class
imports its module. Defined beside their jobs they made the GUI process import torch (1.3 s, its
shared libraries loaded while holding the GIL) on the job thread the first time a Retrain or
Suggest finished: a 200-250 ms freeze of the window. The GUI process never needs torch; a test
guards that importing this module does not bring it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..project.store import ModelVersion, SuggestionRound
from .paired_runs import PairedRuns


@dataclass
class SuggestResult:
    """What a suggestion round produced (also recorded in the project)."""

    round: SuggestionRound
    reused_scores: bool


@dataclass
class RetrainResult:
    version: ModelVersion
    previous_metrics: dict[str, float] | None


@dataclass
class ReplayResult(PairedRuns):
    """The seeds' rows, and which labelled images were the pool and which the test set."""

    n_pool: int = 0
    n_test: int = 0
    test_from: str = ""  # "test split" or "held-out pool images"


__all__ = ["ReplayResult", "RetrainResult", "SuggestResult"]
