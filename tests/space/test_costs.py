"""The fixed parts' costs are counted by formula (space/costs.py): each formula against the module it counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from evospace.space import OpCost, cell_topology, conv_cost, fixed_cost, head_cost, load_space, module_cost, stem_cost
from evospace.space.costs import head_channels
from evospace.space.ops import conv_bn
from evospace.supernet import make_head, make_stem

REPO = Path(__file__).resolve().parents[2]
SPACES = sorted((REPO / "spaces").glob("*.yaml"))
VARIANTS = [  # odd strides, width-only transitions, 2-D chains
    ("digits.yaml", ["skeleton.stem.channels=8", "skeleton.stages=[{channels: 8, depth: 1, stride: 1}, "
                     "{channels: 12, depth: 1, stride: 2}, {channels: 20, depth: 2, stride: 3}]"]),
    ("nb201.yaml", ["skeleton.stages=[{channels: 16, depth: 1, stride: 1}, {channels: 24, depth: 1, stride: 1}, "
                    "{channels: 40, depth: 2, stride: 2}]"]),
    ("nb201.yaml", ["skeleton.stem.channels=8"]),
    ("mnist1d.yaml", ["skeleton.stages=[{channels: 5, depth: 1, stride: 3}, {channels: 7, depth: 1, stride: 2}]"]),
]


def _transitions_built(space) -> OpCost:
    """NAS-Bench-201's transition blocks (and a darts cell's two 1x1 input convolutions), built and counted."""
    dims = space.config.skeleton.dims
    width = cell_topology(space.config.skeleton).width
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    pool = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
    total, c_in, side = OpCost(0, 0), space.config.skeleton.stem.channels, space.data.side
    for stage in space.config.skeleton.stages:
        c_out, stride = stage.channels, stage.stride
        if stride > 1 or c_in != c_out:
            body = nn.Sequential(conv_bn(c_in, c_out, 3, stride, dims), conv_bn(c_out, c_out, 3, 1, dims))
            if stride > 1:
                shortcut = nn.Sequential(pool(stride, stride=stride), conv(c_in, c_out, 1, bias=False))
            else:
                shortcut = conv_bn(c_in, c_out, 1, 1, dims, relu=False)
            total = total + module_cost(body, side) + module_cost(shortcut, side)
        side = (side - 1) // stride + 1
        c_in = c_out
        if space.config.skeleton.cell == "darts":  # each cell: its two inputs through a 1x1 conv + BN
            before = last = c_out
            for _ in range(stage.depth):
                for channels in (before, last):
                    total = total + module_cost(conv_bn(channels, c_out, 1, 1, dims, relu=False), side)
                before, last = last, c_out * width
            c_in = last
    return total


def _spaces():
    yield from ((path.name, load_space(path)) for path in SPACES)
    yield from ((f"{name} {overrides}", load_space(REPO / "spaces" / name, overrides)) for name, overrides in VARIANTS)


@pytest.mark.parametrize(("name", "space"), list(_spaces()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_formulas_count_what_the_skeleton_builds(name: str, space) -> None:
    skeleton, data = space.config.skeleton, space.data
    assert stem_cost(skeleton, data) == module_cost(make_stem(space), data.side)
    head_bn = OpCost(2 * head_channels(skeleton), 0) if skeleton.kind == "cell" else OpCost(0, 0)  # BN → ReLU
    assert head_cost(skeleton, data) + head_bn == module_cost(make_head(space), 1)
    built = module_cost(make_stem(space), data.side) + module_cost(make_head(space), 1)
    if skeleton.kind == "cell":
        built = built + _transitions_built(space)
    assert fixed_cost(skeleton, data) == space.base_cost == built


@pytest.mark.parametrize(("k", "stride", "dims", "side", "bn"), [(3, 1, 1, 40, True), (5, 2, 1, 9, True),
                                                               (1, 3, 2, 8, False), (3, 2, 2, 7, True)])
def test_a_convolution_counts_like_its_module(k: int, stride: int, dims: int, side: int, bn: bool) -> None:
    module = conv_bn(3, 5, k, stride, dims, relu=False) if bn else (nn.Conv1d if dims == 1 else nn.Conv2d)(
        3, 5, k, stride=stride, padding=k // 2, bias=False)
    cost, out = conv_cost(3, 5, k, stride, dims, side, bn=bn)
    assert cost == module_cost(module, side)
    assert out == (side - 1) // stride + 1


def test_counting_the_fixed_parts_builds_nothing(tiny_space, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a module was built to count the fixed parts")

    monkeypatch.setattr(nn.Module, "__init__", refuse)
    assert fixed_cost(tiny_space.config.skeleton, tiny_space.data).params > 0
