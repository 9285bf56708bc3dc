"""Baselines of the tabular benchmark: random search and regularized evolution (REA).

Both query a :class:`~evospace.bench.tabular.TabularOracle`, so their budget is counted exactly like
the controller's: distinct architectures read. Both stop when the oracle's budget is spent and return
the oracle's history; the architecture a method *returns* is the best by validation accuracy among those
it read (:func:`evospace.bench.tabular.best_by_validation`). Neither planning depends on the budget, so
the first ``b`` queries of a run with budget 500 are exactly a run with budget ``b``.

Architectures are handled as operator codes (positions in the space's pool) so that a run of 500
queries takes milliseconds.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from evospace.bench.tabular import TabularOracle
from evospace.errors import BudgetExhausted

__all__ = ["random_search", "regularized_evolution", "REA_POPULATION", "REA_SAMPLE"]

# NAS-Bench-201's own REA runs (the release's R-EA scripts): --ea_population 10 --ea_sample_size 3
REA_POPULATION = 10
REA_SAMPLE = 3


def random_search(oracle: TabularOracle, rng: np.random.Generator) -> list[int]:
    """Query uniformly drawn architectures until the budget is spent.

    Draws are without replacement (a repeated draw would be a free query), so with a budget of ``b`` this
    is ``b`` distinct uniform architectures.

    Returns:
        The oracle's history: architecture indices in query order.
    """
    _require_budget(oracle)
    order = rng.permutation(oracle.table.size)
    try:
        for index in order:
            oracle.query(int(index))
    except BudgetExhausted:
        pass
    return list(oracle.history)


def regularized_evolution(oracle: TabularOracle, rng: np.random.Generator, population: int = REA_POPULATION,
                          sample: int = REA_SAMPLE) -> list[int]:
    """Regularized (aging) evolution, Real et al. 2019, with NAS-Bench-201's settings.

    NAS-Bench-201 ran REA with a population of 10 and a sample (tournament) size of 3, mutating one
    uniformly chosen edge to a different operator, and searching on validation accuracy::

        population = deque of `population` uniform random architectures (each one query)
        until the budget is spent:
            candidates = `sample` members drawn uniformly with replacement
            parent = the candidate with the best validation accuracy
            child = parent with one random edge switched to another operator
            query(child); append child; drop the oldest member

    A child already queried costs nothing (the budget counts distinct architectures) but still joins
    the population, as in the original.

    Returns:
        The oracle's history: architecture indices in query order.
    """
    _require_budget(oracle)
    table = oracle.table
    n_ops, n_edges = len(oracle.space.pool), len(oracle.space.labels)
    radix = table.radix
    members: deque[int] = deque()
    try:
        while len(members) < population:
            members.append(oracle.query(int(rng.integers(table.size))))
        # a cap on cycles so that a population stuck among queried architectures still ends
        for _ in range(100 * oracle.budget + 1000):
            picks = rng.integers(len(members), size=sample)
            parent = max((members[int(p)] for p in picks), key=lambda i: table.valid[i])
            edge = int(rng.integers(n_edges))
            old = (parent // radix[edge]) % n_ops
            new = (old + 1 + int(rng.integers(n_ops - 1))) % n_ops
            child = parent + (new - old) * int(radix[edge])
            members.append(oracle.query(int(child)))
            members.popleft()
    except BudgetExhausted:
        pass
    return list(oracle.history)


def _require_budget(oracle: TabularOracle) -> None:
    if oracle.budget is None:
        raise ValueError("a baseline runs until the oracle's budget is spent; give the oracle a budget")
