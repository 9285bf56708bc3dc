"""Tabular benchmark mode: a NAS-Bench-201 table stands in for the supernet.

Every architecture of NAS-Bench-201's cell space was trained to convergence, so a search judged on the
table is judged against the truth. :class:`TabularTable` reads the table once into NumPy arrays indexed
by *architecture index* (the mixed-radix number of an architecture's operators in the space's pool
order, first edge most significant: the order of ``space.full_subspace().all_indices()``), so that
every lookup is an index. :class:`TabularOracle` answers the controller's questions from it:

- ``evaluate(arch)`` is the search signal: validation accuracy (as a fraction, like supernet accuracy),
  params, FLOPs and latency, never the test accuracy, which only :meth:`TabularOracle.test_accuracy`
  reads, for reports;
- the budget is the number of *distinct* architectures whose metrics were read: asking again for one
  already read is free, asking for a new one past the budget raises :class:`BudgetExhausted`;
- ``cost``/``op_cost`` give constraint repair the table's own parameter and FLOP counts.

Columns: ``arch`` and one pair of accuracies ``D_valid`` (the search signal) and ``D_test`` (the judge) for a
data set ``D``: ``cifar10_valid``/``cifar10_test`` in the shipped table,
``cifar100_…`` or ``ImageNet16-120_…`` in NAS-Bench-201's others. A table with several pairs is read at the
space's ``data.name`` or at the data set asked for (``--oracle-dataset``). A latency column (``lat_pixel3_ms``
by default) is optional: without one, ``latency`` cannot be an objective or a limit. So are ``params_M`` and
``flops_M``: where a table lacks them, evospace counts them for the space's network (NAS-Bench-201's own counts
for its macro settings, see :func:`nb201_flops`, with the space's number of classes).

Operator names: evospace ``zero, skip, conv_k1, conv_k3, avg_pool_k3`` are NAS-Bench-201's ``none,
skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``. A NAS-Bench-201 string lists node j's inputs
``op~i`` for i < j, nodes separated by ``+``; edge i → j is evospace's choice point ``cell.e{j}_{i}``.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evospace.errors import BudgetExhausted, DataError, EvospaceError
from evospace.evolve.oracle import OracleBackend
from evospace.space.ops import OpCost
from evospace.space.schema import parse_score
from evospace.space.space import SearchSpace, cell_labels
from evospace.space.subspace import Arch

__all__ = [
    "NB201_OPS",
    "REQUIRED_COLUMNS",
    "accuracy_dataset",
    "TabularTable",
    "TabularOracle",
    "to_nb201",
    "from_nb201",
    "best_by_validation",
    "load_oracle",
    "nb201_flops",
]

NB201_OPS = {  # evospace name -> NAS-Bench-201 name
    "zero": "none",
    "skip": "skip_connect",
    "conv_k1": "nor_conv_1x1",
    "conv_k3": "nor_conv_3x3",
    "avg_pool_k3": "avg_pool_3x3",
}
_FROM_NB201 = {v: k for k, v in NB201_OPS.items()}
REQUIRED_COLUMNS = ("arch",)  # and a pair D_valid, D_test (accuracy_dataset)
COST_COLUMNS = ("params_M", "flops_M")  # optional: counted by evospace for the space where missing
_LABEL = re.compile(r"cell\.e(\d+)_(\d+)")
_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def to_nb201(arch: Arch) -> str:
    """The NAS-Bench-201 string of a cell architecture ``{cell.e{j}_{i}: op}``.

    Example:
        >>> to_nb201({"cell.e1_0": "conv_k3", "cell.e2_0": "skip", "cell.e2_1": "zero"})
        '|nor_conv_3x3~0|+|skip_connect~0|none~1|'
    """
    edges = {}
    for label, op in arch.items():
        match = _LABEL.fullmatch(label)
        if match is None:
            raise DataError(f"choice point {label!r} is not a cell edge cell.e{{j}}_{{i}}; only cell "
                            "architectures have a NAS-Bench-201 string")
        if op not in NB201_OPS:
            raise DataError(f"operator {op!r} at {label} has no NAS-Bench-201 name; "
                            f"NAS-Bench-201 has {', '.join(NB201_OPS)}")
        edges[int(match.group(1)), int(match.group(2))] = NB201_OPS[op]
    nodes = max((j for j, _ in edges), default=0) + 1
    if set(cell_labels(nodes)) != set(arch):
        raise DataError(f"architecture has edges {', '.join(sorted(arch))}; a {nodes}-node cell needs "
                        f"{', '.join(cell_labels(nodes))}")
    return "+".join("|" + "|".join(f"{edges[j, i]}~{i}" for i in range(j)) + "|" for j in range(1, nodes))


def from_nb201(string: str) -> Arch:
    """The evospace architecture of a NAS-Bench-201 string (inverse of :func:`to_nb201`).

    Raises:
        DataError: the string is not ``|op~0|+|op~0|op~1|+...`` with known operator names.
    """
    def bad(why: str) -> DataError:
        return DataError(f"unparsable NAS-Bench-201 architecture {string!r}: {why}; expected e.g. {_EXAMPLE!r}")

    if not isinstance(string, str) or not string:
        raise bad("empty")
    arch: Arch = {}
    for j, node in enumerate(string.split("+"), start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise bad(f"node {j} is not enclosed in '|'")
        inputs = node[1:-1].split("|")
        if len(inputs) != j:
            raise bad(f"node {j} must list {j} input(s), got {len(inputs)}")
        for i, item in enumerate(inputs):
            op, sep, source = item.partition("~")
            if not sep or source != str(i):
                raise bad(f"input {i} of node {j} must read op~{i}, got {item!r}")
            if op not in _FROM_NB201:
                raise bad(f"unknown operator {op!r} (known: {', '.join(_FROM_NB201)})")
            arch[f"cell.e{j}_{i}"] = _FROM_NB201[op]
    return arch


@dataclass(frozen=True, eq=False)
class TabularTable:
    """A benchmark table as arrays indexed by architecture index (see the module docstring).

    Use :meth:`load`; ``valid``/``test`` are percentages as in the file, ``params``/``flops`` counts.
    """

    space: SearchSpace  # the cell space the table answers for
    source: str  # the CSV file, for messages
    nb201_index: np.ndarray  # NAS-Bench-201 index of each architecture
    valid: np.ndarray  # validation top-1 (%): the search signal
    test: np.ndarray  # test top-1 (%): only for reports
    params: np.ndarray  # trainable parameters (count)
    flops: np.ndarray  # FLOPs (count), NAS-Bench-201's counting
    latency: np.ndarray | None  # latency (ms) of the chosen latency column; None: the table has none
    dataset: str = "cifar10"  # whose accuracies valid and test are (the columns' prefix)

    @property
    def size(self) -> int:
        return len(self.valid)

    @property
    def radix(self) -> np.ndarray:
        """Place values of the per-edge operator codes: ``index = codes @ radix``."""
        n_ops, n_edges = len(self.space.pool), len(self.space.labels)
        return n_ops ** np.arange(n_edges - 1, -1, -1)

    def index(self, arch: Arch) -> int:
        """Architecture index of ``arch`` (operator names in the space's pool)."""
        pool = self.space.pool
        try:
            codes = [pool.index(arch[label]) for label in self.space.labels]
        except (KeyError, ValueError):
            self.space.full_subspace().check(arch)  # raises, naming the edge or operator
            raise
        return int(np.dot(codes, self.radix))

    def indices(self, codes: np.ndarray) -> np.ndarray:
        """Architecture indices of code rows ``(n, edges)`` (operator positions in the pool)."""
        return np.asarray(codes) @ self.radix

    def codes(self, index: int | np.ndarray) -> np.ndarray:
        """Operator codes of architecture index/indices, shape ``(..., edges)``."""
        return (np.asarray(index)[..., None] // self.radix) % len(self.space.pool)

    def arch(self, index: int) -> Arch:
        """The architecture with index ``index``."""
        return {label: self.space.pool[int(c)] for label, c in zip(self.space.labels, self.codes(index))}

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace, latency: str = "lat_pixel3_ms",
             dataset: str | None = None) -> TabularTable:
        """Read a NAS-Bench-201-style CSV and check that it answers for every architecture of ``space``.

        Rows whose operators lie outside the space's pool are dropped (a smaller pool is a sub-space of
        the table); every architecture of the space must have exactly one row. ``dataset`` chooses the
        accuracy columns (:func:`accuracy_dataset`); a missing ``latency`` column leaves ``latency`` None.

        Raises:
            DataError: missing file or columns, an unparsable architecture string or number, a table
                whose cells have other edges than the space, or that misses some of its architectures.
        """
        source = str(path)
        if space.config.skeleton.kind != "cell":
            raise DataError(f"{space.source}: a tabular oracle needs a cell space (skeleton.kind: cell), "
                            f"not a {space.config.skeleton.kind} space")
        for op in space.pool:
            if op not in NB201_OPS:
                raise DataError(f"{space.source}: pool operator {op!r} has no NAS-Bench-201 counterpart, so "
                                f"{source} cannot answer for it; the table knows {', '.join(NB201_OPS)}")
        header, rows = _read_csv(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{source}: missing column(s) {', '.join(missing)}; a benchmark table needs "
                            f"{', '.join(REQUIRED_COLUMNS)} and a pair D_valid, D_test (found: {', '.join(header)})")
        dataset = accuracy_dataset(header, source, dataset, prefer=space.config.data.name)
        accuracies = (f"{dataset}_valid", f"{dataset}_test")
        optional = tuple(c for c in ("index", latency, *COST_COLUMNS) if c in header)
        col = {name: header.index(name) for name in REQUIRED_COLUMNS + accuracies + optional}
        labels, pool = space.labels, space.pool
        n_edges = len(labels)
        radix = len(pool) ** np.arange(n_edges - 1, -1, -1)
        keys, kept, archs = [], [], []
        for r, row in enumerate(rows):
            where = f"{source}: row {r + 2}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, the header has {len(header)}")
            try:
                arch = from_nb201(row[col["arch"]])
            except DataError as err:
                raise DataError(f"{where}: column arch: {err}") from None
            if set(arch) != set(labels):
                raise DataError(f"{where}: a cell with {len(arch)} edges, but the space's cell has {n_edges} "
                                f"({space.config.skeleton.nodes} nodes); this table belongs to another space")
            if any(arch[label] not in pool for label in labels):
                continue
            keys.append(int(np.dot([pool.index(arch[label]) for label in labels], radix)))
            kept.append(r)
            archs.append(arch)
        numbers = {name: _column(rows, kept, col[name], name, source)
                   for name in accuracies + tuple(c for c in (*COST_COLUMNS, latency) if c in col)}
        if not all(c in numbers for c in COST_COLUMNS):  # counted here, in the table's millions
            costs = [space.cost(arch) for arch in archs]
            numbers.setdefault("params_M", np.array([c.params for c in costs], dtype=np.float64) / 1e6)
            numbers.setdefault("flops_M", np.array([nb201_flops(c, space.data.classes) for c in costs],
                                                   dtype=np.float64) / 1e6)
        nb201 = (_column(rows, kept, col["index"], "index", source).astype(np.int64) if "index" in col
                 else np.asarray(kept, dtype=np.int64))
        total = len(pool) ** n_edges
        keys_arr = np.asarray(keys, dtype=np.int64)
        counts = np.bincount(keys_arr, minlength=total)
        if (counts > 1).any():
            dup = int(np.flatnonzero(counts > 1)[0])
            raise DataError(f"{source}: architecture {to_nb201(_arch_of(dup, space))} has {counts[dup]} rows; "
                            "a benchmark table holds one row per architecture")
        if (counts == 0).any():
            gap = int(np.flatnonzero(counts == 0)[0])
            raise DataError(f"{source}: holds {int((counts == 1).sum())} of the space's {total} architectures "
                            f"(missing e.g. {to_nb201(_arch_of(gap, space))}); the oracle must know every "
                            "architecture of the space: use the full table or a smaller pool")
        order = np.argsort(keys_arr)

        def by_index(values: np.ndarray) -> np.ndarray:
            out = values[order]
            out.setflags(write=False)
            return out

        return cls(space, source, by_index(nb201), by_index(numbers[accuracies[0]]),
                   by_index(numbers[accuracies[1]]), by_index(np.rint(numbers["params_M"] * 1e6)),
                   by_index(np.rint(numbers["flops_M"] * 1e6)),
                   by_index(numbers[latency]) if latency in numbers else None, dataset)


