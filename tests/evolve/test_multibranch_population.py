"""Variation, repair, evolution and shrink on branch-set genes: every result stays within the branch bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.evolve import Individual, crossover, evolve, mutate, repair, shrink
from evospace.space import (
    EMPTY,
    BranchBounds,
    ConstraintsConfig,
    OpCost,
    PopulationConfig,
    Subspace,
    branch_key,
    split_branches,
)

LABELS = ("m0", "m1", "m2", "single")
OPS = ("small", "medium", "large", "huge")
PARAMS = {"small": 10, "medium": 20, "large": 40, "huge": 80}
BOUNDS = {"m0": BranchBounds(0, 2), "m1": BranchBounds(1, 3), "m2": BranchBounds(2, 2)}
SUBSPACE = Subspace({label: OPS for label in LABELS}, BOUNDS)

fast = settings(max_examples=50, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def op_cost(label: str, value: str) -> OpCost:
    names = split_branches(value) if label in BOUNDS else (value,)
    total = sum(PARAMS[op] for op in names)
    return OpCost(total, 2 * total)


def cost(arch) -> OpCost:
    total = OpCost(0, 0)
    for label in LABELS:
        total = total + op_cost(label, arch[label])
    return total


CHEAPEST = min(cost(arch).params for arch in SUBSPACE)


def evaluate(arch) -> dict[str, float]:
    c = cost(arch)
    return {"accuracy": c.params / 1000, "angle": 0.0, "params": float(c.params), "flops": float(c.flops)}


def random_individual(subspace: Subspace, rng: np.random.Generator) -> Individual:
    arch = subspace.sample(rng)
    return Individual([arch[label] for label in subspace.labels], 1)


def assert_valid(ind: Individual, subspace: Subspace = SUBSPACE) -> None:
    for value, label in zip(ind, subspace.labels, strict=True):
        assert value in subspace.choices(label), (label, value)
        if subspace.is_multi(label):
            assert subspace.bounds[label].allows(len(split_branches(value)))
            assert branch_key(value) == value


# -- variation -------------------------------------------------------------------------------------
@fast
@given(seeds, st.floats(0.0, 1.0))
def test_mutation_stays_within_bounds(seed: int, prob: float) -> None:
    rng = np.random.default_rng(seed)
    ind = random_individual(SUBSPACE, rng)
    for _ in range(10):
        before = list(ind)
        changed = mutate(ind, SUBSPACE, prob, rng)
        assert_valid(ind)
        assert changed == (list(ind) != before)


@fast
@given(seeds)
def test_mutation_toggles_exactly_one_operator(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ind = random_individual(SUBSPACE, rng)
    before = list(ind)
    mutate(ind, SUBSPACE, 1.0, rng)
    for i, label in enumerate(LABELS):
        if label in BOUNDS and label != "m2":  # m2 runs exactly two: no single toggle is allowed
            assert len(set(split_branches(before[i])) ^ set(split_branches(ind[i]))) == 1
    assert ind[LABELS.index("m2")] == before[LABELS.index("m2")]


@fast
@given(seeds, st.floats(0.0, 1.0))
def test_crossover_stays_within_bounds_and_keeps_the_operators(seed: int, swap_prob: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = random_individual(SUBSPACE, rng), random_individual(SUBSPACE, rng)
    before = [list(a), list(b)]
    changed = crossover(a, b, rng, swap_prob, subspace=SUBSPACE)
    assert_valid(a)
    assert_valid(b)
    if [list(a), list(b)] != before:
        assert changed  # (a swap may also deal the operators out unchanged)
    for i, label in enumerate(LABELS):
        old = sorted(split_branches(before[0][i]) + split_branches(before[1][i])) if label in BOUNDS else \
            sorted([before[0][i], before[1][i]])
        new = sorted(split_branches(a[i]) + split_branches(b[i])) if label in BOUNDS else sorted([a[i], b[i]])
        assert new == old  # operators are exchanged, never made up or lost


def test_crossover_of_branch_sets_mixes_operators() -> None:
    subspace = Subspace({"m": OPS}, {"m": BranchBounds(0, 4)})
    mixed = set()
    for seed in range(40):
        a, b = Individual(["small+medium"], 1), Individual(["huge+large"], 1)
        crossover(a, b, np.random.default_rng(seed), 1.0, subspace=subspace)
        mixed.update({a[0], b[0]})
    assert mixed - {"small+medium", "huge+large"}  # not only whole sets swapped


# -- repair ----------------------------------------------------------------------------------------
@fast
@given(seeds, st.sampled_from(OPS))
def test_repair_after_removal_stays_within_bounds(seed: int, removed: str) -> None:
    rng = np.random.default_rng(seed)
    ind = random_individual(SUBSPACE, rng)
    smaller = SUBSPACE.remove("m0", [removed]).remove("m1", [removed]).remove("m2", [removed]).remove(
        "single", [removed])
    before = list(ind)
    changed = repair(ind, smaller, cost, ConstraintsConfig(), op_cost, rng)
    assert_valid(ind, smaller)
    assert changed == (list(ind) != before)
    for i, label in enumerate(LABELS):
        kept = [op for op in split_branches(before[i]) if op != removed] if label in BOUNDS else None
        if kept is not None and BOUNDS[label].allows(len(kept)):
            assert ind[i] == branch_key(kept)  # what is still active of the set stays


def test_repair_keeps_the_still_active_operators_of_a_set() -> None:
    subspace = Subspace({"m": ("small", "large", "huge"), "single": OPS}, {"m": BranchBounds(1, 3)})
    for seed in range(10):
        ind = Individual(["huge+medium+small", "small"], 1)
        assert repair(ind, subspace, lambda a: OpCost(0, 0), ConstraintsConfig(), op_cost, np.random.default_rng(seed))
        assert list(ind) == ["huge+small", "small"]
    ind = Individual(["medium", "small"], 1)  # nothing left of it: resampled among the allowed sets
    repair(ind, subspace, lambda a: OpCost(0, 0), ConstraintsConfig(), op_cost, np.random.default_rng(0))
    assert ind[0] in subspace.choices("m")


def test_repair_resamples_a_set_the_bounds_no_longer_allow() -> None:
    subspace = Subspace({"m": ("small", "large", "huge")}, {"m": BranchBounds(2, 2)})
    for seed in range(10):
        ind = Individual(["medium+small"], 1)  # only "small" is left: one branch, fewer than two
        repair(ind, subspace, lambda a: OpCost(0, 0), ConstraintsConfig(), op_cost, np.random.default_rng(seed))
        assert ind[0] in subspace.choices("m") and len(split_branches(ind[0])) == 2


@fast
@given(seeds, st.integers(10, 400))
def test_repair_meets_max_params_with_branch_sets(seed: int, limit: int) -> None:
    rng = np.random.default_rng(seed)
    ind = random_individual(SUBSPACE, rng)
    limits = ConstraintsConfig(max_params=limit)
    repair(ind, SUBSPACE, cost, limits, op_cost, rng)
    assert_valid(ind)
    assert cost(ind.arch(LABELS)).params <= max(limit, CHEAPEST)


def test_cheapest_architecture_skips_what_it_can() -> None:
    assert CHEAPEST == 0 + 10 + 30 + 10  # none, small, small+medium, small


def test_repair_meets_a_limit_only_skipping_can_meet() -> None:
    subspace = Subspace({"m0": ("medium", "large"), "single": ("small",)}, {"m0": BranchBounds(0, 2)})
    costs = lambda arch: OpCost(sum(op_cost(l, arch[l]).params for l in ("m0", "single")), 0)  # noqa: E731
    for seed in range(10):
        ind = Individual(["large+medium", "small"], 1)
        repair(ind, subspace, costs, ConstraintsConfig(max_params=15), op_cost, np.random.default_rng(seed))
        assert list(ind) == [EMPTY, "small"]


# -- evolve ----------------------------------------------------------------------------------------
def test_evolve_fills_the_first_generation_from_the_sampler() -> None:
    drawn, evaluated = [], []
    fixed = [{"m0": EMPTY, "m1": "huge", "m2": "large+small", "single": "medium"},
             {"m0": "large+small", "m1": "huge+large+small", "m2": "huge+medium", "single": "huge"}]

    def sample(rng: np.random.Generator) -> dict[str, str]:
        assert isinstance(rng, np.random.Generator)
        arch = fixed[len(drawn) % 2]
        drawn.append(arch)
        return dict(arch)

    def record(arch):
        evaluated.append(dict(arch))
        return evaluate(arch)

    seed_arch = {"m0": "small", "m1": "small", "m2": "medium+small", "single": "small"}
    config = PopulationConfig(size=5, generations=1, mutation_prob=0.0, crossover_prob=0.0, tournament=2)
    result = evolve(SUBSPACE, record, ("accuracy",), config, ConstraintsConfig(), cost, op_cost,
                    np.random.default_rng(0), seeds=[seed_arch], sample=sample)
    assert len(drawn) == 4  # the population less the seeds
    assert len(evaluated) == 5
    assert evaluated[0] == seed_arch
    assert evaluated[1:] == drawn  # the first generation, in drawing order (no variation: nothing else is new)
    assert all(ind.arch(LABELS) in fixed + [seed_arch] for ind in result.population)


@pytest.mark.parametrize("objectives", [("accuracy",), ("accuracy", "params")])
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_evolve_keeps_every_individual_within_bounds(objectives, seed: int) -> None:
    config = PopulationConfig(size=8, generations=3, mutation_prob=0.5, crossover_prob=0.9, tournament=2)
    limits = ConstraintsConfig(max_params=200)
    result = evolve(SUBSPACE, evaluate, objectives, config, limits, cost, op_cost, np.random.default_rng(seed))
    for ind in result.population + result.front:
        assert_valid(ind)
        assert cost(ind.arch(LABELS)).params <= 200


# -- shrink ----------------------------------------------------------------------------------------
def test_shrink_keeps_the_front_branch_sets_and_min_branches() -> None:
    subspace = Subspace({"m0": OPS, "m1": OPS, "m2": OPS, "single": OPS},
                        {"m0": BranchBounds(0, 2), "m1": BranchBounds(1, 3), "m2": BranchBounds(3, 4)})
    # the scores prefer huge, then large, ...: the front's small operators would all be dropped at keep=1
    scores = {label: {"small": 0.1, "medium": 0.2, "large": 0.3, "huge": 0.4} for label in LABELS}
    front = [{"m0": EMPTY, "m1": "medium+small", "m2": "huge+large+small", "single": "small"},
             {"m0": "small", "m1": "medium", "m2": "huge+large+medium", "single": "medium"}]
    result, decisions = shrink(subspace, scores, front, keep=1)
    assert result.bounds == subspace.bounds
    assert set(result.ops("m0")) == {"huge", "small"}  # best + the front's ("none" brings nothing)
    assert set(result.ops("m1")) == {"huge", "medium", "small"}
    assert set(result.ops("m2")) == {"huge", "large", "medium", "small"}
    assert set(result.ops("single")) == {"huge", "medium", "small"}
    reasons = {(d.label, d.op): d.reason for d in decisions}
    assert reasons[("m1", "small")] == reasons[("m1", "medium")] == "front"
    assert reasons[("m0", "medium")] == "dropped"
    for arch in front:
        assert arch in result


def test_shrink_keeps_at_least_min_branches_without_a_front() -> None:
    subspace = Subspace({"m": OPS}, {"m": BranchBounds(3, 4)})
    scores = {"m": {"small": 0.1, "medium": 0.2, "large": 0.3, "huge": 0.4}}
    result, _ = shrink(subspace, scores, [], keep=1)
    assert set(result.ops("m")) == {"huge", "large", "medium"}
    assert result.size >= 1
    without_front, _ = shrink(subspace, scores, [{"m": "large+medium+small"}], keep=1, keep_front=False)
    assert set(without_front.ops("m")) == {"huge", "large", "medium"}
