"""Operator scores: means over the architectures containing an operator, covering samples, combined ranks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import EvospaceError
from evospace.evolve import combined_scores
from evospace.metrics import architecture_rows, covering_sample, op_means
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
