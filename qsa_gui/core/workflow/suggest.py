"""The Suggest verb: train (or reuse) the suggestive ensemble, score the pool, record a round.

Scores are cached per ensemble key (settings, labelled set and their label files), so a
Suggest with unchanged labels reuses them; the round is committed to the manifest last. The
suggestive members are kept (``scores/<key>.members/``, also the heat-map's source) and the next
Suggest fine-tunes them instead of starting from scratch: with early stopping, a warm member stops after a few
held-out checks (measured in docs/benchmarks.md, "The loop at interactive speed").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from qsa_gui.core.active.scoring import PoolScores, appearance_descriptor, default_k
from qsa_gui.core.active.strategies import get_strategy, select
from qsa_gui.core.model.fcn import SAFCN
from qsa_gui.core.project.store import Project, SuggestionRound
from qsa_gui.core.workflow.members import load_members, save_members
from qsa_gui.core.workflow.scores import strategy_scores_job

from ..errors import QSAError
from ..jobs import CancelToken, Job, Progress, check, sub_job
from ..settings import Settings
from .common import _load_pairs, _now, project_settings
from .results import SuggestResult


def _label_fingerprint(project: Project, ids: Sequence[str]) -> str:
    h = hashlib.sha1()
    for image_id in sorted(ids):
        h.update(image_id.encode("utf-8"))
        labels = project.load_labels(image_id)
        if labels is not None:
            h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


def ensemble_key(project: Project, settings: Settings, labelled: Sequence[str], strategy: str) -> str:
    """Version of the suggestive models: changes iff the labels or the training knobs change."""
    knobs = {
        k: v
        for k, v in settings.to_dict().items()
        if k not in ("strategy", "k", "k_top", "suggest_fraction", "device")
        and not (k == "quantizer" and v == "inq")  # keys of projects from before the field stay
    }
    kind = {"mc_dropout": "mc", "float_ensemble": "float"}.get(get_strategy(strategy).needs, "ens")
    blob = json.dumps({"knobs": knobs, "kind": kind, "labels": _label_fingerprint(project, labelled)})
    return f"{kind}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"


def suggest_job(
    project: Project,
    settings: Settings | None = None,
    cancel: CancelToken | None = None,
) -> Job[SuggestResult]:
    """Train the suggestive ensemble on the labels, score the unlabelled pool, record a round."""
    settings = settings or project_settings(project)
    pool = project.unlabelled_ids("pool")
    if not pool:
        raise QSAError("Every image is labelled: there is nothing left to suggest.")
    labelled = project.labelled_ids("pool")
    n_total = (
        len(pool)
        + len(labelled)
        + len([r for r in project.images if r.split == "pool" and r.status == "in_progress"])
    )
    k = settings.k or default_k(n_total, settings.suggest_fraction)
    strategy = settings.strategy if labelled else "diverse"
    reused = False
    yield Progress("preparing", 0.0, f"{len(labelled)} labelled, {len(pool)} unlabelled")
    if strategy != "random" and get_strategy(strategy).needs == "none":  # diverse, stratified
        looks = yield from sub_job(_appearance(project, list(pool), cancel), 0.0, 0.9)
        scores = PoolScores(list(pool), np.zeros(len(pool)), looks, appearance=looks)
        key = "appearance"
    elif strategy == "random":
        scores = PoolScores(list(pool), np.zeros(len(pool)), np.zeros((len(pool), 1)))
        key = "random"
    else:
        key = ensemble_key(project, settings, labelled, strategy)
        scores, reused = yield from sub_job(
            _scores_for(project, settings, strategy, key, pool, labelled, cancel), 0.0, 0.97
        )
    check(cancel)
    if get_strategy(strategy).needs_appearance and scores.appearance is None:
        scores.appearance = yield from sub_job(_appearance(project, scores.ids, cancel), 0.97, 0.99)
    picked = select(strategy, scores, k, k_top=settings.k_top, seed=settings.seed + len(project.rounds))
    round_ = SuggestionRound(
        index=len(project.rounds) + 1,
        created=_now(),
        strategy=strategy,
        model_key=key,
        image_ids=[s.image_id for s in picked],
        scores={
            s.image_id: {
                "rank": s.rank,
                "uncertainty": s.uncertainty,
                "representativeness": s.representativeness,
            }
            for s in picked
        },
        n_labelled_before=len(labelled),
        settings=settings.to_dict(),
    )
    project.add_round(round_)
    yield Progress("done", 1.0, f"suggested {len(picked)} images")
    return SuggestResult(round_, reused)


def _appearance(project: Project, pool: list[str], cancel: CancelToken | None) -> Job[np.ndarray]:
    """Colour/texture statistics of the pool images, for the strategies that stratify by them."""
    descriptors = []
    for i, image_id in enumerate(pool):
        check(cancel)
        descriptors.append(appearance_descriptor(project.load_image(image_id)))
        yield Progress("describing the images' colour and texture", (i + 1) / len(pool))
    return np.stack(descriptors)


def _scores_for(
    project: Project,
    settings: Settings,
    strategy: str,
    key: str,
    pool: list[str],
    labelled: list[str],
    cancel: CancelToken | None,
) -> Job[tuple[PoolScores, bool]]:
    cached = project.load_scores(key)
    if cached is not None:
        scores = PoolScores.from_arrays(cached)
        index = {image_id: i for i, image_id in enumerate(scores.ids)}
        if all(image_id in index for image_id in pool):
            rows = [index[image_id] for image_id in pool]
            yield Progress("reusing cached scores (labels unchanged)", 1.0)
            return scores.subset(rows), True
    images, labels = _load_pairs(project, labelled)
    kind = key.split("-")[0]
    init = _load_members(project, settings, kind) if settings.ensemble_warm_start else None
    scores, members = yield from strategy_scores_job(
        strategy,
        settings,
        images,
        labels,
        pool,
        project.load_image,
        seed=settings.seed,
        cancel=cancel,
        init=init,
    )
    check(cancel)
    if members:  # kept for the heat-map: its per-pixel disagreement is what ranked the round
        float_weights = get_strategy(strategy).needs == "float_ensemble"
        bits = settings.ensemble_config(float_weights=float_weights).bits
        save_members(
            project,
            key,
            members,
            bits=bits,
            tile=settings.tile,
            overlap=settings.overlap,
            quantizer=settings.quantizer,
        )
    project.save_scores(key, scores.arrays())
    return scores, False


def _load_members(project: Project, settings: Settings, kind: str) -> list[SAFCN] | None:
    """The latest earlier round's members (stored for the heat-map, :mod:`.members`) when they fit
    today's settings: the head start of a later Suggest. None: train from scratch."""
    if kind not in ("ens", "float"):
        return None
    want = settings.ensemble_config().fcn_config()
    for rnd in reversed(project.rounds):
        if not rnd.model_key.startswith(f"{kind}-"):
            continue
        stored = load_members(project, rnd.model_key, device="cpu")  # None when absent or damaged
        if stored is None or len(stored.models) != settings.ensemble_size:
            return None
        if any(model.config != want for model in stored.models):
            return None
        return list(stored.models)
    return None
