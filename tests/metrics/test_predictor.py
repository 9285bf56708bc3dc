"""The calibrated score: rank normalisation, the prior mix, ridge toward it from anchors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evospace.metrics.predictor import RankNormalizer, fit_calibrated, prior_weights, signal_matrix, stratified_picks

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(arrays(float, st.tuples(st.integers(2, 30), st.integers(1, 4)), elements=finite))
def test_rank_normalisation_is_monotone_bounded_and_centred(reference):
    names = [f"s{j}" for j in range(reference.shape[1])]
    norm = RankNormalizer.fit(names, reference)
    u = norm.transform(reference)
    assert np.all(np.abs(u) <= np.sqrt(3) + 1e-9)  # a standardised uniform never leaves ±√3
    np.testing.assert_allclose(u.mean(axis=0), 0.0, atol=1e-9)  # mid-ranks of the sample itself are centred
    for j in range(reference.shape[1]):
        order = np.argsort(reference[:, j], kind="stable")
        assert np.all(np.diff(u[order, j]) >= -1e-12)  # larger value, never a lower score
    beyond = norm.transform(reference.max(axis=0, keepdims=True) + 1.0)
    np.testing.assert_allclose(beyond, np.sqrt(3))


def test_without_anchors_the_score_is_the_prior_mean_rank():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 3))
    score = fit_calibrated(("a", "b", "c"), reference, ("a", "c"), ridge=8.0)
    assert score.anchors == 0
    np.testing.assert_allclose(score.weights, prior_weights(("a", "b", "c"), ("a", "c")))
    u = score.normalizer.transform(reference)
    np.testing.assert_allclose(score(reference), (u[:, 0] + u[:, 2]) / np.sqrt(2))


def test_anchors_move_the_weights_toward_the_signal_that_predicts_them():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(200, 3))
    anchors = rng.normal(size=(16, 3))
    accuracy = anchors[:, 1]  # only b predicts the anchors; the prior trusts a and c
    fitted = fit_calibrated(("a", "b", "c"), reference, ("a", "c"), ridge=1.0, anchor_values=anchors,
                            anchor_accuracy=accuracy)
    assert fitted.anchors == 16
    assert fitted.weights[1] > max(abs(fitted.weights[0]), abs(fitted.weights[2]))
    stiff = fit_calibrated(("a", "b", "c"), reference, ("a", "c"), ridge=1e9, anchor_values=anchors,
                           anchor_accuracy=accuracy)
    np.testing.assert_allclose(stiff.weights, prior_weights(("a", "b", "c"), ("a", "c")), atol=1e-6)


@pytest.mark.parametrize("accuracy", [[0.5, 0.5, 0.5, 0.5], [0.9, 0.8]])
def test_anchors_that_cannot_teach_anything_leave_the_prior(accuracy):
    reference = np.arange(20.0).reshape(10, 2)
    values = np.arange(2.0 * len(accuracy)).reshape(-1, 2)
    score = fit_calibrated(("a", "b"), reference, ("a",), ridge=1.0, anchor_values=values, anchor_accuracy=accuracy)
    assert score.anchors == 0
    np.testing.assert_allclose(score.weights, [1.0, 0.0])


def test_a_previous_fit_can_be_the_prior():
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(30, 2))
    previous = np.array([0.2, -0.7])
    score = fit_calibrated(("a", "b"), reference, previous, ridge=8.0)
    np.testing.assert_allclose(score.weights, previous)


def test_signal_matrix_keeps_the_names_order():
    rows = signal_matrix([{"a": 1, "b": 2}, {"b": 4, "a": 3}], ("b", "a"))
    np.testing.assert_array_equal(rows, [[2, 1], [4, 3]])


def test_stratified_picks_take_one_from_each_stratum_of_the_ranks():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=100)
    picks = stratified_picks(scores, 10, np.random.default_rng(1))
    assert len(set(picks.tolist())) == 10
    ranks = np.argsort(np.argsort(scores))
    assert sorted(ranks[picks] // 10) == list(range(10))  # one per decile
    np.testing.assert_array_equal(picks, stratified_picks(scores, 10, np.random.default_rng(1)))
    np.testing.assert_array_equal(stratified_picks(scores[:4], 10, rng), np.arange(4))


def test_keeping_ranks_the_named_signals_within_the_earlier_sample():
    wide = np.column_stack([np.arange(100.0), np.arange(100.0)])  # the first round's sample
    narrow = np.column_stack([np.arange(40.0, 50.0), np.arange(40.0, 50.0)])  # a shrunk subspace's
    kept = RankNormalizer.fit(("cost", "angle"), narrow).keeping(RankNormalizer.fit(("cost", "angle"), wide),
                                                                  ["cost"])
    u = kept.transform(narrow)
    # the cost keeps the wide scale: ten neighbours span a tenth of it; the angle spans its whole range again
    assert np.ptp(u[:, 0]) < 0.4 < 3.0 < np.ptp(u[:, 1])
    np.testing.assert_allclose(u[:, 0], RankNormalizer.fit(("cost", "angle"), wide).transform(narrow)[:, 0])
    np.testing.assert_allclose(u[:, 1], RankNormalizer.fit(("cost", "angle"), narrow).transform(narrow)[:, 1])
    with pytest.raises(ValueError):
        kept.keeping(RankNormalizer.fit(("cost",), wide[:, :1]), ["cost"])
