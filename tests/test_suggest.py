import numpy as np
import pytest

from qsa_gui.core.active.scoring import (
    PoolScores,
    appearance_descriptor,
    image_uncertainty,
    predictive_entropy,
)
from qsa_gui.core.active.selection import greedy_max_cover
from qsa_gui.core.active.strategies import select


def _scores(n=12, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return PoolScores([f"img_{i}" for i in range(n)], rng.random(n), rng.random((n, d)))


def test_uncertainty_is_mean_pixel_std_across_models():
    probs = np.stack([np.zeros((4, 4)), np.ones((4, 4))])  # two models disagree everywhere
    assert image_uncertainty(probs) == pytest.approx(0.5)
    assert image_uncertainty(np.full((5, 3, 3), 0.7)) == 0.0


def test_entropy_peaks_at_one_half():
    assert predictive_entropy(np.full((3, 3), 0.5)) == pytest.approx(1.0)
    assert predictive_entropy(np.zeros((3, 3))) < 1e-3


def test_qsa_picks_from_top_uncertain_then_max_cover():
    s = _scores()
    k = 3
    picked = select("qsa", s, k)
    top = set(np.argsort(-s.uncertainty)[: 2 * k])
    idx = [s.ids.index(p.image_id) for p in picked]
    assert set(idx) <= top
    cand = np.argsort(-s.uncertainty, kind="stable")[: 2 * k]
    expect = [int(cand[j]) for j in greedy_max_cover(s.descriptors[cand], s.descriptors, k)]
    assert idx == expect
    assert [p.rank for p in picked] == [1, 2, 3]


def test_uncertainty_and_random_strategies():
    s = _scores()
    unc = select("uncertainty", s, 4)
    assert [s.ids.index(p.image_id) for p in unc] == list(np.argsort(-s.uncertainty)[:4])
    r1 = select("random", s, 4, seed=3)
    r2 = select("random", s, 4, seed=3)
    assert r1 == r2 and len({p.image_id for p in r1}) == 4


def test_k_is_clamped_and_bad_strategy_rejected():
    s = _scores(n=3)
    assert len(select("qsa", s, 10)) == 3
    assert select("qsa", s, 0) == []
    with pytest.raises(ValueError, match="unknown strategy"):
        select("best", s, 1)


def test_appearance_descriptor_separates_different_images():
    rng = np.random.default_rng(0)
    pink = np.clip(np.array([0.9, 0.6, 0.8]) + 0.02 * rng.standard_normal((64, 64, 3)), 0, 1)
    blue = np.clip(np.array([0.3, 0.3, 0.7]) + 0.02 * rng.standard_normal((64, 64, 3)), 0, 1)
    a, b = appearance_descriptor(pink), appearance_descriptor(blue)
    assert a.sum() == pytest.approx(1.0)
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert cos < 0.5


def test_strategies_are_registered_records_with_unchanged_seeded_picks():
    from qsa_gui.core.active import strategies

    old = ("qsa", "sa", "uncertainty", "mc_dropout", "random", "diverse")
    assert strategies.STRATEGIES[:6] == old
    assert strategies.STRATEGIES[6:] == (
        "qsa_centred", "qsa_whitened", "stratified", "qsa_strata", "typical", "qsa_contour"
    )  # fmt: skip
    needs = {name: strategies.get_strategy(name).needs for name in old}
    assert needs == {
        "qsa": "quantized_ensemble",
        "sa": "float_ensemble",
        "uncertainty": "quantized_ensemble",
        "mc_dropout": "mc_dropout",
        "random": "none",
        "diverse": "none",
    }
    assert all(strategies.get_strategy(n).description for n in strategies.STRATEGIES)
    with pytest.raises(ValueError, match="unknown strategy 'nope'; choose one of qsa, sa"):
        strategies.get_strategy("nope")
    # pinned from the if-chain implementation this registry replaced (same seed, same picks)
    rng = np.random.default_rng(3)
    s = PoolScores([f"img_{i}" for i in range(12)], rng.random(12), rng.random((12, 6)))
    picks = {st: [x.image_id for x in select(st, s, 4, seed=7)] for st in old}
    assert picks == {
        "qsa": ["img_5", "img_2", "img_11", "img_6"],
        "sa": ["img_5", "img_2", "img_11", "img_6"],
        "uncertainty": ["img_2", "img_8", "img_3", "img_11"],
        "mc_dropout": ["img_2", "img_8", "img_3", "img_11"],
        "random": ["img_8", "img_6", "img_10", "img_7"],
        "diverse": ["img_0", "img_5", "img_4", "img_7"],
    }
    assert [x.image_id for x in select("qsa", s, 3, k_top=5)] == ["img_2", "img_6", "img_8"]


def test_qsa_contour_ranks_by_gland_and_contour_disagreement():
    ids = [f"img_{i}" for i in range(6)]
    gland = np.array([0.30, 0.29, 0.10, 0.05, 0.04, 0.01])
    contour = np.array([0.00, 0.00, 0.00, 0.40, 0.50, 0.00])  # 3 and 4: unsure where objects part
    desc = np.eye(6)  # every image its own kind: max-cover keeps the candidates' order
    s = PoolScores(ids, gland, desc, contour_uncertainty=contour)
    assert {x.image_id for x in select("qsa", s, 2, k_top=2)} == {"img_0", "img_1"}
    assert {x.image_id for x in select("qsa_contour", s, 2, k_top=2)} == {"img_3", "img_4"}
    with pytest.raises(ValueError, match="contour"):
        select("qsa_contour", PoolScores(ids, gland, desc), 2)
    # kept through the score cache and a cached round's restriction to today's pool
    back = PoolScores.from_arrays(s.arrays())
    assert np.array_equal(back.contour_uncertainty, contour)
    part = back.subset([4, 1])
    assert part.ids == ["img_4", "img_1"] and list(part.contour_uncertainty) == [0.5, 0.0]
    assert PoolScores.from_arrays(PoolScores(ids, gland, desc).arrays()).contour_uncertainty is None


def test_a_registered_strategy_is_selectable_and_listed(monkeypatch):
    from qsa_gui.core.active import strategies

    monkeypatch.setattr(strategies, "_REGISTRY", dict(strategies._REGISTRY))
    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES)  # restored after the test
    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES)
    least = strategies.Strategy(
        "least_uncertain",
        "the most certain images",
        "quantized_ensemble",
        lambda s, k, top, seed: list(np.argsort(s.uncertainty, kind="stable")[:k]),
    )
    strategies.register_strategy(least)
    assert strategies.STRATEGIES[-1] == "least_uncertain"
    s = PoolScores(["a", "b", "c"], np.array([0.9, 0.1, 0.5]), np.eye(3))
    assert [x.image_id for x in select("least_uncertain", s, 2)] == ["b", "c"]
    with pytest.raises(ValueError, match="unknown needs"):
        strategies.register_strategy(strategies.Strategy("bad", "x", "gpu", least.choose))  # type: ignore[arg-type]


def test_cached_scores_are_keyed_by_what_the_strategy_trains(monkeypatch):
    from dataclasses import replace

    from qsa_gui.core.active import strategies
    from qsa_gui.core.settings import Settings
    from qsa_gui.core.workflow.suggest import ensemble_key

    monkeypatch.setattr(strategies, "_REGISTRY", dict(strategies._REGISTRY))
    monkeypatch.setattr(strategies, "STRATEGIES", strategies.STRATEGIES)  # restored after the test
    strategies.register_strategy(replace(strategies.get_strategy("sa"), name="float_picks"))
    keys = {
        name: ensemble_key(None, Settings(), [], name) for name in ("qsa", "uncertainty", "sa", "float_picks")
    }
    assert keys["qsa"] == keys["uncertainty"] and keys["qsa"].startswith("ens-")
    assert keys["float_picks"] == keys["sa"] and keys["sa"].startswith("float-")  # never the quantized cache
    assert ensemble_key(None, Settings(), [], "mc_dropout").startswith("mc-")
