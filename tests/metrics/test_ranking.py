"""Ranking statistics against scipy's, on random data with ties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.metrics import average_ranks, kendall_tau, precision_at_k, spearman_rho

scipy_stats = pytest.importorskip("scipy.stats")

values = st.lists(st.integers(0, 6), min_size=3, max_size=40)


@pytest.mark.filterwarnings("ignore:An input array is constant")
@settings(max_examples=60, deadline=None)
@given(values, st.integers(0, 2**31 - 1))
def test_kendall_and_spearman_match_scipy_with_ties(x, seed):
    y = np.random.default_rng(seed).integers(0, 5, len(x))
    expected_tau = scipy_stats.kendalltau(x, y).statistic
    expected_rho = scipy_stats.spearmanr(x, y).statistic
    if np.isnan(expected_tau):  # a constant array: no ranking at all
        assert kendall_tau(x, y) == 0.0 and spearman_rho(x, y) == 0.0
    else:
        assert kendall_tau(x, y) == pytest.approx(expected_tau, abs=1e-12)
        assert spearman_rho(x, y) == pytest.approx(expected_rho, abs=1e-12)


def test_perfect_and_reversed_orders():
    x = np.arange(10.0)
    assert kendall_tau(x, x * 3 + 1) == pytest.approx(1.0)
    assert kendall_tau(x, -x) == pytest.approx(-1.0)
    assert spearman_rho(x, -x) == pytest.approx(-1.0)


def test_average_ranks_share_ties():
    assert average_ranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_precision_at_k_counts_the_overlap_of_the_tops():
    truth = np.arange(10.0)
    scores = truth.copy()
    scores[[9, 0]] = scores[[0, 9]]  # the best is predicted worst
    assert precision_at_k(scores, truth, 1) == 0.0
    assert precision_at_k(scores, truth, 3) == pytest.approx(2 / 3)
    assert precision_at_k(truth, truth, 0.2) == 1.0


@pytest.mark.parametrize("k", [0, 11, 1.5, 0.0])
def test_precision_at_k_refuses_bad_k(k):
    with pytest.raises(ValueError):
        precision_at_k(np.arange(10.0), np.arange(10.0), k)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="differ in length"):
        kendall_tau([1, 2, 3], [1, 2])


@pytest.mark.parametrize("statistic", [kendall_tau, spearman_rho, lambda x, y: precision_at_k(x, y, 1)])
def test_nan_is_refused(statistic):
    with pytest.raises(ValueError, match="NaN"):
        statistic([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0])


def test_constant_or_single_arrays_rank_nothing():
    assert kendall_tau([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0
    assert spearman_rho([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) == 0.0
    assert kendall_tau([1.0], [2.0]) == 0.0 and spearman_rho([], []) == 0.0