def accuracy_dataset(header: Sequence[str], source: str, dataset: str | None = None,
                     prefer: str | None = None) -> str:
    """The data set ``D`` whose columns ``D_valid`` (searched on) and ``D_test`` (reported) a table is read at.

    NAS-Bench-201 publishes a table per data set and names the columns after it, so the shipped CIFAR-10
    table's names cannot be assumed: ``dataset`` if given, else the table's only pair, else ``prefer`` (the
    space's ``data.name``) among several.

    Raises:
        DataError: ``dataset`` is not in the table, the table has no pair, or several and none is ``prefer``.
    """
    prefixes = [c.removesuffix("_valid") for c in header if c.endswith("_valid")]
    pairs = [d for d in prefixes if d and f"{d}_test" in header]
    if dataset is not None:
        if dataset not in pairs:
            raise DataError(f"{source}: no columns {dataset}_valid and {dataset}_test; the table holds accuracies of "
                            f"{', '.join(pairs) if pairs else 'no data set (no pair D_valid, D_test)'}")
        return dataset
    if len(pairs) == 1:
        return pairs[0]
    if prefer in pairs:
        return prefer
    if pairs:
        raise DataError(f"{source}: accuracies of several data sets ({', '.join(pairs)}) and none is the space's "
                        f"data.name ({prefer}); choose one with --oracle-dataset (bench scripts: --dataset)")
    halves = [c for c in header if c.endswith(("_valid", "_test"))]
    raise DataError(f"{source}: no accuracy columns: a benchmark table needs a pair D_valid (searched on) and D_test "
                    f"(reported), e.g. cifar10_valid and cifar10_test"
                    + (f"; {', '.join(halves)} has no partner" if halves else f" (found: {', '.join(header)})"))


