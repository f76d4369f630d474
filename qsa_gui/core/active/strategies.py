"""Selection strategies registered by name: which images to label next, given the pool's scores.

- ``qsa`` / ``sa``: the ``k_top`` most uncertain images, then greedy max-cover of cosine
  similarity picks ``k`` of them (QSA = quantized members, SA = float members).
- ``uncertainty``: the ``k`` most uncertain images.
- ``mc_dropout``: the ``k`` images with the highest mean predictive entropy of one network
  sampled with dropout on (what MONAI Label calls epistemic).
- ``random``: ``k`` images uniformly at random (seeded).
- ``qsa_centred`` / ``qsa_whitened``: QSA with the descriptors centred on the pool mean (and
  whitened per dimension) before max-cover: the raw post-ReLU descriptors' cosines crowd near 1.
- ``stratified``: random within appearance strata (k-means on colour/texture statistics, one
  image per stratum), the "foreground-aware" random baseline without labels: dense and sparse
  tissue both get picked.
- ``qsa_strata``: ``stratified`` with the pick inside each stratum made by the quantized
  ensemble's disagreement instead of chance: the most uncertain image of each of ``k`` k-means
  strata of the colour/texture statistics. Why: on generated glands QSA's first picks
  under-sample one stain style (17% against 34% of the pool), which appearance strata prevent.
- ``qsa_contour``: QSA ranking by the members' disagreement on the gland *and* the contour
  output (their sum): touching objects are told apart by the contour, and object F1 counts
  objects; the paper ranks by the gland output alone.
- ``typical``: TypiClust (Hacohen et al., ICML 2022) every round: ``k`` k-means clusters of the
  unlabelled pool's colour/texture statistics, the most typical image of each, largest first;
  model-free, the low-budget answer to "uncertain images are outliers".
- ``diverse`` (cold start, nothing labelled yet): greedy max-cover on colour/texture statistics.

Each is a :class:`Strategy` record in one registry (MONAI Label style): the CLI's choices, the
GUI's menus and the scoring job's dispatch all read it, so a new strategy is one
:func:`register_strategy` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from qsa_gui.core.active.selection import (
    centred,
    greedy_max_cover,
    stratified_picks,
    typical_picks,
    uncertain_per_stratum,
)

if TYPE_CHECKING:  # scoring imports torch; the registry (settings' name check) must not
    from .scoring import PoolScores, Suggestion

Needs = Literal["quantized_ensemble", "float_ensemble", "mc_dropout", "none"]
# chooser(scores, k, k_top, seed) -> indices into scores.ids, best first; 1 <= k <= len(scores.ids)
Chooser = Callable[["PoolScores", int, "int | None", int], list[int]]


@dataclass(frozen=True)
class Strategy:
    """One selection strategy: what it is called, what it needs scored, and how it picks.

    ``needs`` tells the scoring job what to train: the quantized (``quantized_ensemble``) or float
    (``float_ensemble``) suggestive ensemble, one network sampled with dropout (``mc_dropout``),
    or nothing (``none``: the pool's descriptors alone, or no scores at all).
    """

    name: str
    description: str
    needs: Needs
    choose: Chooser
    needs_appearance: bool = False  # also the pool's colour/texture statistics (``scores.appearance``)


_REGISTRY: dict[str, Strategy] = {}
STRATEGIES: tuple[str, ...] = ()


def register_strategy(strategy: Strategy) -> Strategy:
    """Add (or replace) a strategy; :data:`STRATEGIES` follows in registration order."""
    global STRATEGIES
    if strategy.needs not in ("quantized_ensemble", "float_ensemble", "mc_dropout", "none"):
        raise ValueError(f"strategy {strategy.name!r}: unknown needs {strategy.needs!r}")
    _REGISTRY[strategy.name] = strategy
    STRATEGIES = tuple(_REGISTRY)
    return strategy


def get_strategy(name: str) -> Strategy:
    """The registered strategy ``name``, with a clear error naming the choices."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(_REGISTRY)}") from None


def _uncertain(scores: PoolScores) -> np.ndarray:
    return np.argsort(-scores.uncertainty, kind="stable")


