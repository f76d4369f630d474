"""Selection strategies registered by name: which images to label next, given the pool's scores.

- ``qsa`` / ``sa``: the ``k_top`` most uncertain images, then greedy max-cover of cosine
  similarity picks ``k`` of them (QSA = quantized members, SA = float members).
- ``uncertainty``: the ``k`` most uncertain images.
- ``mc_dropout``: the ``k`` images with the highest mean predictive entropy of one network
  sampled with dropout on (what MONAI Label calls epistemic).
- ``random``: ``k`` images uniformly at random (seeded).
- ``diverse`` (cold start, nothing labelled yet): greedy max-cover on colour/texture statistics.

The CLI's choices and the GUI's menus are built from :data:`STRATEGIES`, so a new strategy is
one registry entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qsa_gui.core.active.selection import greedy_max_cover

if TYPE_CHECKING:  # settings imports STRATEGIES from here
    pass
from .scoring import PoolScores, Suggestion, _representativeness

STRATEGIES = ("qsa", "sa", "uncertainty", "mc_dropout", "random", "diverse")


def select(
    strategy: str,
    scores: PoolScores,
    k: int,
    *,
    k_top: int | None = None,
    seed: int = 0,
) -> list[Suggestion]:
    """Choose ``k`` images of ``scores.ids`` by ``strategy``; ranked, best first."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = len(scores.ids)
    k = max(0, min(k, n))
    if k == 0:
        return []
    unc = scores.uncertainty
    rep = _representativeness(scores.descriptors, scores.descriptors)
    order_unc = np.argsort(-unc, kind="stable")
    if strategy in ("qsa", "sa"):
        k_top = min(n, max(k, k_top if k_top is not None else 2 * k))
        candidates = order_unc[:k_top]
        picked = greedy_max_cover(scores.descriptors[candidates], scores.descriptors, k)
        chosen = [int(candidates[j]) for j in picked]
    elif strategy in ("uncertainty", "mc_dropout"):
        chosen = [int(i) for i in order_unc[:k]]
    elif strategy == "diverse":
        chosen = [int(i) for i in greedy_max_cover(scores.descriptors, scores.descriptors, k)]
    else:  # random
        rng = np.random.default_rng(seed)
        chosen = [int(i) for i in rng.choice(n, size=k, replace=False)]
    return [
        Suggestion(scores.ids[i], rank + 1, float(unc[i]), float(rep[i])) for rank, i in enumerate(chosen)
    ]
