"""Cell skeletons: validation, edge labels in NAS-Bench-201 order, costs over the macro skeleton."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from evospace.errors import SpaceError
from evospace.space import cell_labels, load_space, space_from_dict

NB201_FILE = Path(__file__).resolve().parents[2] / "spaces" / "nb201.yaml"


@pytest.fixture
def cell_dict() -> dict:
    return copy.deepcopy(yaml.safe_load(NB201_FILE.read_text()))


def test_nb201_space_has_six_edges_in_string_order() -> None:
    space = load_space(NB201_FILE)
    assert space.labels == ("cell.e1_0", "cell.e2_0", "cell.e2_1", "cell.e3_0", "cell.e3_1", "cell.e3_2")
    assert space.full_subspace().size == 5 ** 6
    first = space.config.skeleton.stages[0]
    assert {(cp.c_in, cp.c_out, cp.stride, cp.side) for cp in space.choice_points} == {
        (first.channels, first.channels, 1, space.data.side)}


@pytest.mark.parametrize("nodes", [2, 3, 4, 5])
def test_cell_labels_cover_every_forward_edge_once(nodes: int) -> None:
    labels = cell_labels(nodes)
    assert len(labels) == len(set(labels)) == nodes * (nodes - 1) // 2
    edges = [tuple(int(x) for x in label[len("cell.e"):].split("_")) for label in labels]
    assert all(0 <= i < j < nodes for j, i in edges)
    assert edges == sorted(edges)  # node by node, inputs in order


def test_cell_costs_add_up_over_edges_and_cells() -> None:
    space = load_space(NB201_FILE)
    zero = {label: "zero" for label in space.labels}
    assert space.cost(zero) == space.base_cost
    one = dict(zero, **{"cell.e2_1": "conv_k3"})
    # a 3x3 conv (no bias) + BN in each of 5 cells of each stage: 9C² + 2C per cell
    expected = sum(5 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    assert space.cost(one).params - space.base_cost.params == expected
    assert space.op_cost("cell.e2_1", "conv_k3").params == expected


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("nodes", None, "needs nodes ≥ 2"),
    ("nodes", 1, "needs nodes ≥ 2"),
    ("nodes", "four", "expected an integer or null"),
])
def test_bad_cell_nodes(cell_dict: dict, key: str, value: object, expected: str) -> None:
    cell_dict["skeleton"][key] = value
    with pytest.raises(SpaceError) as info:
        space_from_dict(cell_dict, "nb.yaml")
    assert info.value.key == "skeleton.nodes" and expected in info.value.message


def test_chain_refuses_nodes(tiny_space_dict: dict) -> None:
    tiny_space_dict["skeleton"]["nodes"] = 4
    with pytest.raises(SpaceError, match="only cell skeletons have nodes"):
        space_from_dict(tiny_space_dict, "<tiny>")


def test_zero_is_allowed_in_cells_only(cell_dict: dict, tiny_space_dict: dict) -> None:
    assert "zero" in space_from_dict(cell_dict, "nb.yaml").pool
    tiny_space_dict["pool"] = [*tiny_space_dict["pool"], "zero"]
    with pytest.raises(SpaceError, match="cell edges"):
        space_from_dict(tiny_space_dict, "<tiny>")


def test_latency_objective_on_either_skeleton(cell_dict: dict, tiny_space_dict: dict) -> None:
    """A cell space takes latency from its oracle's table; a chain measures it on the device (metrics/latency.py)."""
    cell_dict["search"]["objectives"] = ["accuracy", "latency"]
    assert space_from_dict(cell_dict, "nb.yaml").config.search.objectives == ("accuracy", "latency")
    tiny_space_dict["search"]["objectives"] = ["accuracy", "latency"]
    assert space_from_dict(tiny_space_dict, "<tiny>").config.search.objectives == ("accuracy", "latency")


@pytest.mark.parametrize(("skeleton", "key", "expected"), [
    ({"cell": "darts", "nodes": 0}, "skeleton.nodes", "needs nodes ≥ 1 intermediate nodes"),
    ({"inputs": 2}, "skeleton.inputs", "only darts cells"),
    ({"cell": "darts", "inputs": 0}, "skeleton.inputs", "must be ≥ 1"),
    ({"cell": "dart"}, "skeleton.cell", "expected 'nb201' | 'darts'"),
])
def test_bad_darts_keys(cell_dict: dict, skeleton: dict, key: str, expected: str) -> None:
    cell_dict["skeleton"] |= skeleton
    with pytest.raises(SpaceError) as info:
        space_from_dict(cell_dict, "nb.yaml")
    assert info.value.key == key and expected in info.value.message


def test_chain_refuses_a_cell_type(tiny_space_dict: dict) -> None:
    tiny_space_dict["skeleton"]["cell"] = "darts"
    with pytest.raises(SpaceError, match="only cell skeletons have a cell type"):
        space_from_dict(tiny_space_dict, "<tiny>")


def test_darts_cell_edges_take_the_nearest_inputs(cell_dict: dict) -> None:
    cell_dict["skeleton"] |= {"cell": "darts", "nodes": 4, "inputs": 2}
    space = space_from_dict(cell_dict, "nb.yaml")
    assert space.labels == ("cell.e2_0", "cell.e2_1", "cell.e3_1", "cell.e3_2", "cell.e4_2", "cell.e4_3",
                            "cell.e5_3", "cell.e5_4")
    cell_dict["skeleton"]["inputs"] = None
    assert len(space_from_dict(cell_dict, "nb.yaml").labels) == 2 + 3 + 4 + 5
