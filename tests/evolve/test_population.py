"""Population search on synthetic fitness: no supernet, so the optimum is known exactly."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from evospace.evolve import Individual, crossover, evolve, mutate, repair
from evospace.evolve import population as population_module
from evospace.space import ConstraintsConfig, OpCost, PopulationConfig, Subspace

LABELS = ("l1", "l2", "l3", "l4")
OPS = ("small", "medium", "large", "huge")
QUALITY = {"small": 0.1, "medium": 0.4, "large": 0.7, "huge": 1.0}
PARAMS = {"small": 10, "medium": 20, "large": 40, "huge": 80}
SUBSPACE = Subspace({label: OPS for label in LABELS})


def op_cost(label: str, op: str) -> OpCost:
    return OpCost(PARAMS[op], 2 * PARAMS[op])


def cost(arch) -> OpCost:
    total = OpCost(0, 0)
    for label in LABELS:
        total = total + op_cost(label, arch[label])
    return total


def evaluate(arch) -> dict[str, float]:
    c = cost(arch)
    return {"accuracy": sum(QUALITY[arch[l]] for l in LABELS) / len(LABELS), "angle": 0.0,
            "params": float(c.params), "flops": float(c.flops)}


def run(seed: int, objectives=("accuracy",), limits=ConstraintsConfig(), seeds=(), **pop):
    config = PopulationConfig(**{"size": 16, "generations": 10, "mutation_prob": 0.2, **pop})
    return evolve(SUBSPACE, evaluate, objectives, config, limits, cost, op_cost, np.random.default_rng(seed),
                  seeds=list(seeds))


def test_single_objective_finds_the_optimum_and_logs_each_generation():
    result = run(0)
    assert result.front[0].arch(LABELS) == {l: "huge" for l in LABELS}
    assert len(result.logbook) == len(result.history) == 11
    assert [row["gen"] for row in result.history] == list(range(11))
    assert result.logbook.chapters["accuracy"].select("max") == [row["accuracy"]["max"] for row in result.history]
    assert result.history[-1]["accuracy"]["max"] >= result.history[0]["accuracy"]["max"]


def test_same_seed_same_result_other_seed_other_path():
    a, b, c = run(1), run(1), run(2)
    assert [list(i) for i in a.population] == [list(i) for i in b.population]
    assert [list(i) for i in a.population] != [list(i) for i in c.population]


def test_constraints_hold_for_every_individual():
    limits = ConstraintsConfig(max_params=150)
    result = run(3, limits=limits)
    assert all(cost(ind.arch(LABELS)).params <= 150 for ind in result.population + result.front)
    best = result.front[0].arch(LABELS)
    assert cost(best).params <= 150
    assert evaluate(best)["accuracy"] >= 0.55  # e.g. two large + two medium under the budget


def test_nsga2_front_is_non_dominated():
    result = run(4, objectives=("accuracy", "params"))
    points = [(ind.metrics["accuracy"], ind.metrics["params"]) for ind in result.front]
    for acc, params in points:
        assert not any(a >= acc and p <= params and (a, p) != (acc, params) for a, p in points)
    assert len(result.front) >= 3  # the trade-off between quality and size is real


def test_seeds_with_inactive_operators_are_repaired():
    gone = {l: "gigantic" for l in LABELS}
    result = run(5, seeds=[gone], generations=1)
    assert all(op in OPS for ind in result.population for op in ind)


def test_variation_operators_stay_inside_the_subspace():
    rng = np.random.default_rng(0)
    a, b = Individual(["small"] * 4, 1), Individual(["huge"] * 4, 1)
    crossover(a, b, rng, swap_prob=1.0)
    assert list(a) == ["huge"] * 4 and list(b) == ["small"] * 4
    narrow = Subspace({l: ("medium",) for l in LABELS})
    mutate(a, narrow, 1.0, rng)
    assert list(a) == ["medium"] * 4


def test_repair_reaches_the_limit_when_possible():
    rng = np.random.default_rng(0)
    ind = Individual(["huge"] * 4, 1)
    repair(ind, SUBSPACE, cost, ConstraintsConfig(max_params=40), op_cost, rng)
    assert cost(ind.arch(LABELS)).params <= 40


def test_no_deap_creator_at_run_time():
    source = inspect.getsource(population_module)
    assert "creator.create" not in source and "import creator" not in source


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fitness_classes_are_module_level(n):
    cls = population_module.fitness_class(n)
    assert cls.weights == (1.0,) * n and cls.__module__ == population_module.__name__
