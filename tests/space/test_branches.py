"""Multi-branch choice points: branch-set text, subspaces with bounds, the schema keys, costs and fingerprints."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import TINY_SPACE, multi_branch_stages
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evospace.errors import SpaceError
from evospace.space import (
    EMPTY,
    BranchBounds,
    InactiveOpError,
    OpCost,
    Subspace,
    branch_choices,
    branch_key,
    space_from_dict,
    split_branches,
)

OPS = ("conv_k3", "sep_k3", "avg_pool_k3", "skip", "mb_e2_k3")
LABELS = ("s1.b1", "s2.b1", "s2.b2")
POOL = ["conv_k3", "sep_k3", "avg_pool_k3", "skip"]

fast = settings(max_examples=60, deadline=None)

names = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8).filter(lambda n: n != EMPTY)


# -- branch-set text -------------------------------------------------------------------------------
@fast
@given(st.lists(names, max_size=6))
def test_branch_key_is_sorted_unique_text_and_splits_back(ops: list[str]) -> None:
    key = branch_key(ops)
    assert split_branches(key) == tuple(sorted(set(ops)))
    assert branch_key(split_branches(key)) == key
    assert branch_key(key) == key  # text is re-normalised to itself
    assert key == (EMPTY if not ops else "+".join(sorted(set(ops))))


@fast
@given(st.lists(names, min_size=1, max_size=6, unique=True), st.randoms(use_true_random=False))
def test_branch_key_ignores_order_and_container(ops: list[str], random) -> None:
    shuffled = list(ops)
    random.shuffle(shuffled)
    key = branch_key(ops)
    assert branch_key(shuffled) == branch_key(set(ops)) == branch_key(tuple(ops)) == key
    assert branch_key("+".join(shuffled)) == key  # unsorted text too


def test_empty_set_is_none_both_ways() -> None:
    assert branch_key([]) == branch_key(set()) == EMPTY == "none"
    assert split_branches(EMPTY) == ()
    assert branch_key(EMPTY) == EMPTY


@fast
@given(st.lists(st.sampled_from(OPS), unique=True, max_size=len(OPS)), st.integers(0, 5), st.integers(1, 6))
def test_branch_choices_counts_sums_of_binomials(ops: list[str], low: int, high: int) -> None:
    bounds = BranchBounds(low, max(low, high))
    choices = branch_choices(tuple(ops), bounds)
    n = len(ops)
    assert len(choices) == sum(math.comb(n, k) for k in range(bounds.min, min(bounds.max, n) + 1))
    assert len(set(choices)) == len(choices)
    sizes = [len(split_branches(c)) for c in choices]
    assert sizes == sorted(sizes)  # smallest first
    assert all(bounds.allows(s) for s in sizes)
    assert all(branch_key(c) == c for c in choices)  # canonical
    assert all(set(split_branches(c)) <= set(ops) for c in choices)


# -- subspaces with bounds -------------------------------------------------------------------------
@st.composite
def bounded_subspaces(draw, max_ops: int = 3, min_ops: int = 1) -> Subspace:
    labels = LABELS[:draw(st.integers(1, len(LABELS)))]
    active, bounds = {}, {}
    for label in labels:
        active[label] = tuple(draw(st.lists(st.sampled_from(OPS), unique=True, min_size=min_ops, max_size=max_ops)))
        if draw(st.booleans()):
            low = draw(st.integers(0, 2))
            bounds[label] = BranchBounds(low, draw(st.integers(max(low, 1), 4)))
    return Subspace(active, bounds)


@fast
@given(bounded_subspaces(min_ops=0))
def test_size_is_product_of_choice_counts(s: Subspace) -> None:
    for label in s.labels:
        if s.is_multi(label):
            assert s.choices(label) == branch_choices(s.ops(label), s.bounds[label])
        else:
            assert s.choices(label) == s.ops(label)
    assert s.size == math.prod(len(s.choices(label)) for label in s.labels)
    assert s.all_indices().shape == (s.size, len(s.labels))
    assert len(list(s)) == s.size


@fast
@given(bounded_subspaces())
def test_encode_decode_round_trip_over_every_row(s: Subspace) -> None:
    rows = s.all_indices()
    archs = list(s)
    assert len({tuple(r) for r in rows}) == len(rows)
    for row, arch in zip(rows, archs, strict=True):
        assert s.decode(row) == arch
        assert s.encode(arch) == tuple(int(i) for i in row)
        assert arch in s


@fast
@given(bounded_subspaces(), st.integers(0, 2**32 - 1))
def test_samples_are_inside_and_pass_check(s: Subspace, seed: int) -> None:
    assume(s.size > 0)
    rng = np.random.default_rng(seed)
    for _ in range(10):
        arch = s.sample(rng)
        assert arch in s
        s.check(arch)
        for label in s.labels:
            ops = s.branches(label, arch[label])
            assert set(ops) <= set(s.ops(label))
            if s.is_multi(label):
                assert s.bounds[label].allows(len(ops))
    for row in s.sample_indices(rng, 10):
        arch = s.decode(row)
        assert arch in s
        s.check(arch)


@fast
@given(bounded_subspaces(min_ops=0))
def test_membership_rows_are_the_split_branch_sets(s: Subspace) -> None:
    for label in s.labels:
        table = s.membership(label)
        ops = s.ops(label)
        assert table.shape == (len(s.choices(label)), len(ops))
        for row, value in zip(table, s.choices(label), strict=True):
            expected = set(split_branches(value)) if s.is_multi(label) else {value}
            assert {op for op, on in zip(ops, row, strict=True) if on} == expected


@fast
@given(bounded_subspaces(), st.sampled_from(OPS), st.lists(st.sampled_from(OPS), unique=True, max_size=3))
def test_algebra_keeps_bounds(s: Subspace, op: str, other_ops: list[str]) -> None:
    other = Subspace({label: tuple(other_ops) for label in s.labels})
    label = s.labels[0]
    results = [s.add(label, [op]), s.remove(label, [op]), s.union(other), s.intersection(other),
               s.difference(other), s.with_active(other.to_config())]
    for result in results:
        assert result.bounds == s.bounds
        assert all(result.is_multi(l) == s.is_multi(l) for l in s.labels)
        assert all(result.choices(l) == branch_choices(result.ops(l), s.bounds[l]) for l in s.bounds)
    assert Subspace.from_config(s.to_config(), s.bounds) == s


def test_bounds_change_equality_and_hash() -> None:
    a = Subspace({"x": ("conv_k3", "skip")}, {"x": BranchBounds(0, 2)})
    b = Subspace({"x": ("conv_k3", "skip")}, {"x": BranchBounds(1, 2)})
    c = Subspace({"x": ("conv_k3", "skip")})
    assert a != b and a != c and b != c
    assert a == Subspace({"x": ("conv_k3", "skip")}, {"x": BranchBounds(0, 2)})
    assert hash(a) == hash(Subspace({"x": ("conv_k3", "skip")}, {"x": BranchBounds(0, 2)}))
    assert (a.size, b.size, c.size) == (4, 3, 2)
    # bounds of labels the subspace does not hold are dropped
    assert Subspace({"x": ("skip",)}, {"y": BranchBounds(0, 1)}).bounds == {}


MIXED = Subspace({"m": ("conv_k3", "sep_k3", "skip"), "s": ("conv_k3", "skip")}, {"m": BranchBounds(0, 2)})


@fast
@given(st.lists(st.sampled_from(MIXED.ops("m")), unique=True, max_size=2), st.randoms(use_true_random=False),
       st.sampled_from(["list", "set", "tuple", "text"]))
def test_normalize_accepts_lists_sets_and_unsorted_text(ops: list[str], random, kind: str) -> None:
    shuffled = list(ops)
    random.shuffle(shuffled)
    value = {"list": shuffled, "set": set(shuffled), "tuple": tuple(shuffled),
             "text": "+".join(shuffled) or EMPTY}[kind]
    arch = MIXED.normalize({"m": value, "s": "skip"})
    assert arch == {"m": branch_key(ops), "s": "skip"}
    assert arch in MIXED
    MIXED.check(arch)


def test_normalize_keeps_none_and_single_branch_values() -> None:
    assert MIXED.normalize({"m": EMPTY, "s": "conv_k3"}) == {"m": EMPTY, "s": "conv_k3"}
    assert MIXED.normalize({"m": [], "s": "conv_k3"}) == {"m": EMPTY, "s": "conv_k3"}


@pytest.mark.parametrize(("value", "words"), [
    ("conv_k5", ["'conv_k5'", "not active", "'m'", "conv_k3, sep_k3, skip"]),
    ("conv_k3+mb_e2_k3", ["'mb_e2_k3'", "not active", "'m'"]),
    ("conv_k3+sep_k3+skip", ["'m'", "0 to 2 branches", "got 3"]),
    ("skip+conv_k3", ["not in canonical form", "'conv_k3+skip'"]),
    (["conv_k3"], ["must be written as text", "normalize"]),
])
def test_check_names_what_is_wrong_with_a_branch_set(value, words: list[str]) -> None:
    arch = {"m": value, "s": "skip"}
    assert arch not in MIXED
    with pytest.raises(InactiveOpError) as err:
        MIXED.check(arch)
    for word in words:
        assert word in str(err.value)


def test_check_rejects_too_few_branches() -> None:
    s = Subspace({"m": ("conv_k3", "skip")}, {"m": BranchBounds(1, 2)})
    with pytest.raises(InactiveOpError, match=r"'m' runs 1 to 2 branches at once, got 0"):
        s.check({"m": EMPTY})
    with pytest.raises(InactiveOpError):
        s.encode({"m": EMPTY})


def test_single_branch_point_refuses_a_set() -> None:
    with pytest.raises(InactiveOpError, match="not active at 's'"):
        MIXED.check({"m": "skip", "s": "conv_k3+skip"})


# -- the schema ------------------------------------------------------------------------------------
def multi_space_dict(**stage_keys) -> dict:
    """The tiny space with multi-branch stages: s1.b1 keeps the shape, s2.b1 strides and widens, s2.b2 keeps it."""
    data = copy.deepcopy(TINY_SPACE)
    data["name"] = "tiny-multi"
    data["pool"] = list(POOL)
    data["initial"] = {"size": 3, "order": "listed"}
    data["skeleton"]["stages"] = multi_branch_stages()
    for stage in data["skeleton"]["stages"]:
        stage.update(stage_keys)
    return data


def test_multi_branch_space_has_bounds_per_choice_point() -> None:
    space = space_from_dict(multi_space_dict(), "<multi>")
    assert space.multi_branch
    assert space.branch_bounds == {"s1.b1": BranchBounds(0, 2), "s2.b1": BranchBounds(1, 2),
                                   "s2.b2": BranchBounds(0, 2)}  # s2.b1 changes the shape: min 0 raised to 1
    assert [cp.keeps_shape for cp in space.choice_points] == [True, False, True]
    assert [cp.branches for cp in space.choice_points] == list(space.branch_bounds.values())
    initial = space.initial_subspace()
    assert initial.bounds == space.branch_bounds
    assert space.full_subspace().bounds == space.branch_bounds
    assert initial.choices("s2.b1") == ("conv_k3", "sep_k3", "avg_pool_k3", "conv_k3+sep_k3",
                                        "avg_pool_k3+conv_k3", "avg_pool_k3+sep_k3")
    assert initial.choices("s1.b1")[0] == EMPTY
    assert initial.size == 7 * 6 * 7
    again = space.subspace_from_config(initial.to_config())
    assert again == initial and again.bounds == space.branch_bounds
    assert space.subspace(initial.to_config()) == initial


def test_mixed_space_and_default_max() -> None:
    data = multi_space_dict()
    data["skeleton"]["stages"][0] = {"channels": 4, "depth": 1, "stride": 1}
    data["skeleton"]["stages"][1] = {"channels": 8, "depth": 2, "stride": 2, "multi_branch": True, "min_branches": 2}
    space = space_from_dict(data, "<mixed>")
    assert space.branch_bounds == {"s2.b1": BranchBounds(2, len(POOL)), "s2.b2": BranchBounds(2, len(POOL))}
    assert space.choice_point("s1.b1").branches is None
    assert space.initial_subspace().choices("s1.b1") == space.initial_subspace().ops("s1.b1")


def test_single_branch_space_has_no_bounds() -> None:
    space = space_from_dict(copy.deepcopy(TINY_SPACE), "<tiny>")
    assert not space.multi_branch and space.branch_bounds == {}
    assert all(cp.branches is None for cp in space.choice_points)


def _error(data: dict) -> SpaceError:
    with pytest.raises(SpaceError) as err:
        space_from_dict(data, "<bad>")
    return err.value


@pytest.mark.parametrize(("stage_keys", "key"), [
    ({"min_branches": -1}, "skeleton.stages[0].min_branches"),
    ({"min_branches": 0, "max_branches": 0}, "skeleton.stages[0].max_branches"),
    ({"min_branches": 1, "max_branches": 0}, "skeleton.stages[0].max_branches"),
    ({"min_branches": 3, "max_branches": 2}, "skeleton.stages[0].max_branches"),
    ({"min_branches": 4, "max_branches": 4}, "skeleton.stages[0].min_branches"),  # > initial size 3
    ({"multi_branch": False, "min_branches": 0, "max_branches": None}, "skeleton.stages[0].multi_branch"),
    ({"multi_branch": False, "min_branches": 1, "max_branches": 2}, "skeleton.stages[0].multi_branch"),
])
def test_bad_branch_bounds_name_the_key(stage_keys: dict, key: str) -> None:
    err = _error(multi_space_dict(**stage_keys))
    assert err.key == key
    assert key in str(err)


def test_min_branches_at_most_the_initial_size_is_fine() -> None:
    space = space_from_dict(multi_space_dict(min_branches=3, max_branches=3), "<multi>")
    assert space.branch_bounds["s1.b1"] == BranchBounds(3, 3)
    assert space.initial_subspace().size == 1


def learning_space_dict(**learning) -> dict:
    data = multi_space_dict()
    data["search"]["objectives"] = ["angle", "params"]
    data["search"]["epochs_per_round"] = 2
    data["search"]["branch_learning"] = {"target": 5000, **learning}
    return data


def test_branch_learning_loads_with_a_cost_objective() -> None:
    space = space_from_dict(learning_space_dict(), "<learn>")
    assert space.config.search.branch_learning.target == 5000
    assert space.config.search.branch_learning.cost == "params"


def test_branch_learning_needs_a_multi_branch_point() -> None:
    data = copy.deepcopy(TINY_SPACE)
    data["search"].update(objectives=["angle", "params"], epochs_per_round=2, branch_learning={"target": 5000})
    err = _error(data)
    assert err.key == "search.branch_learning"
    assert "multi_branch" in err.message


@pytest.mark.parametrize(("objectives", "cost"), [(["angle"], "params"), (["angle", "params"], "flops"),
                                                  (["accuracy", "flops"], "params")])
def test_branch_learning_needs_its_cost_among_the_objectives(objectives: list[str], cost: str) -> None:
    data = learning_space_dict(cost=cost)
    data["search"]["objectives"] = objectives
    err = _error(data)
    assert err.key == "search.objectives"
    assert cost in err.message


@pytest.mark.parametrize(("learning", "key"), [
    ({"target": 0}, "search.branch_learning.target"),
    ({"target": -5}, "search.branch_learning.target"),
    ({"every": 0}, "search.branch_learning.every"),
    ({"prune_below": 0.5}, "search.branch_learning.prune_below"),
    ({"prune_below": 0.9}, "search.branch_learning.prune_below"),
    ({"prune_below": -0.1}, "search.branch_learning.prune_below"),
    ({"warmup_epochs": 2}, "search.branch_learning.warmup_epochs"),  # == epochs_per_round
    ({"warmup_epochs": 3}, "search.branch_learning.warmup_epochs"),
    ({"warmup_epochs": -1}, "search.branch_learning.warmup_epochs"),
    ({"lr": 0.0}, "search.branch_learning.lr"),
    ({"weight": -1.0}, "search.branch_learning.weight"),
])
def test_bad_branch_learning_values_name_the_key(learning: dict, key: str) -> None:
    err = _error(learning_space_dict(**learning))
    assert err.key == key
    assert key in str(err)


def test_branch_learning_warm_up_must_fit_a_shorter_first_round() -> None:
    data = learning_space_dict(warmup_epochs=1)
    data["search"]["first_round_epochs"] = 1  # round 0 would train the weights only
    assert _error(data).key == "search.branch_learning.warmup_epochs"
    data["search"]["first_round_epochs"] = 4  # a longer first round: the later rounds still bound it
    assert space_from_dict(data, "<learn>").config.search.epochs_of(0) == 4


def test_branch_learning_edge_values_are_fine() -> None:
    space = space_from_dict(learning_space_dict(target=1, every=1, prune_below=0.0, warmup_epochs=1), "<learn>")
    assert space.config.search.branch_learning.warmup_epochs == 1


# -- costs -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multi_space():
    return space_from_dict(multi_space_dict(), "<multi>")


def test_branch_set_costs_the_sum_of_its_operators(multi_space) -> None:
    space = multi_space
    full = space.full_subspace()
    for label in space.labels:
        for value in full.choices(label):
            expected = OpCost(0, 0)
            for op in split_branches(value):
                expected = expected + space.op_cost(label, op)
            assert space.op_cost(label, value) == expected, (label, value)
    assert space.op_cost("s1.b1", EMPTY) == OpCost(0, 0)
    assert space.op_cost("s2.b2", EMPTY) == OpCost(0, 0)
    assert space.op_cost("s2.b1", "conv_k3").params > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_cost_of_an_architecture_is_base_plus_its_branches(multi_space, seed: int) -> None:
    space = multi_space
    arch = space.full_subspace().sample(np.random.default_rng(seed))
    expected = space.base_cost
    for label in space.labels:
        for op in split_branches(arch[label]):
            expected = expected + space.op_cost(label, op)
    assert space.cost(arch) == expected


def test_all_none_architecture_costs_the_fixed_parts_and_its_one_forced_point(multi_space) -> None:
    arch = {"s1.b1": EMPTY, "s2.b1": "conv_k3", "s2.b2": EMPTY}
    assert multi_space.cost(arch) == multi_space.base_cost + multi_space.op_cost("s2.b1", "conv_k3")


def test_feasibility_counts_the_cheapest_choice_even_none() -> None:
    data = multi_space_dict()
    data["initial"] = {"ops": ["conv_k3", "sep_k3"]}  # operators with weights only: skipping is the cheapest
    space = space_from_dict(data, "<multi>")
    smallest = min(space.cost(arch).params for arch in space.initial_subspace())
    cheapest_single = space.base_cost.params + sum(min(space.op_cost(label, op).params for op in
                                                       space.initial_subspace().ops(label)) for label in space.labels)
    assert smallest < cheapest_single  # skipping a block is cheaper than any operator
    data["search"]["constraints"] = {"max_params": smallest}
    assert space_from_dict(data, "<multi>").config.search.constraints.max_params == smallest
    data["search"]["constraints"] = {"max_params": smallest - 1}
    err = _error(data)
    assert err.key == "search.constraints.max_params"
    assert f"{smallest:,}" in err.message


# -- fingerprint -----------------------------------------------------------------------------------
TINY_FINGERPRINT = "3172c970138d591b"  # TINY_SPACE's fingerprint before multi-branch points existed (git HEAD)


def test_single_branch_fingerprint_is_unchanged_by_the_new_keys() -> None:
    plain = space_from_dict(copy.deepcopy(TINY_SPACE), "<tiny>")
    data = copy.deepcopy(TINY_SPACE)
    for stage in data["skeleton"]["stages"]:
        stage.update(multi_branch=False, min_branches=1, max_branches=None)
    explicit = space_from_dict(data, "<tiny>")
    assert plain.fingerprint() == explicit.fingerprint() == TINY_FINGERPRINT


def test_branch_bounds_change_the_fingerprint() -> None:
    prints = {space_from_dict(multi_space_dict(**keys), "<multi>").fingerprint()
              for keys in ({}, {"min_branches": 1}, {"max_branches": 3}, {"multi_branch": False, "min_branches": 1,
                                                                          "max_branches": None})}
    assert len(prints) == 4  # min 0 and min 1 differ only at the shape-keeping points, and still differ
