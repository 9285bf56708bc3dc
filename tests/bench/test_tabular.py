"""The NAS-Bench-201 table, its converters, the oracle's budget accounting and the two baselines."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.bench import (
    NB201_OPS,
    BudgetExhausted,
    TabularOracle,
    TabularTable,
    best_by_validation,
    from_nb201,
    nb201_flops,
    random_search,
    regularized_evolution,
    to_nb201,
)
from evospace.errors import DataError, EvospaceError
from evospace.space import cell_labels, load_space, space_from_dict

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "bench" / "data" / "nb201_cifar10.csv"
SPACE = REPO / "spaces" / "nb201.yaml"
HEADER = "index,arch,cifar10_valid,cifar10_test,params_M,flops_M,lat_pixel3_ms"


@pytest.fixture(scope="module")
def space():
    return load_space(SPACE)


@pytest.fixture(scope="module")
def table(space):
    return TabularTable.load(TABLE, space)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with open(TABLE, newline="") as handle:
        return list(csv.DictReader(handle))


def tiny_space(nodes: int = 2, pool: tuple[str, ...] = ("zero", "skip")):
    """A cell space of ``len(pool) ** edges`` architectures, for hand-written tables."""
    data = {"name": "tinycell", "data": {"name": "digits"},
            "skeleton": {"kind": "cell", "dims": 2, "nodes": nodes, "stem": {"channels": 4},
                         "stages": [{"channels": 4, "depth": 1, "stride": 1}]},
            "pool": list(pool), "initial": {"size": len(pool)}, "search": {"shrink": {"keep": 1}}, "seed": 0}
    return space_from_dict(data, "<tinycell>")


def write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


GOOD_TINY = ["0,|none~0|,10.0,10.0,0.07,7.7,1.0", "1,|skip_connect~0|,20.0,21.0,0.07,7.7,2.0"]


# -- converters ---------------------------------------------------------------------------------------
def test_round_trip_on_every_row(table, rows) -> None:
    strings = [row["arch"] for row in rows]
    archs = [from_nb201(text) for text in strings]
    assert [to_nb201(arch) for arch in archs] == strings
    # the table's arrays, indexed by architecture index, point back at the right row
    indices = np.array([table.index(arch) for arch in archs])
    nb201 = np.array([int(row["index"]) for row in rows])
    np.testing.assert_array_equal(table.nb201_index[indices], nb201)
    np.testing.assert_array_equal(table.valid[indices], [float(row["cifar10_valid"]) for row in rows])
    np.testing.assert_array_equal(table.test[indices], [float(row["cifar10_test"]) for row in rows])
    assert sorted(indices.tolist()) == list(range(table.size))


def test_indices_are_the_odometer_order_of_the_full_subspace(table, space) -> None:
    codes = space.full_subspace().all_indices()
    np.testing.assert_array_equal(table.indices(codes), np.arange(table.size))
    np.testing.assert_array_equal(table.codes(np.arange(table.size)), codes)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6).flatmap(
    lambda n: st.lists(st.sampled_from(sorted(NB201_OPS)), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2)
    .map(lambda ops, n=n: dict(zip(cell_labels(n), ops)))))
def test_round_trip_any_cell(arch: dict) -> None:
    assert from_nb201(to_nb201(arch)) == arch


@pytest.mark.parametrize(("string", "why"), [
    ("", "empty"),
    ("|nor_conv_3x3~0", "not enclosed"),
    ("|nor_conv_3x3~1|", "must read op~0"),
    ("|conv~0|", "unknown operator 'conv'"),
    ("|none~0|+|none~0|", "node 2 must list 2 input(s)"),
    ("|none0|", "must read op~0"),
])
def test_unparsable_strings(string: str, why: str) -> None:
    with pytest.raises(DataError, match="unparsable NAS-Bench-201 architecture") as info:
        from_nb201(string)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_to_nb201_refuses_non_cells() -> None:
    with pytest.raises(DataError, match="not a cell edge"):
        to_nb201({"s1.b1": "conv_k3"})
    with pytest.raises(DataError, match="no NAS-Bench-201 name"):
        to_nb201({"cell.e1_0": "sep_k3"})
    with pytest.raises(DataError, match="needs cell.e1_0, cell.e2_0, cell.e2_1"):
        to_nb201({"cell.e1_0": "zero", "cell.e2_1": "zero"})


# -- loading --------------------------------------------------------------------------------------------
def test_table_figures(table, space) -> None:
    assert table.size == 15625
    assert table.nb201_index[np.argmax(table.valid)] == 6111
    assert table.test.max() == pytest.approx(94.373333)
    # NAS-Bench-201's parameters are exactly evospace's count of spaces/nb201.yaml on CIFAR-10
    # (tests/space/test_nb201_costs.py checks every cell, FLOPs too)
    counted = np.array([space.cost(table.arch(i)).params for i in range(0, table.size, 7)])
    assert set((table.params[::7] - counted).tolist()) == {0.0}


@pytest.mark.parametrize(("lines", "header", "message"), [
    (GOOD_TINY, "index,arch,cifar10_valid,params_M,flops_M,lat_pixel3_ms",
     "no accuracy columns: a benchmark table needs a pair D_valid (searched on) and D_test (reported), e.g. "
     "cifar10_valid and cifar10_test; cifar10_valid has no partner"),
    (GOOD_TINY, "index,ops,cifar10_valid,cifar10_test,params_M,flops_M,lat_pixel3_ms", "missing column(s) arch"),
    ([row + ",5.0,6.0" for row in GOOD_TINY], HEADER + ",cifar100_valid,cifar100_test",
     "accuracies of several data sets (cifar10, cifar100) and none is the space's data.name (digits)"),
    (["0,|none~0|,10.0,10.0,0.07,7.7,1.0", "1,|skip~0|,20.0,21.0,0.07,7.7,2.0"], HEADER,
     "row 3: column arch: unparsable NAS-Bench-201 architecture '|skip~0|'"),
    (["0,|none~0|,10.0,10.0,0.07,7.7,1.0", "1,|skip_connect~0|,twenty,21.0,0.07,7.7,2.0"], HEADER,
     "row 3: column cifar10_valid: 'twenty' is not a number"),
    (["0,|none~0|,nan,10.0,0.07,7.7,1.0", GOOD_TINY[1]], HEADER, "not a finite number"),
    (["0,|none~0|,10.0,10.0,0.07,7.7", GOOD_TINY[1]], HEADER, "row 2: 6 fields, the header has 7"),
    (GOOD_TINY[:1], HEADER, "holds 1 of the space's 2 architectures (missing e.g. |skip_connect~0|)"),
    (GOOD_TINY + GOOD_TINY[1:], HEADER, "|skip_connect~0| has 2 rows"),
    (["0,|none~0|+|none~0|none~1|,10.0,10.0,0.07,7.7,1.0"], HEADER, "this table belongs to another space"),
    ([], "", "empty file"),
])
def test_bad_tables_raise_one_line(tmp_path: Path, lines: list[str], header: str, message: str) -> None:
    path = write(tmp_path, lines, header) if header else tmp_path / "empty.csv"
    if not header:
        path.write_text("")
    with pytest.raises(DataError) as info:
        TabularTable.load(path, tiny_space())
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_good_tiny_table_and_a_sub_pool(tmp_path: Path) -> None:
    table = TabularTable.load(write(tmp_path, GOOD_TINY), tiny_space())
    assert table.valid.tolist() == [10.0, 20.0] and table.params.tolist() == [70000, 70000]
    # rows using operators outside a smaller pool are dropped
    table = TabularTable.load(write(tmp_path, GOOD_TINY), tiny_space(pool=("skip",)))
    assert table.size == 1 and table.test.tolist() == [21.0]


def test_tables_of_other_data_sets(tmp_path: Path) -> None:
    """NAS-Bench-201's CIFAR-100 and ImageNet16-120 tables name their columns after their data set and may
    measure no latency: the oracle reads whichever pair the table has, or the one asked for."""
    header = "arch,ImageNet16-120_valid,ImageNet16-120_test"
    rows = ["|none~0|,10.0,11.0", "|skip_connect~0|,30.0,29.0"]
    space = tiny_space()
    table = TabularTable.load(write(tmp_path, rows, header), space)
    assert table.dataset == "ImageNet16-120" and table.valid.tolist() == [10.0, 30.0] and table.latency is None
    # no params_M, flops_M: evospace's own counts of the space's network, in NAS-Bench-201's FLOPs convention
    costs = [space.cost(table.arch(i)) for i in range(2)]
    assert table.params.tolist() == [c.params for c in costs]
    assert table.flops.tolist() == [nb201_flops(c, space.data.classes) for c in costs]
    assert table.test.tolist() == [11.0, 29.0] and table.nb201_index.tolist() == [0, 1]
    assert "latency" not in TabularOracle(table).evaluate(table.arch(1))
    both = write(tmp_path, [row + ",5.0,6.0" for row in GOOD_TINY], HEADER + ",cifar100_valid,cifar100_test")
    assert TabularTable.load(both, tiny_space(), dataset="cifar100").valid.tolist() == [5.0, 5.0]
    assert TabularTable.load(both, tiny_space(), dataset="cifar10").valid.tolist() == [10.0, 20.0]
    with pytest.raises(DataError, match=r"no columns svhn_valid and svhn_test; the table holds accuracies of "
                                        r"cifar10, cifar100$"):
        TabularTable.load(both, tiny_space(), dataset="svhn")


def test_spaces_the_table_cannot_answer_for(tmp_path: Path, tiny_space_dict: dict) -> None:
    path = write(tmp_path, GOOD_TINY)
    with pytest.raises(DataError, match="pool operator 'conv_k5' has no NAS-Bench-201 counterpart"):
        TabularTable.load(path, tiny_space(pool=("zero", "skip", "conv_k5")))
    with pytest.raises(DataError, match="needs a cell space"):
        TabularTable.load(path, space_from_dict(tiny_space_dict, "<tiny>"))
    with pytest.raises(DataError, match="no such file"):
        TabularTable.load(tmp_path / "nope.csv", tiny_space())


# -- the oracle -----------------------------------------------------------------------------------------
def test_budget_counts_distinct_architectures(table, space) -> None:
    oracle = TabularOracle(table, budget=2)
    a, b, c = (table.arch(i) for i in (5, 700, 9000))
    first = oracle.evaluate(a)
    assert first == {"accuracy": table.valid[5] / 100, "params": table.params[5], "flops": table.flops[5],
                     "latency": table.latency[5], "angle": 0.0}
    assert oracle.evaluate(a) == first and oracle.queries == 1  # repeats are free
    oracle.test_accuracy(c)  # reports do not count
    oracle.cost(c)
    assert oracle.queries == 1
    oracle.evaluate(b)
    with pytest.raises(BudgetExhausted, match="budget of 2 architectures is spent"):
        oracle.evaluate(c)
    assert oracle.evaluate(a) == first  # still free after the budget is spent
    assert oracle.history == [5, 700] and oracle.remaining == 0
    assert oracle.best() == (5 if table.valid[5] >= table.valid[700] else 700)
    assert oracle.test_accuracy(a) == pytest.approx(table.test[5] / 100)


def test_oracle_refuses_archs_outside_the_space(table) -> None:
    oracle = TabularOracle(table)
    arch = dict(table.arch(0), **{"cell.e1_0": "conv_k5"})
    with pytest.raises(EvospaceError, match="conv_k5"):
        oracle.evaluate(arch)
    with pytest.raises(EvospaceError, match="budget must be ≥ 1"):
        TabularOracle(table, budget=0)


def test_oracle_costs_for_repair(table, space) -> None:
    oracle = TabularOracle(table)
    rng = np.random.default_rng(0)
    zero = {label: "zero" for label in space.labels}
    base = oracle.cost(zero)
    for index in rng.integers(table.size, size=50):
        arch = table.arch(int(index))
        cost = oracle.cost(arch)
        assert cost.params == table.params[index] and cost.flops == table.flops[index]
        shares = [oracle.op_cost(label, op) for label, op in arch.items()]
        assert cost.params == base.params + sum(s.params for s in shares)
        assert abs(cost.flops - base.flops - sum(s.flops for s in shares)) <= len(shares)  # rounding only
    assert oracle.queries == 0


# -- baselines --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", [random_search, regularized_evolution])
def test_baselines_spend_the_budget_on_distinct_architectures(table, method) -> None:
    oracle = TabularOracle(table, budget=60)
    history = method(oracle, np.random.default_rng(3))
    assert len(history) == len(set(history)) == 60 == oracle.queries
    assert history == method(TabularOracle(table, budget=60), np.random.default_rng(3))  # seeded
    # the returned architecture is the best by validation among those queried, judged on test
    best = max(history, key=lambda i: (table.valid[i], -history.index(i)))
    assert best_by_validation(table, history, [60])[0] == table.test[best]
    assert oracle.best() == best
    # a prefix of the history is a run with a smaller budget
    assert history[:20] == method(TabularOracle(table, budget=20), np.random.default_rng(3))


def test_rea_children_are_one_edge_mutations(table) -> None:
    history = regularized_evolution(TabularOracle(table, budget=80), np.random.default_rng(1))
    codes = table.codes(np.asarray(history))
    for k in range(10, len(history)):
        distances = (codes[:k] != codes[k]).sum(axis=1)
        assert distances.min() == 1  # a new child differs from some earlier architecture in one edge


def test_rea_beats_random_on_average(table) -> None:
    def mean(method) -> float:
        return float(np.mean([best_by_validation(table, method(TabularOracle(table, budget=100),
                                                               np.random.default_rng(s)), [100])[0]
                              for s in range(20)]))

    assert mean(regularized_evolution) > mean(random_search)


def test_baselines_need_a_budget(table) -> None:
    with pytest.raises(ValueError, match="give the oracle a budget"):
        random_search(TabularOracle(table), np.random.default_rng(0))
