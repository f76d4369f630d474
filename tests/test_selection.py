"""Bootstrap resampling, cosine similarity and greedy max-cover against their definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qsa_gui.core.active.selection import (
    bootstrap_indices,
    cosine_similarity,
    coverage_gains,
    greedy_max_cover,
    representativeness,
)

# ------------------------------------------------------------------ bootstrap


def test_bootstrap_sizes_range_and_replacement():
    res = bootstrap_indices(10, 5, np.random.default_rng(0))
    assert len(res) == 5
    for idx in res:
        assert idx.shape == (10,) and np.issubdtype(idx.dtype, np.integer)
        assert idx.min() >= 0 and idx.max() < 10
    # Sampling with replacement: over 5 draws of 10 from 10 some index must repeat
    # (probability of no repeat in all five is (10!/10^10)^5 ~ 1e-17).
    assert any(len(np.unique(idx)) < 10 for idx in res)


def test_bootstrap_is_deterministic_per_seed():
    a = bootstrap_indices(7, 4, np.random.default_rng(123))
    b = bootstrap_indices(7, 4, np.random.default_rng(123))
    c = bootstrap_indices(7, 4, np.random.default_rng(124))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(a, bootstrap_indices(7, 4, 123), strict=True))


def test_bootstrap_never_degenerate():
    # With n = 2 half the raw draws would be one image twice; all results must hold both.
    for idx in bootstrap_indices(2, 200, np.random.default_rng(5)):
        assert sorted(set(idx.tolist())) == [0, 1]
    assert [idx.tolist() for idx in bootstrap_indices(1, 3, np.random.default_rng(0))] == [[0]] * 3


def test_bootstrap_bad_arguments():
    with pytest.raises(ValueError):
        bootstrap_indices(0, 3, np.random.default_rng(0))
    with pytest.raises(ValueError):
        bootstrap_indices(3, -1, np.random.default_rng(0))
    with pytest.raises(TypeError):
        bootstrap_indices(3, 1, "seed")  # type: ignore[arg-type]
    assert bootstrap_indices(3, 0, np.random.default_rng(0)) == []


# ------------------------------------------------------------------ cosine similarity


def test_cosine_values_and_shape():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 0.0]])
    s = cosine_similarity(a, b)
    assert s.shape == (3, 4)
    r = 1 / math.sqrt(2)
    expected = np.array([[1, 0, -1, 0], [r, r, -r, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(s, expected, atol=1e-12)
    assert np.all(np.isfinite(s))


def test_cosine_edge_cases():
    v = np.array([3.0, 4.0])
    assert cosine_similarity(v, v).shape == (1, 1)
    assert cosine_similarity(v, v)[0, 0] == pytest.approx(1.0)
    assert cosine_similarity(v * 1e-200, v * 1e200)[0, 0] == pytest.approx(1.0)
    assert cosine_similarity(np.zeros((0, 2)), v).shape == (0, 1)
    with pytest.raises(ValueError, match="lengths"):
        cosine_similarity(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        cosine_similarity(np.array([np.nan, 1.0]), v)
    s = cosine_similarity(np.random.default_rng(0).normal(size=(20, 6)) * 1e3, np.ones((3, 6)))
    assert s.max() <= 1.0 and s.min() >= -1.0


# ------------------------------------------------------------------ max cover


def _brute_best(sim_desc: np.ndarray, pool: np.ndarray, k: int) -> float:
    return max(
        representativeness(sim_desc[list(c)], pool) for c in itertools.combinations(range(len(sim_desc)), k)
    )


def test_greedy_is_optimal_when_covers_are_disjoint():
    # Pool: clusters of 4, 2 and 1 images on orthogonal axes; candidates cover one cluster each,
    # so F is additive over picks and the greedy order (by cluster size) is optimal for every k.
    pool = np.array([[1, 0, 0]] * 4 + [[0, 1, 0]] * 2 + [[0, 0, 1]], float)
    cands = np.array([[0, 0, 1], [0, 2, 0], [3, 0, 0], [1, 0, 0]], float)
    assert greedy_max_cover(cands, pool, 3) == [2, 1, 0]
    for k, value in ((1, 4.0), (2, 6.0), (3, 7.0)):
        chosen = greedy_max_cover(cands, pool, k)
        assert representativeness(cands[chosen], pool) == pytest.approx(value)
        assert representativeness(cands[chosen], pool) == pytest.approx(_brute_best(cands, pool, k))
    # The duplicate of the x axis adds nothing once the x axis is chosen.
    assert greedy_max_cover(cands, pool, 4)[-1] == 3


def test_greedy_hand_computed_suboptimal_case():
    # A "hub" candidate [1,1,0] covers 6 images at cos 1/sqrt(2): 4.243 beats the x axis (4.0),
    # so greedy takes it first and then x (gain 4 * 0.293); OPT for k = 2 is x + y = 6.
    pool = np.array([[1, 0, 0]] * 4 + [[0, 1, 0]] * 2 + [[0, 0, 1]], float)
    cands = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 0]], float)
    order = greedy_max_cover(cands, pool, 2)
    assert order == [3, 2]
    f = representativeness(cands[order], pool)
    assert f == pytest.approx(4 + 2 / math.sqrt(2))
    assert _brute_best(cands, pool, 2) == pytest.approx(6.0)
    assert f >= (1 - 1 / math.e) * 6.0


def test_greedy_ties_and_sizes():
    pool = np.eye(3)
    cands = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    assert greedy_max_cover(cands, pool, 1) == [0]  # tie between 0 and 1 -> lowest index
    assert greedy_max_cover(cands, pool, 2) == [0, 2]
    assert greedy_max_cover(cands, pool, 10) == [0, 2, 1]  # k > candidates: all, greedy order
    assert greedy_max_cover(cands, pool, 0) == []
    assert greedy_max_cover(np.zeros((0, 3)), pool, 2) == []
    assert greedy_max_cover(cands, pool, 3) == greedy_max_cover(cands, pool, 3)


def test_negative_similarity_is_clamped():
    pool = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert representativeness(np.array([[1.0, 0.0]]), pool) == pytest.approx(1.0)
    assert representativeness(np.zeros((0, 2)), pool) == 0.0
    gains = coverage_gains(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]), pool)
    np.testing.assert_allclose(gains, [1.0, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_greedy_within_one_minus_1_over_e_of_optimum(seed):
    rng = np.random.default_rng(seed)
    cands = rng.random((8, 5)) ** 3  # nonnegative, spread out
    pool = rng.random((15, 5)) ** 3
    k = 3
    order = greedy_max_cover(cands, pool, k)
    assert len(order) == k and len(set(order)) == k
    f_greedy = representativeness(cands[order], pool)
    opt = _brute_best(cands, pool, k)
    assert f_greedy <= opt + 1e-9
    assert f_greedy >= (1 - 1 / math.e) * opt - 1e-9
    # Each greedy step took a candidate of maximal marginal gain.
    for step in range(k):
        gains = coverage_gains(cands, pool, order[:step])
        gains[order[:step]] = -1
        assert gains[order[step]] == pytest.approx(gains.max())
    # Gains of the picked sequence sum to F and never increase (submodularity).
    seq = [coverage_gains(cands, pool, order[:s])[order[s]] for s in range(k)]
    assert sum(seq) == pytest.approx(f_greedy)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(seq))


def _blobs(n_per: int = 6, seed: int = 0):
    """Three well-separated clusters of positive descriptors (post-ReLU-like) in 5-D."""
    rng = np.random.default_rng(seed)
    centres = np.array([[5.0, 1, 1, 1, 1], [1, 5.0, 1, 1, 1], [1, 1, 5.0, 1, 1]]) + 20.0
    x = np.concatenate([c + 0.1 * rng.standard_normal((n_per, 5)) for c in centres])
    return x, np.repeat(np.arange(3), n_per)


def test_centring_spreads_crowded_cosines():
    from qsa_gui.core.active.selection import centred, cosine_similarity

    x, _ = _blobs()
    raw = cosine_similarity(x, x)
    cen = cosine_similarity(centred(x), centred(x))
    assert raw.min() > 0.95  # all-positive descriptors: every pair looks alike
    assert cen.min() < -0.3 and cen.max() == pytest.approx(1.0)
    assert np.allclose(centred(x).mean(axis=0), 0.0)
    w = centred(np.c_[x, np.full(len(x), 3.0)], whiten=True)
    assert np.allclose(w[:, :5].std(axis=0), 1.0) and np.all(w[:, 5] == 0.0)  # constant dim stays 0


def test_kmeans_typical_and_stratified_take_one_per_cluster():
    from qsa_gui.core.active.selection import kmeans, stratified_picks, typical_picks

    x, truth = _blobs()
    assign = kmeans(x, 3, seed=1)
    assert len({(a, t) for a, t in zip(assign, truth, strict=True)}) == 3  # the clusters are recovered
    for picks in (typical_picks(x, 3, seed=2), stratified_picks(x, 3, seed=2)):
        assert sorted(truth[picks].tolist()) == [0, 1, 2]
    # the most typical member of a cluster is the one nearest its neighbours (its centre)
    x2 = np.array([[0.0, 0], [0.1, 0], [-0.1, 0], [0, 0.1], [0, -0.1], [0.5, 0.5]])
    assert typical_picks(x2, 1, neighbours=3) == [0]
    assert len(set(stratified_picks(x, 10, seed=0))) == 10 and stratified_picks(x, 0) == []
    a, b = stratified_picks(x, 3, seed=5), stratified_picks(x, 3, seed=6)
    assert sorted(truth[a].tolist()) == sorted(truth[b].tolist()) == [0, 1, 2]


def test_centred_qsa_differs_from_the_paper_only_in_the_descriptors():
    from qsa_gui.core.active.scoring import PoolScores
    from qsa_gui.core.active.selection import centred
    from qsa_gui.core.active.strategies import select

    x, truth = _blobs()
    unc = np.linspace(0.02, 0.01, len(x))
    s = PoolScores([f"i{j}" for j in range(len(x))], unc, x)
    moved = PoolScores(s.ids, unc, centred(x))
    assert [p.image_id for p in select("qsa_centred", s, 3, k_top=18)] == [
        p.image_id for p in select("qsa", moved, 3, k_top=18)
    ]
    picked = [int(p.image_id[1:]) for p in select("qsa_centred", s, 3, k_top=18)]
    assert sorted(truth[picked].tolist()) == [0, 1, 2]  # centred max-cover covers every cluster


def test_uncertain_per_stratum_takes_the_most_uncertain_of_each_cluster():
    from qsa_gui.core.active.scoring import PoolScores
    from qsa_gui.core.active.selection import typical_picks, uncertain_per_stratum
    from qsa_gui.core.active.strategies import get_strategy, select

    x, truth = _blobs()
    rng = np.random.default_rng(4)
    unc = rng.random(len(x))
    unc[truth == 0] += 1.0  # the top-uncertain images all lie in one cluster
    picks = uncertain_per_stratum(x, unc, 3, seed=1)
    assert sorted(truth[picks].tolist()) == [0, 1, 2]  # one per cluster, not three of cluster 0
    for i in picks:  # each the most uncertain of its cluster
        assert unc[i] == unc[truth == truth[i]].max()
    assert [unc[i] for i in picks] == sorted((unc[i] for i in picks), reverse=True)  # best first
    # more picks than clusters: every stratum's best, then the rest by uncertainty, no repeats
    many = uncertain_per_stratum(x, unc, 8, seed=1)
    assert len(set(many)) == 8 and uncertain_per_stratum(x, unc, 0) == []
    with pytest.raises(ValueError, match="one value per descriptor"):
        uncertain_per_stratum(x, unc[:-1], 3)
    assert get_strategy("qsa_strata").needs == "quantized_ensemble"
    s = PoolScores([f"i{j}" for j in range(len(x))], unc, np.zeros((len(x), 2)), appearance=x)
    assert [p.image_id for p in select("qsa_strata", s, 3, seed=1)] == [f"i{j}" for j in picks]
    assert get_strategy("qsa_strata").needs_appearance
    with pytest.raises(ValueError, match="appearance descriptors"):
        select("qsa_strata", PoolScores(s.ids, unc, x), 3)
    assert get_strategy("typical").needs == "none"  # TypiClust on the appearance descriptors
    typical = [int(p.image_id[1:]) for p in select("typical", PoolScores(s.ids, unc, x), 3, seed=2)]
    assert typical == typical_picks(x, 3, seed=2) and sorted(truth[typical].tolist()) == [0, 1, 2]


def test_initial_set_random_typical_or_given():
    from qsa_gui.core.workflow.simulation import initial_set

    rng = np.random.default_rng(0)
    colours = ([0.9, 0.6, 0.8], [0.3, 0.3, 0.7], [0.5, 0.9, 0.4])
    images = [
        np.clip(np.array(c) + 0.02 * rng.standard_normal((16, 16, 3)), 0, 1).astype(np.float32)
        for c in colours
        for _ in range(4)
    ]
    first = initial_set(images, 3, "random", seed=1)
    assert first == initial_set(images, 3, "random", seed=1) and len(set(first)) == 3
    typical = initial_set(images, 3, "typical", seed=0)
    assert sorted(i // 4 for i in typical) == [0, 1, 2]  # one of each kind of image
    assert initial_set(images, 3, [5, 2, 2], seed=0) == [2, 5]
    with pytest.raises(ValueError):
        initial_set(images, 3, [12], seed=0)
    with pytest.raises(ValueError, match="initial must be"):
        initial_set(images, 3, "best", seed=0)
