"""Subspaces: encoding, enumeration, sampling and set algebra, checked as properties with hypothesis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.space import InactiveOpError, Subspace

OPS = ("conv_k3", "conv_k5", "sep_k3", "mb_e3_k3", "dil_k3_d2", "avg_pool_k3", "skip")
LABELS = ("s1.b1", "s1.b2", "s2.b1", "s2.b2")

fast = settings(max_examples=60, deadline=None)


def active_sets(min_size: int) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(OPS), unique=True, min_size=min_size, max_size=len(OPS)).map(tuple)


@st.composite
def subspaces(draw, min_size: int = 1, labels: tuple[str, ...] | None = None) -> Subspace:
    if labels is None:
        labels = LABELS[:draw(st.integers(1, len(LABELS)))]
    return Subspace({label: draw(active_sets(min_size)) for label in labels})


@st.composite
def pairs(draw, min_size: int = 0) -> tuple[Subspace, Subspace]:
    a = draw(subspaces(min_size))
    return a, draw(subspaces(min_size, a.labels))


@st.composite
def subspace_and_arch(draw) -> tuple[Subspace, dict[str, str]]:
    s = draw(subspaces())
    return s, {label: draw(st.sampled_from(s.ops(label))) for label in s.labels}


def sets(s: Subspace) -> dict[str, set[str]]:
    return {label: set(ops) for label, ops in s.items()}


# -- encoding and enumeration ----------------------------------------------------------------------
@fast
@given(subspace_and_arch())
def test_encode_decode_round_trip(case: tuple[Subspace, dict[str, str]]) -> None:
    s, arch = case
    indices = s.encode(arch)
    assert s.decode(indices) == arch
    assert s.encode(s.decode(np.array(indices))) == indices
    assert all(0 <= i < len(s.ops(label)) for i, label in zip(indices, s.labels, strict=True))


@fast
@given(subspaces())
def test_all_indices_and_iteration_agree(s: Subspace) -> None:
    rows = s.all_indices()
    archs = list(s)
    assert rows.shape == (s.size, len(s.labels))
    assert len(archs) == s.size == int(np.prod([len(s.ops(label)) for label in s.labels]))
    assert [s.decode(row) for row in rows] == archs
    assert len({tuple(row) for row in rows}) == s.size  # no architecture twice
    assert all(arch in s for arch in archs)


def test_empty_choice_point_has_no_architectures() -> None:
    s = Subspace({"a": ("conv_k3",), "b": ()})
    assert s.size == 0
    assert list(s) == []
    assert s.all_indices().shape == (0, 2)


# -- sampling --------------------------------------------------------------------------------------
@fast
@given(subspaces(), st.integers(0, 2**32 - 1))
def test_sampling_stays_inside(s: Subspace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        assert s.sample(rng) in s
    rows = s.sample_indices(rng, 50)
    counts = np.array([len(s.ops(label)) for label in s.labels])
    assert rows.shape == (50, len(s.labels))
    assert ((rows >= 0) & (rows < counts)).all()
    assert all(s.decode(row) in s for row in rows)


def test_sampling_is_uniform_and_seeded() -> None:
    s = Subspace({"a": OPS[:3], "b": OPS[:5]})
    rows = s.sample_indices(np.random.default_rng(0), 30000)
    for column, count in enumerate((3, 5)):
        freq = np.bincount(rows[:, column], minlength=count) / len(rows)
        assert np.allclose(freq, 1 / count, atol=0.015)
    assert (rows == s.sample_indices(np.random.default_rng(0), 30000)).all()
    singles = [tuple(s.sample(np.random.default_rng(seed)).values()) for seed in range(200)]
    assert len(set(singles)) == s.size  # every architecture reachable


# -- algebra ---------------------------------------------------------------------------------------
@fast
@given(pairs())
def test_union_intersection_difference_are_set_operations(pair: tuple[Subspace, Subspace]) -> None:
    a, b = pair
    union, inter, diff = a.union(b), a.intersection(b), a.difference(b)
    for label in a.labels:
        assert set(union.ops(label)) == set(a.ops(label)) | set(b.ops(label))
        assert set(inter.ops(label)) == set(a.ops(label)) & set(b.ops(label))
        assert set(diff.ops(label)) == set(a.ops(label)) - set(b.ops(label))
        assert union.ops(label)[:len(a.ops(label))] == a.ops(label)  # survivors keep their order
    assert a.issubset(union) and b.issubset(union)
    assert inter.issubset(a) and inter.issubset(b)
    assert diff.issubset(a)
    assert all(not ops for _, ops in diff.intersection(b).items())  # (a ∖ b) ∩ b = ∅
    assert sets(diff.union(inter)) == sets(a)  # (a ∖ b) ∪ (a ∩ b) = a
    assert sets(union) == sets(b.union(a))
    assert sets(inter) == sets(b.intersection(a))


@fast
@given(pairs())
def test_diff_matches_set_differences(pair: tuple[Subspace, Subspace]) -> None:
    after, before = pair
    d = after.diff(before)
    for label in after.labels:
        added = set(after.ops(label)) - set(before.ops(label))
        removed = set(before.ops(label)) - set(after.ops(label))
        assert set(d.added.get(label, ())) == added
        assert set(d.removed.get(label, ())) == removed
        assert label in d.added if added else label not in d.added
        assert label in d.removed if removed else label not in d.removed
    assert d.is_empty() == (sets(after) == sets(before))
    replayed = before
    for label, ops in d.added.items():
        replayed = replayed.add(label, ops)
    for label, ops in d.removed.items():
        replayed = replayed.remove(label, ops)
    assert sets(replayed) == sets(after)
    assert before.diff(after).added == d.removed


@fast
@given(subspaces(), st.sampled_from(OPS))
def test_add_and_remove(s: Subspace, op: str) -> None:
    label = s.labels[0]
    grown = s.add(label, [op])
    assert op in grown.ops(label)
    assert grown.ops(label)[:len(s.ops(label))] == s.ops(label)
    assert s.issubset(grown)
    shrunk = grown.remove(label, [op])
    assert op not in shrunk.ops(label)
    assert shrunk.ops(label) == tuple(o for o in s.ops(label) if o != op)
    assert all(shrunk.ops(other) == s.ops(other) for other in s.labels[1:])


def test_algebra_refuses_other_spaces() -> None:
    with pytest.raises(ValueError, match="different spaces"):
        Subspace({"a": ("skip",)}).union(Subspace({"b": ("skip",)}))


def test_an_operator_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' lists an operator twice"):
        Subspace({"a": ("skip", "conv_k3", "skip")})


# -- persistence and checks ------------------------------------------------------------------------
@fast
@given(subspaces(min_size=0))
def test_config_round_trip(s: Subspace) -> None:
    data = json.loads(json.dumps(s.to_config()))
    again = Subspace.from_config(data)
    assert again == s
    assert hash(again) == hash(s)
    assert again.labels == s.labels


@fast
@given(subspace_and_arch(), st.sampled_from(OPS))
def test_check_names_the_label_or_operator(case: tuple[Subspace, dict[str, str]], op: str) -> None:
    s, arch = case
    s.check(arch)
    label = s.labels[-1]

    missing = {k: v for k, v in arch.items() if k != label}
    with pytest.raises(InactiveOpError, match=f"no operator for choice point '{label}'"):
        s.check(missing)
    assert missing not in s

    with pytest.raises(InactiveOpError, match="unknown choice point 'x.y'"):
        s.check({**arch, "x.y": "skip"})

    bad = {**arch, label: op}
    if op in s.ops(label):
        s.check(bad)
        assert bad in s
    else:
        with pytest.raises(InactiveOpError) as info:
            s.check(bad)
        assert f"operator {op!r} is not active at {label!r}" in str(info.value)
        assert bad not in s
        with pytest.raises(InactiveOpError):
            s.encode(bad)


def test_decode_refuses_the_wrong_length() -> None:
    with pytest.raises(InactiveOpError, match="expected 2 indices, got 1"):
        Subspace({"a": ("skip",), "b": ("skip",)}).decode([0])
