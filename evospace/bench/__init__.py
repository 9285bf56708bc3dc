"""Tabular benchmark mode: a NAS-Bench-201 table as the supernet's stand-in, and baselines on it."""

from evospace.bench.baselines import random_search, regularized_evolution
from evospace.bench.tabular import (
    BudgetExhausted,
    TabularOracle,
    TabularTable,
    best_by_validation,
    from_nb201,
    to_nb201,
)

__all__ = [
    "BudgetExhausted",
    "TabularOracle",
    "TabularTable",
    "best_by_validation",
    "from_nb201",
    "random_search",
    "regularized_evolution",
    "to_nb201",
]
