"""Parameters and FLOPs of a space's architectures: the fixed parts counted by formula, the operators by module.

Below both the space and the supernet: :class:`~evospace.space.space.SearchSpace` asks here for its costs,
and the supernet builds the modules these counts describe (``supernet/skeleton.py``: the stem is conv 3 → BN
→ ReLU, the head global average pooling → linear; ``tests/space/test_costs.py`` holds each formula against
the module it counts). Nothing is built to count the fixed parts or the built-in operators (their families
register a formula, :func:`~evospace.space.ops.op_cost`): no tensor is allocated and no random draw is made, so a
space of absurd widths is refused by its size rather than by an allocation. An operator of a family registered
without a formula is counted from the module it builds, once per choice point and operator, on a forked random
stream.

Conventions (as :mod:`evospace.space.ops`): parameters are trainable tensors' elements (BN: weight and bias);
FLOPs are 2 per multiply-accumulate of convolutions and linear layers, per sample, nothing for normalisation,
activations or pooling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import torch

from evospace.data import DataInfo
from evospace.space.cells import cell_topology
from evospace.space.ops import OpCost, op_cost
from evospace.space.schema import SkeletonConfig

__all__ = ["STEM_KERNEL", "PointShape", "conv_cost", "stem_cost", "head_channels", "head_cost", "transition_cost",
           "fixed_cost", "cell_stages", "operator_costs", "times", "total"]

STEM_KERNEL = 3  # the stem's convolution width (supernet/skeleton.py builds it)


class PointShape(Protocol):
    """The shape of one choice point of a chain (``SearchSpace.choice_points`` hold these)."""

    label: str
    c_in: int
    c_out: int
    stride: int
    side: int


def times(cost: OpCost, n: int) -> OpCost:
    """``n`` copies of ``cost``."""
    return OpCost(cost.params * n, cost.flops * n)


def total(costs: Iterable[OpCost]) -> OpCost:
    """The sum of ``costs`` (zero for none)."""
    out = OpCost(0, 0)
    for cost in costs:
        out = out + cost
    return out


def _out_side(side: int, stride: int) -> int:
    return (side - 1) // stride + 1


def conv_cost(c_in: int, c_out: int, k: int, stride: int, dims: int, side: int, *, bn: bool = True
              ) -> tuple[OpCost, int]:
    """A convolution without bias (and its BN) on an input of side ``side``: its cost and its output side."""
    out = _out_side(side, stride)
    params = c_in * c_out * k**dims + (2 * c_out if bn else 0)
    return OpCost(params, 2 * c_out * c_in * k**dims * out**dims), out


def stem_cost(skeleton: SkeletonConfig, data: DataInfo) -> OpCost:
    """Conv ``STEM_KERNEL`` → BN → ReLU from the data's channels to ``skeleton.stem.channels``."""
    return conv_cost(data.channels, skeleton.stem.channels, STEM_KERNEL, 1, skeleton.dims, data.side)[0]


def head_channels(skeleton: SkeletonConfig) -> int:
    """Channels reaching the head: the last stage's (a darts cell outputs its intermediate nodes side by side)."""
    channels = skeleton.stages[-1].channels
    return channels * cell_topology(skeleton).width if skeleton.kind == "cell" else channels


def head_cost(skeleton: SkeletonConfig, data: DataInfo) -> OpCost:
    """Global average pooling and a linear classifier (with bias) on the last stage's channels."""
    channels = head_channels(skeleton)
    return OpCost(channels * data.classes + data.classes, 2 * channels * data.classes)


def transition_cost(c_in: int, c_out: int, stride: int, dims: int, side: int) -> OpCost:
    """NAS-Bench-201's ResNet basic block between the stages of a cell skeleton (nothing when the shape stays).

    conv 3 (strided) → conv 3, with a shortcut of average pooling and a 1x1 conv (no BN) when it strides, or a
    1x1 conv + BN when only the width changes. Counted this way, a cell space's costs are NAS-Bench-201's.
    """
    if stride == 1 and c_in == c_out:
        return OpCost(0, 0)
    first, out = conv_cost(c_in, c_out, 3, stride, dims, side)
    second, _ = conv_cost(c_out, c_out, 3, 1, dims, out)
    if stride > 1:
        shortcut, _ = conv_cost(c_in, c_out, 1, 1, dims, _out_side(side, stride), bn=False)
    else:
        shortcut, _ = conv_cost(c_in, c_out, 1, 1, dims, side)
    return first + second + shortcut


def fixed_cost(skeleton: SkeletonConfig, data: DataInfo) -> OpCost:
    """The parts every architecture has: stem and head (cells: also the transitions and the BN before the head;
    darts cells: also each cell's two 1x1 input convolutions)."""
    cost = stem_cost(skeleton, data) + head_cost(skeleton, data)
    if skeleton.kind != "cell":
        return cost
    topology = cell_topology(skeleton)
    c_in, side = skeleton.stem.channels, data.side
    for stage in skeleton.stages:
        cost = cost + transition_cost(c_in, stage.channels, stage.stride, skeleton.dims, side)
        side = _out_side(side, stage.stride)
        c_in = stage.channels
        if topology.inputs == 2:  # after the transition both inputs are its output, then the two previous cells'
            before, last = c_in, c_in
            for _ in range(stage.depth):
                for width in (before, last):
                    cost = cost + conv_cost(width, stage.channels, 1, 1, skeleton.dims, side)[0]
                before, last = last, stage.channels * topology.width
            c_in = last
    return cost + OpCost(2 * c_in, 0)  # the BN before the head


def cell_stages(skeleton: SkeletonConfig, side: int) -> list[tuple[int, int, int]]:
    """``(channels, side, cells)`` of each stage of a cell skeleton, after its transition block."""
    stages = []
    for stage in skeleton.stages:
        side = _out_side(side, stage.stride)
        stages.append((stage.channels, side, stage.depth))
    return stages


def operator_costs(skeleton: SkeletonConfig, data: DataInfo, points: Sequence[PointShape],
                   pool: Sequence[str]) -> dict[tuple[str, str], OpCost]:
    """``{(label, op): cost}`` of every pool operator at every choice point.

    In a cell skeleton an edge's operator stands in every cell of every stage, at that stage's width and side.
    """
    # modules are built only to be counted: keep their random initialisation off the global stream
    with torch.random.fork_rng(devices=[]):
        if skeleton.kind == "cell":
            stages = cell_stages(skeleton, data.side)
            return {(point.label, op): total(times(op_cost(op, c, c, 1, skeleton.dims, side), depth)
                                             for c, side, depth in stages)
                    for point in points for op in pool}
        return {(point.label, op): op_cost(op, point.c_in, point.c_out, point.stride, skeleton.dims, point.side)
                for point in points for op in pool}

