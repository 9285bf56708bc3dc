"""Shrink and grow as plain functions: no training involved."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evospace.evolve import combined_scores, grow, queue_of, rank_scores, shrink
from evospace.space import Subspace

OPS = ("a", "b", "c", "d", "e")


def test_rank_scores_orders_and_averages_ties():
    assert rank_scores({"a": 0.1, "b": 0.5, "c": 0.3}) == {"a": 1.0, "b": 3.0, "c": 2.0}
    assert rank_scores({"a": 1.0, "b": 1.0, "c": 0.0}) == {"a": 2.5, "b": 2.5, "c": 1.0}


def test_combined_score_is_the_mean_rank_within_each_choice_point():
    per_metric = {"x": {"a": {"angle": 0.9, "accuracy": 0.1}, "b": {"angle": 0.1, "accuracy": 0.9},
                        "c": {"angle": 0.5, "accuracy": 0.8}}}
    combined = combined_scores(per_metric, ("angle", "accuracy"))
    assert combined["x"] == {"a": 2.0, "b": 2.0, "c": 2.0}
    single = combined_scores(per_metric, ("accuracy",))
    assert single["x"] == {"a": 0.1, "b": 0.9, "c": 0.8}


def test_shrink_keeps_best_topk_and_front_and_says_why():
    sub = Subspace({"x": OPS, "y": OPS})
    scores = {"x": {"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}, "y": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}}
    front = [{"x": "e", "y": "e"}]
    new, decisions = shrink(sub, scores, front, keep=2, keep_front=True)
    assert new.ops("x") == ("a", "b", "e")
    assert new.ops("y") == ("d", "e")
    reasons = {(d.label, d.op): d.reason for d in decisions}
    assert reasons[("x", "a")] == "best"
    assert reasons[("x", "b")] == "top-k"
    assert reasons[("x", "e")] == "front"
    assert reasons[("x", "c")] == "dropped"
    without_front, _ = shrink(sub, scores, front, keep=2, keep_front=False)
    assert without_front.ops("x") == ("a", "b")


@given(st.data())
def test_shrink_never_empties_never_drops_best_never_adds(data):
    labels = ("p", "q", "r")
    active = {l: tuple(data.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=5, unique=True)))
              for l in labels}
    sub = Subspace(active)
    scores = {l: {op: data.draw(st.floats(0, 1)) for op in ops} for l, ops in active.items()}
    front = [sub.decode([0] * len(labels))] if data.draw(st.booleans()) else []
    keep = data.draw(st.integers(1, 5))
    new, _ = shrink(sub, scores, front, keep=keep)
    assert new.issubset(sub)
    for label in labels:
        assert new.ops(label)
        best = max(active[label], key=lambda op: (scores[label][op], -active[label].index(op)))
        assert best in new.ops(label)
        assert len(new.ops(label)) <= max(keep, 1) + len(front)
        for arch in front:
            assert arch[label] in new.ops(label)


def test_grow_takes_the_queue_in_order_and_skips_active():
    sub = Subspace({"x": ("a",), "y": ("c",)})
    grown, decisions = grow(sub, {"x": ["b", "c", "d"], "y": ["c", "d"]}, per_round=2)
    assert grown.ops("x") == ("a", "b", "c")
    assert grown.ops("y") == ("c", "d")
    assert [(d.label, d.op, d.reason) for d in decisions] == [("x", "b", "added"), ("x", "c", "added"),
                                                              ("y", "d", "added")]


def test_queue_never_brings_back_an_operator_that_left():
    assert queue_of(["a", "b", "c", "d"], seen=["a", "c"]) == ["b", "d"]


@pytest.mark.parametrize("per_round", [0, 1, 3])
def test_grow_adds_at_most_per_round(per_round):
    sub = Subspace({"x": ("a",)})
    grown, _ = grow(sub, {"x": list("bcdef")}, per_round)
    assert len(grown.ops("x")) == 1 + per_round
