"""Population search inside a subspace, on DEAP's structures.

Individuals are architectures stored as a list of operator names in the space's label order; every
objective is turned into a maximisation (minimised ones, such as params and FLOPs, are negated) so that one
weight vector of ones serves all. An architecture past a limit of ``constraints.max``/``min`` gets a fitness
below every architecture within them (``PENALTY`` times one plus its violation), so selection, the hall of fame and the
Pareto front prefer any feasible architecture and, among the infeasible, the nearest. Fitness and individual
classes are defined here once, never through ``deap.creator``, so several runs and worker processes never
clash. Variation operators are pure functions of an individual, the subspace and a NumPy generator owned by the
run (DEAP's own operators draw from the global ``random`` module, which a run does not own).

At a multi-branch choice point a gene is a branch set (``"conv_k3+skip"``): mutation switches one operator
on or off, crossover exchanges single operators between the two parents' sets, and repair keeps what is
still active of a set; each keeps the set's size within the point's branch bounds.

One round of evolution (single objective; NSGA-II replaces the selection when there are several)::

    pop = seeds (previous front, repaired) + uniform samples, repaired to the constraints
    evaluate(pop); hof.update(pop)
    for g in 1..G:
        offspring = tournament(pop, |pop|) → clone → uniform crossover (cx_prob) → mutation (mut_prob/gene)
        repair(offspring); evaluate(invalid only); hof.update(offspring)
        pop = offspring                      (NSGA-II: pop = selNSGA2(pop + offspring, |pop|))
        logbook.record(gen=g, nevals=..., objective statistics)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from deap import base, tools

from evospace.space.branches import branch_key, split_branches
from evospace.space.objectives import minimised, violation
from evospace.space.ops import OpCost
from evospace.space.schema import ConstraintsConfig, PopulationConfig
from evospace.space.subspace import Arch, Subspace

__all__ = ["Individual", "fitness_class", "EvolutionResult", "evolve", "repair", "mutate", "crossover", "fitness",
           "PENALTY"]

PENALTY = -1e12  # the fitness of an architecture just past a limit (times 1 + its violation): below any real value


class Fitness1(base.Fitness):
    weights = (1.0,)


class Fitness2(base.Fitness):
    weights = (1.0, 1.0)


class Fitness3(base.Fitness):
    weights = (1.0, 1.0, 1.0)


class Fitness4(base.Fitness):
    weights = (1.0, 1.0, 1.0, 1.0)


class Fitness5(base.Fitness):
    weights = (1.0,) * 5


class Fitness6(base.Fitness):
    weights = (1.0,) * 6


_FITNESS = {1: Fitness1, 2: Fitness2, 3: Fitness3, 4: Fitness4, 5: Fitness5, 6: Fitness6}


def fitness(metrics: dict[str, float], objectives: tuple[str, ...], limits: ConstraintsConfig) -> tuple[float, ...]:
    """The maximised fitness values of an architecture's metrics: minimised objectives negated, a violated
    ``max``/``min`` limit penalised on every objective."""
    excess = violation(metrics, limits.max, limits.min)
    if excess > 0:
        return tuple(PENALTY * (1.0 + excess) for _ in objectives)
    return tuple(-metrics[o] if minimised(o) else metrics[o] for o in objectives)


def fitness_class(n_objectives: int) -> type[base.Fitness]:
    """The module-level fitness class for ``n_objectives`` maximised objectives."""
    return _FITNESS[n_objectives]


class Individual(list):
    """An architecture as operator names in label order, with a DEAP fitness and its raw metrics."""

    def __init__(self, genes, n_objectives: int) -> None:
        super().__init__(genes)
        self.fitness = fitness_class(n_objectives)()
        self.metrics: dict[str, float] = {}

    def arch(self, labels: tuple[str, ...]) -> Arch:
        return dict(zip(labels, self))

    def __deepcopy__(self, memo):
        clone = Individual(self, len(self.fitness.weights))
        if self.fitness.valid:
            clone.fitness.values = self.fitness.values
        clone.metrics = dict(self.metrics)
        return clone


def mutate(ind: Individual, subspace: Subspace, prob: float, rng: np.random.Generator) -> bool:
    """Resample each gene with probability ``prob`` from its choice point's active operators.

    A branch set instead switches one of the point's active operators on or off (one the bounds allow).
    """
    changed = False
    for i, label in enumerate(subspace.labels):
        if rng.random() < prob:
            if subspace.is_multi(label):
                new = _toggle(ind[i], label, subspace, rng)
            else:
                ops = subspace.ops(label)
                new = ops[int(rng.integers(len(ops)))]
            changed |= new != ind[i]
            ind[i] = new
    return changed


def _toggle(value: str, label: str, subspace: Subspace, rng: np.random.Generator) -> str:
    """``value``'s branch set with one active operator switched on or off, within the branch bounds."""
    current = set(split_branches(value))
    bounds = subspace.bounds[label]
    options = [op for op in subspace.ops(label) if bounds.allows(len(current) + (-1 if op in current else 1))]
    if not options:
        return value
    op = options[int(rng.integers(len(options)))]
    return branch_key(current ^ {op})


