"""Operator scores: means over the architectures containing an operator, covering samples, combined ranks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import EvospaceError
from evospace.evolve import combined_scores
from evospace.metrics import ARCH_METRICS, architecture_rows, covering_sample, op_means
from evospace.space import Subspace

SUBSPACE = Subspace({"a": ("x", "y", "z"), "b": ("x", "y"), "c": ("p", "q", "r", "s")})


def test_op_means_equal_brute_force_over_every_architecture():
    rows = SUBSPACE.all_indices()
    values = np.random.default_rng(0).random(len(rows))
    means = op_means(SUBSPACE, rows, values)
    archs = list(SUBSPACE)
    for label in SUBSPACE.labels:
        for op in SUBSPACE.ops(label):
            expected = np.mean([v for a, v in zip(archs, values, strict=True) if a[label] == op])
            assert means[label][op] == pytest.approx(expected)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5))
def test_covering_sample_contains_every_operator(seed, n):
    rows = covering_sample(SUBSPACE, np.random.default_rng(seed), n)
    for k, label in enumerate(SUBSPACE.labels):
        assert set(rows[:, k]) == set(range(len(SUBSPACE.ops(label))))
    assert not np.isnan([v for ops in op_means(SUBSPACE, rows, rows.sum(1) * 1.0).values()
                         for v in ops.values()]).any()


def test_architecture_rows_exhaustive_sampled_or_refused():
    rng = np.random.default_rng(0)
    assert len(architecture_rows(SUBSPACE, rng, 24, None)) == 24
    assert len(architecture_rows(SUBSPACE, rng, 10, 7)) >= 7
    with pytest.raises(EvospaceError, match="more than the exhaustive limit.*angle_samples"):
        architecture_rows(SUBSPACE, rng, 10, None)


def test_combined_score_is_the_mean_of_per_metric_ranks():
    per_metric = {"a": {"x": {"angle": 0.3, "accuracy": 0.9}, "y": {"angle": 0.1, "accuracy": 0.8},
                        "z": {"angle": 0.2, "accuracy": 0.7}}}
    scores = combined_scores(per_metric, ("angle", "accuracy"))["a"]
    assert scores == {"x": 3.0, "y": 1.5, "z": 1.5}


# -- what a scorer computes: every architecture's metrics, and the rest on request ----------------------------
@pytest.fixture(scope="module")
def round_scorers():
    from conftest import TINY_SPACE, perturb

    from evospace.data import load_data
    from evospace.metrics.angle import reference_weights
    from evospace.metrics.scores import RoundScorer
    from evospace.space import space_from_dict
    from evospace.space.schema import ScoreConfig
    from evospace.supernet.supernet import Supernet

    space = space_from_dict(TINY_SPACE, "<tiny>")
    net = Supernet(space, space.initial_subspace(), seed=0)
    reference = reference_weights(net)
    perturb(net, 1)
    data = load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)

    def scorer(metrics):
        return RoundScorer(space, net, reference, data, ScoreConfig(), batch_size=64, recalibration_batches=2,
                           seed=0, metrics=metrics)

    return space, scorer


def test_a_lazy_scorer_computes_accuracy_only_when_asked(round_scorers, monkeypatch):
    space, make = round_scorers
    full, lazy = make(ARCH_METRICS), make(("params", "angle", "flops"))
    archs = list(space.initial_subspace())[:6]
    calls = []
    real = lazy.accuracy.accuracy_many
    monkeypatch.setattr(lazy.accuracy, "accuracy_many", lambda net, a: calls.append(len(a)) or real(net, a))
    everyone = lazy.evaluate_many(archs + archs[:1])
    assert calls == [] and [list(m) for m in everyone] == [["angle", "params", "flops"]] * 7
    front = lazy.evaluate_many(archs[:2], ARCH_METRICS)
    assert calls == [2]
    expected = full.evaluate_many(archs)
    assert front == expected[:2] and [list(m) for m in front] == [list(ARCH_METRICS)] * 2
    assert lazy.evaluate(archs[0], ("accuracy",)) == {"accuracy": expected[0]["accuracy"]} and calls == [2]
    assert lazy.evaluate_many(archs) == [{k: v for k, v in m.items() if k != "accuracy"} for m in expected]
    assert lazy.evaluated == len(archs) == full.evaluated
    with pytest.raises(ValueError, match="unknown architecture metrics"):
        lazy.evaluate(archs[0], ("magnitude",))


@pytest.mark.parametrize("settings, expected", [
    ({}, ("params", "flops")),  # the calibrated score computes its own signals (metrics/signals.py)
    ({"objectives": ["angle"], "shrink": {"score": "angle"}}, ("angle", "params", "flops")),
    ({"objectives": ["accuracy", "params"]}, ("accuracy", "params", "flops")),
    ({"objectives": ["accuracy"], "shrink": {"score": "accuracy"}}, ("accuracy", "params", "flops")),
    ({"shrink": {"score": "rank_mean(angle, accuracy)"}}, ("accuracy", "angle", "params", "flops")),
    ({"scoring": {"record": ["accuracy"]}}, ("accuracy", "params", "flops")),
])
def test_every_architecture_gets_the_objectives_the_shrink_score_and_what_is_asked(settings, expected):
    from conftest import tiny_variant

    from evospace.metrics.scores import every_architecture_metrics
    from evospace.space import space_from_dict

    space = space_from_dict(tiny_variant("lazy", search=settings), "<lazy>")
    assert every_architecture_metrics(space.config.search) == expected
