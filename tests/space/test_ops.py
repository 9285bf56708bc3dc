"""Operator registry: every registered family builds shape-correct modules whose analytic cost is exact."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from evospace.errors import EvospaceError
from evospace.space import (
    UnknownOpError,
    create_op,
    list_ops,
    module_cost,
    op_cost,
    parse_op,
    register_op,
    space_from_dict,
)
from evospace.space import ops as ops_module
from evospace.supernet import build_model

FIELD_VALUES = {"k": (3, 5), "e": (1, 3), "d": (2,)}


def names_of(template: str) -> list[str]:
    """Concrete operator names of a template, over a few values of each integer field."""
    fields = re.findall(r"\{(\w+)\}", template)
    return [template.format(**dict(zip(fields, values, strict=True)))
            for values in itertools.product(*(FIELD_VALUES[f] for f in fields))]


OP_NAMES = [name for template in list_ops() for name in names_of(template)]
SHAPES = [  # (c_in, c_out, stride): kept, widened, strided, both
    (4, 4, 1), (4, 6, 1), (4, 4, 2), (4, 6, 2),
]


def flops_counted(module: nn.Module, x: torch.Tensor) -> int:
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def test_registry_lists_every_builtin_family() -> None:
    assert list_ops() == sorted(["conv_k{k}", "dil_k{k}_d{d}", "sep_k{k}", "mb_e{e}_k{k}", "avg_pool_k{k}",
                                 "max_pool_k{k}", "skip", "zero"])
    assert list_ops("*pool*") == ["avg_pool_k{k}", "max_pool_k{k}"]


@pytest.mark.parametrize("name", OP_NAMES)
def test_name_round_trip(name: str) -> None:
    family, fields = parse_op(name)
    assert family.template.format(**fields) == name
    assert all(isinstance(v, int) for v in fields.values())


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize(("c_in", "c_out", "stride"), SHAPES)
@pytest.mark.parametrize("name", OP_NAMES)
def test_shape_params_and_flops(name: str, c_in: int, c_out: int, stride: int, dims: int) -> None:
    side = 7  # odd, so that ceil(side / stride) and floor differ
    module = create_op(name, c_in, c_out, stride, dims)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, c_in, *([side] * dims), generator=generator)
    module.train()
    out = module(x)
    assert out.shape == (2, c_out, *([math.ceil(side / stride)] * dims))

    cost = op_cost(name, c_in, c_out, stride, dims, side)
    assert cost == module_cost(module, side)
    assert cost.params == sum(p.numel() for p in module.parameters())
    assert cost.flops == flops_counted(module, x[:1])


@pytest.mark.parametrize("name", ["conv_k3", "sep_k5", "mb_e3_k3", "dil_k3_d2"])
def test_weighted_operators_have_parameters(name: str) -> None:
    assert op_cost(name, 4, 4, 1, 1, 9).params > 0


@pytest.mark.parametrize("name", ["skip", "avg_pool_k3", "max_pool_k5"])
def test_parameter_free_operators_project_only_when_the_shape_changes(name: str) -> None:
    assert op_cost(name, 4, 4, 1, 1, 9).params == 0
    assert op_cost(name, 4, 8, 1, 1, 9).params > 0
    if name == "skip":
        assert isinstance(create_op(name, 4, 4, 1, 1), nn.Identity)
        assert op_cost(name, 4, 4, 2, 1, 9).params > 0  # a strided skip must still downsample


def test_zero_outputs_zeros() -> None:
    out = create_op("zero", 4, 6, 2, 2)(torch.ones(1, 4, 5, 5))
    assert out.shape == (1, 6, 3, 3)
    assert not out.any()


@pytest.mark.parametrize(("name", "suggestion"), [
    ("conv_k", "conv_k3"),
    ("sepk3", "sep_k3"),
    ("mb_k3", "mb_e"),
    ("skipp", "skip"),
])
def test_unknown_names_list_close_matches(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownOpError) as info:
        create_op(name, 4, 4, 1, 1)
    message = str(info.value)
    assert f"unknown operator {name!r}" in message
    assert "did you mean" in message and suggestion in message
    assert isinstance(info.value, EvospaceError)  # the CLI reports it as one line


@pytest.mark.parametrize("name", ["conv_k4", "sep_k2", "mb_e3_k6", "dil_k4_d2", "avg_pool_k2", "max_pool_k4"])
def test_even_kernels_are_refused(name: str) -> None:
    with pytest.raises(UnknownOpError, match="odd"):
        parse_op(name)


@pytest.mark.parametrize("name", ["conv_k0", "mb_e0_k3", "dil_k3_d0"])
def test_zero_fields_are_refused(name: str) -> None:
    with pytest.raises(UnknownOpError, match="must be ≥ 1"):
        parse_op(name)


def test_registering_a_duplicate_family_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_module, "_FAMILIES", dict(ops_module._FAMILIES))
    original = parse_op("conv_k3")[0].builder

    def builder(c_in: int, c_out: int, stride: int, dims: int, k: int) -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="'conv' is already registered"):
        register_op("conv_k{k}")(builder)
    assert parse_op("conv_k3")[0].builder is original


def test_registering_a_new_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_module, "_FAMILIES", dict(ops_module._FAMILIES))

    @register_op("shuffle_g{g}")
    def _shuffle(c_in: int, c_out: int, stride: int, dims: int, g: int) -> nn.Module:
        return ops_module.conv_bn(c_in, c_out, 1, stride, dims, groups=g)

    assert "shuffle_g{g}" in list_ops()
    module = create_op("shuffle_g2", 4, 4, 1, 1)
    assert module[0].groups == 2
    assert op_cost("shuffle_g2", 4, 4, 1, 1, 9).params == sum(p.numel() for p in module.parameters())


# -- whole models -----------------------------------------------------------------------------------
def digits_space(tiny_space_dict: dict):
    tiny_space_dict["data"] = {"name": "digits"}
    tiny_space_dict["skeleton"]["dims"] = 2
    tiny_space_dict["pool"] += ["max_pool_k3", "conv_k5"]
    return space_from_dict(tiny_space_dict, "<tiny digits>")


@pytest.mark.parametrize("which", ["tiny", "digits", "default"])
def test_space_cost_matches_the_built_model(which: str, tiny_space, tiny_space_dict: dict,
                                            default_space_file) -> None:
    from evospace.space import load_space

    space = {"tiny": lambda: tiny_space, "digits": lambda: digits_space(tiny_space_dict),
             "default": lambda: load_space(default_space_file)}[which]()
    rng = np.random.default_rng(0)
    full = space.full_subspace()
    archs = [full.sample(rng) for _ in range(4)] + [{label: "skip" for label in space.labels}]
    for arch in archs:
        model = build_model(space, arch)
        x = torch.zeros(1, space.data.channels, *([space.data.side] * space.data.dims))
        cost = space.cost(arch)
        assert cost.params == sum(p.numel() for p in model.parameters()), arch
        assert cost.flops == flops_counted(model, x), arch