def crossover(a: Individual, b: Individual, rng: np.random.Generator, swap_prob: float = 0.5,
              subspace: Subspace | None = None) -> bool:
    """Uniform crossover: swap each gene between the two parents with probability ``swap_prob``.

    With ``subspace``, a branch-set gene chosen for the swap exchanges operators instead: each operator that
    only one parent runs moves to the other with probability 1/2; if that breaks a branch bound the two
    whole sets are swapped.
    """
    changed = False
    multi = subspace.bounds if subspace is not None else {}
    labels = subspace.labels if subspace is not None else ()
    for i in range(len(a)):
        if rng.random() < swap_prob and a[i] != b[i]:
            if labels and labels[i] in multi:
                a[i], b[i] = _mix(a[i], b[i], multi[labels[i]], rng)
            else:
                a[i], b[i] = b[i], a[i]
            changed = True
    return changed


def _mix(x: str, y: str, bounds, rng: np.random.Generator) -> tuple[str, str]:
    """Two branch sets with the operators only one of them runs dealt out at random (bounds kept)."""
    first, second = set(split_branches(x)), set(split_branches(y))
    for op in sorted(first ^ second):
        if rng.random() < 0.5:
            giver, taker = (first, second) if op in first else (second, first)
            giver.remove(op)
            taker.add(op)
    if not (bounds.allows(len(first)) and bounds.allows(len(second))):
        return y, x
    return branch_key(first), branch_key(second)


def repair(ind: Individual, subspace: Subspace, cost: Callable[[Arch], OpCost], limits: ConstraintsConfig,
           op_cost: Callable[[str, str], OpCost], rng: np.random.Generator) -> bool:
    """Make ``ind`` valid: inactive genes resampled, then cheaper operators swapped in until it fits.

    Each swap strictly lowers the violated cost at one random choice point, so repair ends; it fails
    only if the subspace holds no fitting architecture (then the cheapest one is returned).
    """
    labels = subspace.labels
    changed = False
    for i, label in enumerate(labels):
        choices = subspace.choices(label)
        if ind[i] not in choices:
            kept = _still_active(ind[i], label, subspace)
            ind[i] = kept if kept is not None else choices[int(rng.integers(len(choices)))]
            changed = True
    for attr, limit in (("params", limits.max_params), ("flops", limits.max_flops)):
        if limit is None:
            continue
        while getattr(cost(ind.arch(labels)), attr) > limit:
            options = []
            for i, label in enumerate(labels):
                now = getattr(op_cost(label, ind[i]), attr)
                cheaper = [op for op in subspace.choices(label) if getattr(op_cost(label, op), attr) < now]
                if cheaper:
                    options.append((i, cheaper))
            if not options:
                break
            i, cheaper = options[int(rng.integers(len(options)))]
            ind[i] = cheaper[int(rng.integers(len(cheaper)))]
            changed = True
    return changed


def _still_active(value: str, label: str, subspace: Subspace) -> str | None:
    """What is still active of a branch set, if the bounds allow it (``None`` otherwise, or for one operator)."""
    if not subspace.is_multi(label) or not isinstance(value, str) or not value:
        return None
    kept = [op for op in split_branches(value) if op in subspace.ops(label)]
    return branch_key(kept) if subspace.bounds[label].allows(len(kept)) else None


def _tournament(pop: list[Individual], k: int, size: int, rng: np.random.Generator) -> list[Individual]:
    chosen = []
    for _ in range(k):
        aspirants = [pop[int(i)] for i in rng.integers(len(pop), size=size)]
        chosen.append(max(aspirants, key=lambda ind: ind.fitness.wvalues))
    return chosen


@dataclass
class EvolutionResult:
    """What one round of evolution leaves: the final population, its front and the logbook."""

    population: list[Individual]
    front: list[Individual]  # hall of fame (single objective) or Pareto front
    logbook: tools.Logbook  # DEAP's record, one chapter per objective
    evaluations: int  # evaluations requested (the caller's cache may answer some)
    history: list[dict] = field(default_factory=list)  # the same records as plain JSON-ready dicts