def _arch_of(index: int, space: SearchSpace) -> Arch:
    n = len(space.pool)
    codes = [(index // n ** (len(space.labels) - 1 - e)) % n for e in range(len(space.labels))]
    return {label: space.pool[c] for label, c in zip(space.labels, codes)}


def _read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = list(reader)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; give a benchmark table such as bench/data/nb201_cifar10.csv") \
            from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot be read as CSV: {err}") from None
    if not header:
        raise DataError(f"{path}: empty file; expected a CSV header with {', '.join(REQUIRED_COLUMNS)} and a pair "
                        "D_valid, D_test")
    return [h.strip() for h in header], rows


def _column(rows: list[list[str]], kept: list[int], position: int, name: str, source: str) -> np.ndarray:
    try:
        values = np.array([rows[r][position] for r in kept], dtype=np.float64)
    except ValueError:
        for r in kept:
            try:
                float(rows[r][position])
            except ValueError:
                raise DataError(f"{source}: row {r + 2}: column {name}: {rows[r][position]!r} is not a number") \
                    from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        r = kept[int(bad[0])]
        raise DataError(f"{source}: row {r + 2}: column {name}: {rows[r][position]!r} is not a finite number")
    return values


class TabularOracle:
    """The supernet's stand-in: metrics from a table, with query accounting.

    Training is a no-op (there are no weights); ``evaluate`` reads the table. ``queries`` counts the
    distinct architectures whose metrics were read, in the order they were first read (``history``).

    Args:
        table: the loaded table.
        budget: the most distinct architectures that may be read (``None``: unlimited).

    Example:
        >>> table = TabularTable.load("bench/data/nb201_cifar10.csv", space)  # doctest: +SKIP
        >>> oracle = TabularOracle(table, budget=100)  # doctest: +SKIP
        >>> oracle.evaluate(space.initial_subspace().sample(rng))["accuracy"]  # doctest: +SKIP
        0.8432
    """

    def __init__(self, table: TabularTable, budget: int | None = None) -> None:
        if budget is not None and budget < 1:
            raise EvospaceError(f"the query budget must be ≥ 1 architecture, got {budget}")
        self.table = table
        self.space = table.space
        self.budget = budget
        self._seen: set[int] = set()
        self.history: list[int] = []  # architecture indices, in the order they were first read

    @property
    def queries(self) -> int:
        """Distinct architectures read so far: what the budget counts."""
        return len(self.history)

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else self.budget - self.queries

    def query(self, index: int) -> int:
        """Count architecture ``index`` as read (free if it was read before) and return it.

        Raises:
            BudgetExhausted: ``index`` is new and the budget is spent.
        """
        index = int(index)
        if index not in self._seen:
            if self.budget is not None and len(self.history) >= self.budget:
                raise BudgetExhausted(f"the query budget of {self.budget} architectures is spent")
            self._seen.add(index)
            self.history.append(index)
        return index

    def evaluate(self, arch: Arch) -> dict[str, float]:
        """Search metrics of ``arch``: ``accuracy`` (validation, fraction), ``params``, ``flops``,
        ``latency`` (ms, if the table has it) and ``angle`` (0: a table has no weights). Counts one query if
        ``arch`` is new."""
        i = self.query(self.table.index(arch))
        t = self.table
        metrics = {"accuracy": float(t.valid[i]) / 100.0, "params": float(t.params[i]),
                   "flops": float(t.flops[i]), "angle": 0.0}
        if t.latency is not None:
            metrics["latency"] = float(t.latency[i])
        return metrics

    def test_accuracy(self, arch: Arch) -> float:
        """Test accuracy (fraction) of ``arch``, for reports only; not a query."""
        return float(self.table.test[self.table.index(arch)]) / 100.0

    def best(self) -> int:
        """Index of the best architecture by validation accuracy among those read (first on ties)."""
        if not self.history:
            raise EvospaceError("no architecture has been queried yet")
        rows = np.asarray(self.history)
        return int(rows[np.argmax(self.table.valid[rows])])

    # -- costs for constraint repair ---------------------------------------------------------------
    def cost(self, arch: Arch) -> OpCost:
        """Parameters and FLOPs of ``arch`` from the table (not a query: costs are known up front)."""
        i = self.table.index(arch)
        return OpCost(int(self.table.params[i]), int(self.table.flops[i]))

    def op_cost(self, label: str, op: str) -> OpCost:
        """The share of ``op`` at edge ``label`` in an architecture's cost, relative to the cheapest
        operator there: exact when costs add up over edges, as NAS-Bench-201's parameters and FLOPs do."""
        return self._op_costs[self.space.labels.index(label)][self.space.pool.index(op)]

    @functools.cached_property
    def _op_costs(self) -> list[list[OpCost]]:
        n_ops, n_edges = len(self.space.pool), len(self.space.labels)
        shares = []
        for values in (self.table.params, self.table.flops):
            grid = values.reshape((n_ops,) * n_edges)
            means = [grid.mean(axis=tuple(a for a in range(n_edges) if a != e)) for e in range(n_edges)]
            shares.append([np.rint(m - m.min()).astype(np.int64) for m in means])
        return [[OpCost(int(shares[0][e][o]), int(shares[1][e][o])) for o in range(n_ops)] for e in range(n_edges)]


def nb201_flops(cost: OpCost, classes: int) -> int:
    """FLOPs as NAS-Bench-201 counts them, from evospace's count of the same network.

    NAS-Bench-201 counts one per multiply-accumulate of convolutions and linear layers plus one per bias addition
    (only the classifier has a bias), nothing for BN, activations or pooling; evospace counts two per
    multiply-accumulate. With NAS-Bench-201's macro settings this equals the table's ``flops_M`` (x 10^6) for all
    15,625 cells (``tests/space/test_nb201_costs.py``).
    """
    return cost.flops // 2 + classes


def best_by_validation(table: TabularTable, history: Sequence[int], budgets: Sequence[int]) -> np.ndarray:
    """Test accuracy (%) of the best-by-validation architecture among the first ``b`` queries, per budget.

    A search that never reached a budget is judged on what it queried."""
    rows = np.asarray(history, dtype=np.int64)
    out = []
    for b in budgets:
        prefix = rows[:b]
        out.append(table.test[prefix[np.argmax(table.valid[prefix])]] if len(prefix) else np.nan)
    return np.asarray(out)


def load_oracle(spec: dict, space: SearchSpace) -> OracleBackend:
    """The backend of a search scored by a table: ``spec`` is ``{"table": CSV path, "budget": N or None}`` and
    optionally ``"dataset"``, whose accuracy columns to read (:func:`accuracy_dataset`).

    ``run.yaml`` records ``spec`` as its ``oracle`` entry, and ``Search.resume`` rebuilds the backend with this.

    Raises:
        EvospaceError: the table cannot be read for ``space`` (one line naming the file), or the space ranks by
            the calibrated score, which needs a supernet.
    """
    table = TabularTable.load(spec["table"], space, dataset=spec.get("dataset"))
    search = space.config.search
    if table.latency is None:
        limits = search.constraints
        uses = [("search.objectives", search.objectives), ("search.shrink.score", parse_score(search.shrink.score)),
                ("search.constraints.max", tuple(limits.max or ())),
                ("search.constraints.min", tuple(limits.min or ()))]
        for key, names in uses:
            if "latency" in names:
                raise EvospaceError(f"{space.source}: {key}: names latency, but {table.source} has no latency "
                                    f"column (lat_pixel3_ms); remove it or use a table that measured latency")
    if "score" in search.objectives or "score" in parse_score(search.shrink.score):
        key = "search.objectives" if "score" in search.objectives else "search.shrink.score"
        raise EvospaceError(f"{space.source}: {key}: the calibrated score ('score') weighs supernet signals that a "
                            f"table does not have; with --oracle rank by accuracy, e.g. --set "
                            f"search.objectives=[accuracy] --set search.shrink.score=accuracy")
    return OracleBackend(space, TabularOracle(table, budget=spec.get("budget")), spec)
