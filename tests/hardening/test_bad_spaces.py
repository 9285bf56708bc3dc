"""Bad space files and ``--set`` values (issue cases 7–10, 12–14): one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml
from conftest import TINY_SPACE, multi_branch_stages
from torch import nn

from evospace.cli import main
from evospace.errors import SpaceError
from evospace.evolve import population as population_module
from evospace.space import SpaceConfig, create_op, load_space, module_cost, op_cost, space_from_dict
from evospace.space.objectives import MAX_OBJECTIVES
from evospace.space.ranges import RANGES, numeric_keys
from evospace.space.schema import MAX_SPACE_FILE_BYTES


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refused(capsys, *args: str) -> str:
    """The one stderr line of a command that must refuse its input with exit status 2."""
    status, out, err = run_cli(capsys, *args)
    assert status == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def tiny_file(tmp_path: Path, **changes) -> Path:
    data = {**TINY_SPACE, **changes}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- 7: not UTF-8 -----------------------------------------------------------------------------------
ENCODED = {
    "latin-1": "name: caf\u00e9\n".encode("latin-1"),
    "utf-16": "name: tiny\n".encode("utf-16"),
    "random bytes": bytes(range(128, 256)) * 4,
}


@pytest.mark.parametrize("encoding", ENCODED)
def test_a_space_file_that_is_not_utf8_is_one_line(tmp_path, capsys, encoding):
    path = tmp_path / "space.yaml"
    path.write_bytes(ENCODED[encoding])
    line = refused(capsys, "validate", str(path))
    assert str(path) in line and "not UTF-8" in line


# -- 8: nesting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["file", "--set"])
def test_yaml_nested_100000_deep_is_one_line(tmp_path, capsys, where):
    deep = "[" * 100_000 + "]" * 100_000
    if where == "file":
        path = tmp_path / "space.yaml"
        path.write_text(f"name: {deep}\n")
        line = refused(capsys, "validate", str(path))
    else:
        line = refused(capsys, "validate", str(tiny_file(tmp_path)), "--set", f"name={deep}")
    assert "nested too deeply" in line and len(line) < 300


def test_a_deep_value_of_the_wrong_type_is_quoted_short(tmp_path, capsys):
    deep = "[" * 100 + "1" + "]" * 100
    line = refused(capsys, "validate", str(tiny_file(tmp_path)), "--set", f"search.rounds={deep}")
    assert "--set" in line and "expected an integer" in line and len(line) < 300


# -- 9: huge widths -------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [10**12, 20_000])
def test_huge_widths_are_refused_without_building_anything(tmp_path, capsys, monkeypatch, channels):
    def refuse(*args, **kwargs):
        raise AssertionError("a module was built to validate a space")

    monkeypatch.setattr(nn.Module, "__init__", refuse)
    stages = [{"channels": channels, "depth": 1, "stride": 1}]
    line = refused(capsys, "validate", str(tiny_file(tmp_path, skeleton={**TINY_SPACE["skeleton"], "stages": stages})))
    assert "skeleton.stages[0].channels" in line


def test_a_supernet_too_large_for_memory_is_refused_by_its_count(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(nn.Module, "__init__", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built")))
    stages = [{"channels": 4096, "depth": 8, "stride": 1}]
    path = tiny_file(tmp_path, skeleton={**TINY_SPACE["skeleton"], "stages": stages},
                     pool=["conv_k7", "conv_k5", "mb_e6_k7"], initial={"size": 1})
    line = refused(capsys, "validate", str(path))
    assert "skeleton.stages" in line and "parameters (at most" in line


OPS = ["conv_k3", "conv_k5", "dil_k3_d2", "sep_k3", "sep_k7", "mb_e3_k3", "mb_e6_k5", "avg_pool_k3", "max_pool_k5",
       "skip", "zero"]
SHAPES = [(4, 4, 1, 1, 9), (4, 8, 2, 1, 9), (6, 6, 2, 2, 7), (3, 5, 1, 2, 5), (8, 4, 3, 1, 10)]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_built_in_operators_are_counted_by_formula_exactly(op, shape):
    c_in, c_out, stride, dims, side = shape
    assert op_cost(op, c_in, c_out, stride, dims, side) == module_cost(create_op(op, c_in, c_out, stride, dims), side)


# -- 10: every number has a range ------------------------------------------------------------------------
def test_every_numeric_key_of_the_schema_has_a_range():
    assert set(numeric_keys(SpaceConfig)) <= set(RANGES), set(numeric_keys(SpaceConfig)) - set(RANGES)


FLOAT_KEYS = sorted(key for key, (low, high) in RANGES.items()
                    if isinstance(low, float) or isinstance(high, float))
_SET_KEY = {"search.constraints.max.*": "search.constraints.max.latency",
            "search.constraints.min.*": "search.constraints.min.latency"}


def _override(key: str, value: str) -> list[str]:
    """``--set`` arguments putting ``value`` at ``key`` of the tiny space (with what its section needs)."""
    key = _SET_KEY.get(key, key)
    args = ["--set", f"{key}={value}"]
    if key.startswith("search.branch_learning."):
        args += ["--set", "search.branch_learning.target=1000", "--set", "search.objectives=[score, params]",
                 "--set", f"skeleton.stages={json.dumps(multi_branch_stages())}"]
    return args


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_nan_and_infinity_are_refused_at_their_key(tmp_path, capsys, key, value):
    if key == "search.scoring.ridge" and value == ".inf":
        pytest.skip(".inf is a documented ridge: the prior alone")
    line = refused(capsys, "validate", str(tiny_file(tmp_path)), *_override(key, value))
    assert _SET_KEY.get(key, key) in line and "--set" in line


@pytest.mark.parametrize(("key", "value"), [("search.train.weight_decay", "-1"), ("search.train.momentum", "-0.5"),
                                            ("search.train.momentum", "1.5"), ("search.train.grad_clip", "0"),
                                            ("search.train.grad_clip", "-3"), ("search.train.lr", ".nan"),
                                            ("search.few_shot.lr", ".nan"), ("search.first_round_epochs", "0"),
                                            ("search.first_round_epochs", "-2"), ("search.scoring.anchor_steps", "-1")])
def test_nonsense_training_settings_are_refused(tmp_path, capsys, key, value):
    assert key in refused(capsys, "validate", str(tiny_file(tmp_path)), "--set", f"{key}={value}")


# -- 12: objectives -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(1, MAX_OBJECTIVES + 1))
def test_every_allowed_number_of_objectives_has_a_fitness(n):
    assert population_module.fitness_class(n).weights == (1.0,) * n


def test_five_objectives_validate_and_seven_are_refused(tmp_path, capsys):
    five = "[score, params, flops, latency, angle]"
    assert main(["validate", str(tiny_file(tmp_path)), "--set", f"search.objectives={five}"]) == 0
    seven = "[score, params, flops, latency, angle, accuracy, score]"
    assert "search.objectives" in refused(capsys, "validate", str(tiny_file(tmp_path)), "--set",
                                          f"search.objectives={seven}")


# -- 13: non-regular files, absurd sizes -------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting(tmp_path, capsys):
    fifo = tmp_path / "space.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(capsys, "validate", str(fifo))
    assert "a directory" in refused(capsys, "validate", str(tmp_path))


def test_a_file_too_large_to_be_a_space_is_refused(tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_bytes(b"#" * (MAX_SPACE_FILE_BYTES + 1))
    assert "is not a space file" in refused(capsys, "validate", str(path))


@pytest.mark.parametrize(("key", "value"), [("search.population.size", 10**30), ("search.population.size", 10**6),
                                            ("search.rounds", 10**9), ("search.population.generations", 10**8),
                                            ("skeleton.stem.channels", 10**12), ("data.batch_size", 10**9),
                                            ("seed", -1), ("seed", 2**70), ("search.train.lr", 10**400)],
                         ids=lambda v: str(v)[:20])
def test_absurd_sizes_are_refused_at_their_key(tmp_path, capsys, key, value):
    line = refused(capsys, "validate", str(tiny_file(tmp_path)), "--set", f"{key}={value}")
    assert key in line and len(line) < 300


# -- 14: --set takes the blame ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("override", "key"), [("search.rounds=abc", "search.rounds"),
                                               ("search.population={size: x}", "search.population.size"),
                                               ("pool=[nope]", "pool[0]")])
def test_a_bad_override_blames_set_not_the_file(tmp_path, capsys, override, key):
    path = tiny_file(tmp_path)
    line = refused(capsys, "validate", str(path), "--set", override)
    assert line.startswith(f"evospace validate: --set: {key}: ") and str(path) not in line


def test_an_error_in_the_file_still_blames_the_file(tmp_path):
    path = tiny_file(tmp_path, seed="x")
    with pytest.raises(SpaceError) as err:
        load_space(path, ["search.rounds=2"])
    assert err.value.source == str(path) and err.value.key == "seed"


# -- 20: initial.size's default fits a small pool -----------------------------------------------------------------
def test_the_default_initial_size_is_clamped_to_a_small_pool():
    data = {k: v for k, v in TINY_SPACE.items() if k != "initial"}
    space = space_from_dict({**data, "pool": ["conv_k3", "skip"]}, "small.yaml")
    assert space.config.initial.size == 2 and space.initial_subspace().size == 2 ** len(space.labels)
    with pytest.raises(SpaceError, match="initial.size"):
        space_from_dict({**data, "pool": ["conv_k3", "skip"], "initial": {"size": 4}}, "small.yaml")
    assert math.isclose(space_from_dict(TINY_SPACE, "t.yaml").config.search.train.lr, 0.1)


def test_a_split_that_leaves_no_training_sample_says_so(tmp_path, capsys):
    line = refused(capsys, "search", str(tiny_file(tmp_path)), "--out", str(tmp_path / "run"), "--quiet",
                   "--set", "data.val_fraction=0.999")
    assert "leaves 480 for validation and 0 for training" in line and "data.val_fraction" in line
    assert not (tmp_path / "run").exists()
