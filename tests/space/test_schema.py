"""Space files: the shipped default loads, and every kind of bad input is one SpaceError naming file and key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import TINY_SPACE
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import SpaceError
from evospace.space import SpaceConfig, apply_overrides, from_dict, load_space, space_from_dict, to_dict


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def error_of(path: Path, overrides: list[str] | None = None) -> SpaceError:
    with pytest.raises(SpaceError) as info:
        load_space(path, overrides or [])
    err = info.value
    assert str(path) in str(err)
    assert "\n" not in str(err)  # the CLI prints it as one line
    return err


def test_default_space_loads(default_space_file: Path) -> None:
    space = load_space(default_space_file)
    assert space.name == "mnist1d"
    assert space.labels == ("s1.b1", "s1.b2", "s2.b1", "s2.b2", "s3.b1", "s3.b2")
    assert len(space.pool) == 12
    shapes = [(cp.c_in, cp.c_out, cp.stride, cp.side) for cp in space.choice_points]
    assert shapes == [(16, 16, 1, 40), (16, 16, 1, 40), (16, 32, 2, 40), (32, 32, 1, 20), (32, 64, 2, 20),
                      (64, 64, 1, 10)]
    initial = space.initial_subspace()
    assert all(len(initial.ops(label)) == 4 for label in space.labels)
    assert all(set(initial.ops(label)) <= set(space.pool) for label in space.labels)
    assert space.config.search.population.tournament == 3
    assert space.config.search.constraints.max_params == 50000


def test_every_shipped_space_loads() -> None:
    spaces = sorted((Path(__file__).resolve().parents[2] / "spaces").glob("*.yaml"))
    assert len(spaces) >= 5
    for path in spaces:
        assert load_space(path).name == path.stem, path


def test_the_multi_branch_space_is_the_default_made_multi_branch(default_space_file: Path) -> None:
    single = load_space(default_space_file)
    multi = load_space(default_space_file.with_name("mnist1d_multibranch.yaml"))
    strip = lambda space: [(cp.label, cp.c_in, cp.c_out, cp.stride, cp.side) for cp in space.choice_points]  # noqa: E731
    assert strip(multi) == strip(single) and multi.pool == single.pool
    assert [(b.min, b.max) for b in multi.branch_bounds.values()] == [(0, 2), (0, 2), (1, 2), (0, 2), (1, 2), (0, 2)]
    assert multi.config.search.branch_learning.target == 25000


def test_initial_subspace_is_seeded_per_choice_point(tiny_space_dict: dict) -> None:
    first = space_from_dict(tiny_space_dict, "<a>").initial_subspace()
    assert first == space_from_dict(tiny_space_dict, "<b>").initial_subspace()
    tiny_space_dict["seed"] = 1
    assert first != space_from_dict(tiny_space_dict, "<c>").initial_subspace()


def test_malformed_yaml(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: tiny\npool: [conv_k3, skip\nseed: 0\n"))
    assert err.key == ""
    assert "not valid YAML at line" in err.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "- conv_k3\n- skip\n"))
    assert "expected a mapping" in err.message


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.yaml")
    assert "no such file" in err.message


@pytest.mark.parametrize(("key_path", "typo", "suggestion"), [
    ((), "serch", "search"),
    (("search", "population"), "sise", "size"),
    (("skeleton",), "stagse", "stages"),
])
def test_unknown_key_suggests_close_match(tmp_path: Path, tiny_space_dict: dict, key_path: tuple[str, ...],
                                          typo: str, suggestion: str) -> None:
    node = tiny_space_dict
    for key in key_path:
        node = node[key]
    node[typo] = 1
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == ".".join((*key_path, typo))
    assert f"did you mean {suggestion!r}" in err.message
    assert "expected one of" in err.message


@pytest.mark.parametrize(("remove", "key", "expected"), [
    (("pool",), "pool", "a list of a string"),
    (("skeleton",), "skeleton", "a mapping"),
    (("name",), "name", "a string"),
    (("skeleton", "stages", 1, "channels"), "skeleton.stages[1].channels", "an integer"),
])
def test_missing_required_key(tmp_path: Path, tiny_space_dict: dict, remove: tuple, key: str,
                              expected: str) -> None:
    node = tiny_space_dict
    for part in remove[:-1]:
        node = node[part]
    del node[remove[-1]]
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == key
    assert err.message == f"missing; expected {expected}"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("search.rounds", "four", "expected an integer, got 'four'"),
    ("search.rounds", True, "expected an integer, got True"),
    ("search.inherit_weights", "yes please", "expected true or false"),
    ("data.val_fraction", "half", "expected a number"),
    ("skeleton.dims", 3, "expected 1 | 2, got 3"),
    ("skeleton.kind", "tree", "expected 'chain' | 'cell'"),
    ("pool", "conv_k3", "expected a list of a string"),
    ("search.population", 4, "expected a mapping"),
    ("data.samples", "many", "expected an integer or null"),
])
def test_wrong_type(tmp_path: Path, tiny_space_dict: dict, key: str, value: object, expected: str) -> None:
    *parents, last = key.split(".")
    node = tiny_space_dict
    for part in parents:
        node = node[part]
    node[last] = value
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == key
    assert expected in err.message


def test_wrong_type_inside_a_list(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["pool"][2] = 3
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "pool[2]"
    assert "expected a string" in err.message


def test_unknown_operator_in_pool(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["pool"].append("sepp_k3")
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "pool[6]"
    assert "unknown operator 'sepp_k3'" in err.message
    assert "'sep_k3'" in err.message  # the closest match


def test_even_kernel_in_pool(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["pool"].append("conv_k4")
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "pool[6]"
    assert "odd" in err.message


def test_operator_listed_twice(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["pool"].append("skip")
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "pool[6]"
    assert "twice" in err.message


def test_cells_only_operator_in_a_chain(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["pool"].append("zero")
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "pool[6]"
    assert "cell edges" in err.message


def test_unknown_recorded_metric(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["search"]["scoring"] = {"record": ["angle", "acuracy"]}
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "search.scoring.record[1]"
    assert "unknown metric 'acuracy' (did you mean 'accuracy'?)" in err.message


def test_initial_operator_not_in_pool(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["initial"] = {"size": None, "ops": ["conv_k3", "conv_k5"]}
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "initial.ops[1]"
    assert "'conv_k5' is not in the pool" in err.message


def test_explicit_initial_ops_come_first(tiny_space_dict: dict) -> None:
    tiny_space_dict["initial"] = {"size": None, "ops": ["skip", "conv_k3"]}
    space = space_from_dict(tiny_space_dict, "<tiny>")
    for label in space.labels:
        assert space.initial_subspace().ops(label) == ("skip", "conv_k3")
        assert sorted(space.pool_order(label)) == sorted(space.pool)


def test_initial_size_larger_than_pool(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["initial"]["size"] = 7
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "initial.size"
    assert "between 1 and the pool size (6), got 7" in err.message


def test_impossible_stride(tmp_path: Path, tiny_space_dict: dict) -> None:
    # MNIST-1D has 40 samples: six stride-2 stages take the side to 1, the seventh cannot stride
    tiny_space_dict["skeleton"]["stages"] = [{"channels": 4, "depth": 1, "stride": 2} for _ in range(7)]
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "skeleton.stages[6].stride"
    assert "too small" in err.message


def test_stride_larger_than_input(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["skeleton"]["stages"][0]["stride"] = 41
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "skeleton.stages[0].stride"


def test_dims_must_match_the_data(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["skeleton"]["dims"] = 2
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "skeleton.dims"
    assert "dims must be 1" in err.message


def test_unknown_data_set(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["data"]["name"] = "mnist_1d"
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "data.name"
    assert "'mnist1d'" in err.message


def test_population_smaller_than_tournament(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["search"]["population"] = {"size": 2, "tournament": 3}
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "search.population.size"
    assert err.message == "must be ≥ search.population.tournament (3), got 2"


def test_keep_larger_than_pool(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["search"]["shrink"]["keep"] = 9
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "search.shrink.keep"
    assert "pool size (6), got 9" in err.message


def test_unknown_score_metric(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["search"]["shrink"]["score"] = "rank_mean(angle, acuracy)"
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "search.shrink.score"
    assert "did you mean 'accuracy'" in err.message


@pytest.mark.parametrize("key", ["max_params", "max_flops"])
def test_constraints_no_initial_architecture_meets(tmp_path: Path, tiny_space_dict: dict, tiny_space,
                                                   key: str) -> None:
    attr = key.removeprefix("max_")
    initial = tiny_space.initial_subspace()
    smallest = getattr(tiny_space.base_cost, attr) + sum(
        min(getattr(tiny_space.op_cost(label, op), attr) for op in initial.ops(label)) for label in initial.labels)
    tiny_space_dict["search"]["constraints"] = {key: smallest}
    space_from_dict(tiny_space_dict, "<fits exactly>")
    tiny_space_dict["search"]["constraints"] = {key: smallest - 1}
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == f"search.constraints.{key}"
    assert f"the smallest has {smallest:,}" in err.message


# -- --set overrides ------------------------------------------------------------------------------
def test_override_existing_key(tiny_space_file: Path) -> None:
    space = load_space(tiny_space_file, ["search.rounds=3", "seed=7", "search.inherit_weights=false"])
    assert space.config.search.rounds == 3
    assert space.config.seed == 7
    assert space.config.search.inherit_weights is False


def test_override_nested_key_absent_from_the_file(tiny_space_file: Path, tiny_space_dict: dict) -> None:
    assert "train" not in tiny_space_dict["search"]
    space = load_space(tiny_space_file, ["search.train.lr=0.05", "search.population.size=6"])
    assert space.config.search.train.lr == 0.05
    assert space.config.search.train.momentum == 0.9  # siblings keep their defaults
    assert space.config.search.population.size == 6
    assert space.config.search.population.tournament == 2  # siblings from the file survive


def test_override_values_are_yaml(tiny_space_file: Path) -> None:
    space = load_space(tiny_space_file, [
        "search.objectives=[accuracy, params]",
        "data.samples=null",
        "skeleton.stages=[{channels: 6, depth: 3}]",
        "search.constraints={max_flops: 100000}",
    ])
    assert space.config.search.objectives == ("accuracy", "params")
    assert space.config.data.samples is None
    assert space.labels == ("s1.b1", "s1.b2", "s1.b3")
    assert space.choice_points[0].c_out == 6
    assert space.config.search.constraints.max_flops == 100000


def test_override_does_not_mutate_its_input(tiny_space_dict: dict) -> None:
    before = yaml.safe_dump(tiny_space_dict)
    apply_overrides(tiny_space_dict, ["search.train.lr=0.05", "seed=3"])
    assert yaml.safe_dump(tiny_space_dict) == before


@pytest.mark.parametrize(("item", "key", "expected"), [
    ("search.roundz=2", "search.roundz", "did you mean 'rounds'"),
    ("nope.key=1", "nope.key", "no such key"),
    ("name.first=x", "name.first", "'name' has no sub-keys"),
    ("skeleton.stages.channels=3", "skeleton.stages.channels", "'stages' has no sub-keys"),
    ("search.rounds", "search.rounds", "expected key.path=value"),
])
def test_override_errors(tiny_space_file: Path, item: str, key: str, expected: str) -> None:
    with pytest.raises(SpaceError) as info:
        load_space(tiny_space_file, [item])
    assert info.value.source == "--set"
    assert info.value.key == key
    assert expected in info.value.message


def test_override_value_is_validated_like_the_file(tiny_space_file: Path) -> None:
    with pytest.raises(SpaceError) as info:
        load_space(tiny_space_file, ["search.rounds=zero"])
    err = info.value
    assert err.source == "--set" and err.key == "search.rounds"  # the override is to blame, not the file
    assert "expected an integer" in err.message


# -- round trip -----------------------------------------------------------------------------------
def test_to_dict_round_trip(default_space_file: Path, tiny_space) -> None:
    for space in (load_space(default_space_file), tiny_space):
        data = yaml.safe_load(yaml.safe_dump(space.to_config()))  # as run.yaml stores it
        again = space_from_dict(data, "<run.yaml>")
        assert again.config == space.config
        assert again.choice_points == space.choice_points
        assert again.initial_subspace() == space.initial_subspace()
        assert again.fingerprint() == space.fingerprint()
        assert to_dict(from_dict(SpaceConfig, data, "<x>")) == data


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_flops_order_starts_with_the_costliest_operators(seed: int) -> None:
    tiny_space_dict = {**copy.deepcopy(TINY_SPACE), "seed": seed, "initial": {"size": 2, "order": "flops"}}
    space = space_from_dict(tiny_space_dict, "<tiny>")
    shuffled = space_from_dict({**tiny_space_dict, "initial": {"size": 2, "order": "shuffled"}}, "<tiny>")
    for label in space.labels:
        order = space.pool_order(label)
        flops = [space.op_cost(label, op).flops for op in order]
        assert sorted(order) == sorted(space.pool)
        assert flops == sorted(flops, reverse=True)
        assert space.initial_subspace().ops(label) == order[:2]
        # ties keep the seeded shuffle's order, so equal-cost operators are not favoured by their place in the file
        ties = [op for op in shuffled.pool_order(label) if space.op_cost(label, op).flops == 0]
        assert [op for op in order if space.op_cost(label, op).flops == 0] == ties


def test_flops_order_is_named_in_the_error_for_an_unknown_order(tmp_path: Path, tiny_space_dict: dict) -> None:
    tiny_space_dict["initial"]["order"] = "cheapest"
    err = error_of(write(tmp_path, tiny_space_dict))
    assert err.key == "initial.order"
    assert "'flops'" in err.message