def _suggestive(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    n = len(scores.ids)
    k_top = min(n, max(k, k_top if k_top is not None else 2 * k))
    candidates = _uncertain(scores)[:k_top]
    picked = greedy_max_cover(scores.descriptors[candidates], scores.descriptors, k)
    return [int(candidates[j]) for j in picked]


def _centred(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    from .scoring import PoolScores  # torch-backed module: imported when a strategy runs

    moved = PoolScores(scores.ids, scores.uncertainty, centred(scores.descriptors))
    return _suggestive(moved, k, k_top, seed)


def _whitened(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    from .scoring import PoolScores

    moved = PoolScores(scores.ids, scores.uncertainty, centred(scores.descriptors, whiten=True))
    return _suggestive(moved, k, k_top, seed)


def _with_contour(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    from .scoring import PoolScores

    if scores.contour_uncertainty is None:
        raise ValueError("qsa_contour needs the members' contour disagreement (scores.contour_uncertainty)")
    both = scores.uncertainty + scores.contour_uncertainty
    return _suggestive(PoolScores(scores.ids, both, scores.descriptors), k, k_top, seed)


def _stratified(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    return stratified_picks(scores.descriptors, k, seed)


def _uncertain_strata(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    if scores.appearance is None:
        raise ValueError("qsa_strata needs the pool's appearance descriptors (scores.appearance)")
    return uncertain_per_stratum(scores.appearance, scores.uncertainty, k, seed)


def _typical(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    return typical_picks(scores.descriptors, k, seed)


def _most_uncertain(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    return [int(i) for i in _uncertain(scores)[:k]]


def _diverse(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    return [int(i) for i in greedy_max_cover(scores.descriptors, scores.descriptors, k)]


def _random(scores: PoolScores, k: int, k_top: int | None, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(len(scores.ids), size=k, replace=False)]


register_strategy(
    Strategy(
        "qsa",
        "quantized ensemble: most uncertain, then most representative",
        "quantized_ensemble",
        _suggestive,
    )
)
register_strategy(
    Strategy("sa", "float ensemble: most uncertain, then most representative", "float_ensemble", _suggestive)
)
register_strategy(
    Strategy(
        "uncertainty", "quantized ensemble: the most uncertain images", "quantized_ensemble", _most_uncertain
    )
)
register_strategy(
    Strategy(
        "mc_dropout",
        "one network sampled with dropout: highest predictive entropy",
        "mc_dropout",
        _most_uncertain,
    )
)
register_strategy(Strategy("random", "uniformly at random (seeded)", "none", _random))
register_strategy(
    Strategy("diverse", "cold start: the most varied images by colour and texture", "none", _diverse)
)
register_strategy(
    Strategy(
        "qsa_centred",
        "QSA with descriptors centred on the pool mean (cosines spread over [-1, 1])",
        "quantized_ensemble",
        _centred,
    )
)
register_strategy(
    Strategy(
        "qsa_whitened",
        "QSA with descriptors centred and whitened per dimension",
        "quantized_ensemble",
        _whitened,
    )
)
register_strategy(
    Strategy(
        "stratified",
        "foreground-aware random: one image at random per colour/texture stratum",
        "none",
        _stratified,
    )
)
register_strategy(
    Strategy(
        "qsa_strata",
        "quantized ensemble: the most uncertain image of each colour/texture stratum",
        "quantized_ensemble",
        _uncertain_strata,
        needs_appearance=True,
    )
)
register_strategy(
    Strategy("typical", "model-free: the most typical image of each appearance cluster", "none", _typical)
)
register_strategy(
    Strategy(
        "qsa_contour",
        "QSA ranked by the members' disagreement on gland and contour outputs",
        "quantized_ensemble",
        _with_contour,
    )
)


def select(
    strategy: str,
    scores: PoolScores,
    k: int,
    *,
    k_top: int | None = None,
    seed: int = 0,
) -> list[Suggestion]:
    """Choose ``k`` images of ``scores.ids`` by ``strategy``; ranked, best first."""
    from .scoring import Suggestion, _representativeness

    record = get_strategy(strategy)
    k = max(0, min(k, len(scores.ids)))
    if k == 0:
        return []
    unc = scores.uncertainty
    rep = _representativeness(scores.descriptors, scores.descriptors)
    chosen = record.choose(scores, k, k_top, seed)
    return [
        Suggestion(scores.ids[i], rank + 1, float(unc[i]), float(rep[i])) for rank, i in enumerate(chosen)
    ]