def evolve(subspace: Subspace, evaluate: Callable[[Arch], dict[str, float]], objectives: tuple[str, ...],
           config: PopulationConfig, limits: ConstraintsConfig, cost: Callable[[Arch], OpCost],
           op_cost: Callable[[str, str], OpCost], rng: np.random.Generator,
           seeds: list[Arch] = (), on_generation: Callable[[dict], None] | None = None,
           evaluate_many: Callable[[list[Arch]], list[dict[str, float]]] | None = None,
           sample: Callable[[np.random.Generator], Arch] | None = None) -> EvolutionResult:
    """Evolve a population inside ``subspace`` for ``config.generations`` generations.

    Args:
        evaluate: metrics of an architecture (``accuracy``, ``angle``, ``params``, ``flops``); cache it.
        objectives: names of the objectives (space/objectives.py says which are minimised).
        limits: ``max_params``/``max_flops`` (repaired) and ``max``/``min`` limits on other objectives (penalised).
        seeds: architectures that start in the population (e.g. the previous round's front), repaired
            if they use inactive operators.
        on_generation: called with each logbook record.
        evaluate_many: metrics of a whole generation's new individuals at once (DEAP's ``toolbox.map``
            idea: a process group shares them out); ``evaluate`` one by one when absent.
        sample: draws the architectures that fill the initial population after the seeds (default:
            uniform over the subspace; branch learning draws from its learned distribution).
    """
    labels = subspace.labels
    n_obj = len(objectives)
    multi = n_obj > 1

    def assign(inds: list[Individual]) -> None:
        archs = [ind.arch(labels) for ind in inds]
        results = evaluate_many(archs) if evaluate_many is not None else map(evaluate, archs)
        for ind, metrics in zip(inds, results):
            ind.metrics = dict(metrics)
            ind.fitness.values = fitness(metrics, objectives, limits)

    def fix(ind: Individual) -> None:
        if repair(ind, subspace, cost, limits, op_cost, rng) and ind.fitness.valid:
            del ind.fitness.values

    pop: list[Individual] = []
    for arch in list(seeds)[:config.size]:
        ind = Individual([arch.get(label, "") for label in labels], n_obj)
        fix(ind)
        pop.append(ind)
    while len(pop) < config.size:
        if sample is not None:
            drawn = sample(rng)
            ind = Individual([drawn[l] for l in labels], n_obj)
        else:
            ind = Individual([subspace.choices(l)[int(rng.integers(len(subspace.choices(l))))] for l in labels], n_obj)
        fix(ind)
        pop.append(ind)

    hof = tools.ParetoFront() if multi else tools.HallOfFame(config.hall_of_fame)
    logbook = tools.Logbook()
    logbook.header = ["gen", "nevals"] + list(objectives)
    evaluations = 0
    history: list[dict] = []

    def record(gen: int, nevals: int, population: list[Individual]) -> None:
        entry = {"gen": gen, "nevals": nevals}
        for name in objectives:
            values = np.array([ind.metrics[name] for ind in population])
            entry[name] = {"mean": float(values.mean()), "std": float(values.std()),
                           "min": float(values.min()), "max": float(values.max())}
        logbook.record(**entry)
        history.append(entry)
        if on_generation is not None:
            on_generation(entry)

    invalid = [ind for ind in pop if not ind.fitness.valid]
    assign(invalid)
    evaluations += len(invalid)
    hof.update(pop)
    if multi:
        pop = tools.selNSGA2(pop, len(pop))  # assigns crowding distances
    record(0, len(invalid), pop)

    for gen in range(1, config.generations + 1):
        if multi:
            parents = [pop[int(i)] for i in rng.integers(len(pop), size=len(pop))]
        else:
            parents = _tournament(pop, len(pop), config.tournament, rng)
        offspring = [Individual.__deepcopy__(p, None) for p in parents]
        for i in range(1, len(offspring), 2):
            if rng.random() < config.crossover_prob and crossover(offspring[i - 1], offspring[i], rng,
                                                                   subspace=subspace):
                for ind in (offspring[i - 1], offspring[i]):
                    if ind.fitness.valid:
                        del ind.fitness.values
        for ind in offspring:
            if mutate(ind, subspace, config.mutation_prob, rng) and ind.fitness.valid:
                del ind.fitness.values
            fix(ind)
        invalid = [ind for ind in offspring if not ind.fitness.valid]
        assign(invalid)
        evaluations += len(invalid)
        hof.update(offspring)
        pop = tools.selNSGA2(pop + offspring, config.size) if multi else offspring
        record(gen, len(invalid), pop)

    return EvolutionResult(pop, list(hof), logbook, evaluations, history)
