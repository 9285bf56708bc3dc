"""Search on NAS-Bench-201's table: what each method returns for a budget of distinct queries.

Every method queries a :class:`~evospace.bench.tabular.TabularOracle` (validation accuracy as the search
signal, distinct architectures as the budget) and returns the best architecture by validation accuracy
among those it queried; the table is its judge: the test accuracy of that architecture. No method plans
with the budget, so one run with the largest budget gives every smaller budget as a prefix of its
query history.

    python bench/nb201_search.py [--quick] [--table CSV] [--space spaces/nb201.yaml] [--seeds N]

Methods: random search, regularized evolution (NAS-Bench-201's settings, evospace/bench/baselines.py).
Ends with ``RESULT random_100=… rea_100=… …`` (mean test accuracy, %).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evospace.bench.baselines import random_search, regularized_evolution
from evospace.bench.tabular import TabularOracle, TabularTable, best_by_validation
from evospace.errors import EvospaceError
from evospace.run.rng import numpy_stream
from evospace.space import load_space

REPO = Path(__file__).resolve().parents[1]
BUDGETS = (50, 100, 200, 500)
RESULT_BUDGETS = (100, 200, 500)
RESULT_ORDER = ("evolving", "rea", "random")
PUBLISHED = "published (NAS-Bench-201, time budget): random 93.70 ± 0.36, REA 93.92 ± 0.30, optimum 94.37"

Method = Callable[[TabularOracle, int], list[int]]  # (oracle with a budget, seed) -> query history


def baseline(search: Callable) -> Method:
    def run(oracle: TabularOracle, seed: int) -> list[int]:
        return search(oracle, numpy_stream(seed, "nb201-bench", search.__name__))
    return run


def measure(table: TabularTable, method: Method, seeds: int, budgets: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Test accuracy (%) per seed and budget, shape ``(seeds, budgets)``, and seconds taken."""
    start = time.perf_counter()
    rows = []
    for seed in range(seeds):
        oracle = TabularOracle(table, budget=max(budgets))
        rows.append(best_by_validation(table, method(oracle, seed), budgets))
    return np.asarray(rows), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 seeds instead of 100")
    parser.add_argument("--table", default=str(REPO / "bench" / "data" / "nb201_cifar10.csv"),
                        help="benchmark CSV with NAS-Bench-201's columns (default: the CIFAR-10 table)")
    parser.add_argument("--space", default=str(REPO / "spaces" / "nb201.yaml"), help="cell space file")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method (default 100, --quick 20)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (20 if args.quick else 100)
    try:
        space = load_space(args.space)
        table = TabularTable.load(args.table, space)
    except EvospaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    methods: dict[str, Method] = {
        "random": baseline(random_search),
        "rea": baseline(regularized_evolution),
    }
    print(f"table {args.table}: {table.size} architectures; best test {table.test.max():.2f}, "
          f"test of the best by validation {table.test[np.argmax(table.valid)]:.2f}")
    print(f"{seeds} seeds per method; budget = distinct architectures queried; figure = test accuracy (%) of "
          "the best-by-validation architecture queried, mean ± std")
    print(f"{'method':<10}" + "".join(f"{b:>16}" for b in BUDGETS) + f"{'seconds':>10}")
    means: dict[str, np.ndarray] = {}
    for name, method in methods.items():
        results, seconds = measure(table, method, seeds, BUDGETS)
        means[name] = results.mean(axis=0)
        cells = "".join(f"{m:>9.2f} ± {s:.2f}" for m, s in zip(results.mean(axis=0), results.std(axis=0)))
        print(f"{name:<10}{cells}{seconds:>10.1f}")
    print(PUBLISHED)
    order = [name for name in RESULT_ORDER if name in means]
    result = " ".join(f"{name}_{b}={means[name][BUDGETS.index(b)]:.2f}" for b in RESULT_BUDGETS for name in order)
    print(f"RESULT {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
