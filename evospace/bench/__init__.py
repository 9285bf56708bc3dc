"""Tabular benchmark mode: a NAS-Bench-201 table as the supernet's stand-in, and baselines on it."""

from evospace.bench.baselines import random_search, regularized_evolution
from evospace.bench.tabular import (
    NB201_OPS,
    TabularOracle,
    TabularTable,
    best_by_validation,
    from_nb201,
    load_oracle,
    nb201_flops,
    to_nb201,
)
from evospace.errors import BudgetExhausted

__all__ = [
    "BudgetExhausted",
    "NB201_OPS",
    "TabularOracle",
    "TabularTable",
    "best_by_validation",
    "from_nb201",
    "load_oracle",
    "nb201_flops",
    "random_search",
    "regularized_evolution",
    "to_nb201",
]
