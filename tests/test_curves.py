"""Learning-curve statistics on numbers worked out by hand."""

import math

import pytest

from qsa_gui.core.workflow.curves import (
    aulc,
    aulc_by_seed,
    mean_ci,
    paired_difference,
    t_quantile,
    values_at_round,
)


def test_mean_ci_on_known_numbers():
    iv = mean_ci([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3) = 2.484138
    assert iv.mean == 2.0 and iv.n == 3
    assert iv.low == pytest.approx(2 - 2.484138, abs=1e-5)
    assert iv.high == pytest.approx(2 + 2.484138, abs=1e-5)
    assert t_quantile(0.975, 9) == pytest.approx(2.262157, abs=1e-6)
    assert not iv.excludes_zero
    assert mean_ci([5.0, 5.0]).low == 5.0  # no spread: a zero-width interval
    one = mean_ci([0.3, float("inf")])  # the infinite value is left out
    assert one.n == 1 and one.mean == 0.3 and math.isnan(one.low)
    assert mean_ci([]).n == 0


def test_paired_difference_pairs_by_seed_and_counts_wins():
    qsa = {0: 0.80, 1: 0.70, 2: 0.90, 3: 0.50}
    rnd = {0: 0.75, 1: 0.70, 2: 0.80, 5: 0.10}  # seed 3 and 5 have no partner
    d = paired_difference(qsa, rnd)
    assert d.n == 3 and (d.wins, d.losses) == (2, 0)  # seed 1 is a tie
    assert d.interval.mean == pytest.approx(0.05)
    # diffs 0.05, 0.0, 0.1: sd 0.05 -> half width 4.302653 * 0.05 / sqrt(3)
    assert d.interval.high - d.interval.mean == pytest.approx(4.302653 * 0.05 / math.sqrt(3), abs=1e-6)
    assert not d.interval.excludes_zero
    clear = paired_difference({0: 1.0, 1: 1.1, 2: 1.2}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert clear.interval.excludes_zero and clear.wins == 3


def test_aulc_normalised_trapezoid():
    assert aulc([0.1, 0.5], [0.6, 0.8]) == pytest.approx(0.7)
    assert aulc([0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.7, 0.7, 0.7, 0.9]) == pytest.approx(
        (0.06 + 0.07 + 0.07 + 0.08) / 0.4
    )
    # wider curve: interpolated at 0.1 and 0.5 (0.0 -> 0.0 and 1.0 -> 1.0 is the identity)
    assert aulc([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.3)
    assert aulc([1.0, 0.1], [0.8, 0.6], hi=1.0) == pytest.approx(0.7)  # order does not matter
    assert math.isnan(aulc([0.2, 0.5], [0.6, 0.8]))  # does not reach 10%
    # 12.5% (1 of 8 images) stands for 10%: its value is held flat down to 0.1
    assert aulc([0.125, 0.5], [0.6, 0.8]) == pytest.approx((0.025 * 0.6 + 0.375 * 0.7) / 0.4)
    assert math.isnan(aulc([0.1, 0.5], [0.6, float("nan")]))
    with pytest.raises(ValueError):
        aulc([0.1], [0.5, 0.6])


def test_aulc_and_values_from_rows():
    rows = [
        dict(strategy=s, seed=seed, round=r, fraction=0.1 * r, object_f1=v, segmenter="7bit")
        for s, seed, base in (("qsa", 0, 0.5), ("qsa", 1, 0.6), ("random", 0, 0.5))
        for r, v in ((1, base), (5, base + 0.2))
    ]
    got = aulc_by_seed(rows, "qsa", segmenter="7bit")
    assert got == pytest.approx({0: 0.6, 1: 0.7})
    assert aulc_by_seed(rows, "qsa", segmenter="float") == {}
    assert values_at_round(rows, "random", 5) == pytest.approx({0: 0.7})
