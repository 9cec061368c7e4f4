"""The unbiased pass@k estimator against exact integer binomials (Chen et al. 2021, eq. 1)."""

from fractions import Fraction
from math import comb

import pytest

from llmkit.metrics.functions import pass_at_k, pass_at_k_scores


def exact(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 20, 50, 100, 200])
def test_matches_exact_binomials_for_every_c_and_k(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(exact(n, c, k)), abs=1e-12), (n, c, k)


def test_edge_cases():
    assert pass_at_k(10, 0, 1) == 0.0  # nothing passes
    assert pass_at_k(10, 10, 10) == 1.0  # everything passes
    assert pass_at_k(10, 1, 10) == 1.0  # k = n: one pass among all samples is certain
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the pass fraction
    assert pass_at_k(1000, 1, 1) == pytest.approx(1e-3, rel=1e-12)


def test_stable_where_binomials_overflow_floats():
    # C(2000, 1000) overflows a double; the product form stays exact to rounding
    assert pass_at_k(2000, 3, 1000) == pytest.approx(float(exact(2000, 3, 1000)), rel=1e-12)


def test_invalid_counts_are_rejected():
    for n, c, k in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_scores_average_over_problems_and_skip_k_above_the_fewest_samples():
    scores = pass_at_k_scores([10, 10], [10, 0], [1, 5, 10, 100])
    assert scores == {"pass@1": 0.5, "pass@5": 0.5, "pass@10": 0.5}
    scores = pass_at_k_scores([3, 20], [1, 4], [1, 10])
    assert scores == {"pass@1": pytest.approx((1 / 3 + 4 / 20) / 2)}
