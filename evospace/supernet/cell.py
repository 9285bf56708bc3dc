"""The NAS-Bench-201 cell skeleton: a DAG cell repeated in stages, with residual reduction blocks between them.

A cell has ``nodes`` nodes; node 0 is its input, node j (j ≥ 1) is the sum of one operator per earlier node
(edge ``cell.e{j}_{i}`` from node i), and the last node is its output. ``zero`` edges carry nothing. Every cell
of the network repeats one genotype (NAS-Bench-201's rule), but each cell has weights of its own, so an edge's
operator is one module per cell: :class:`EdgeStack` holds them, and a supernet keeps one stack per (edge,
operator) exactly as a chain keeps one module per (choice point, operator).

The macro skeleton is NAS-Bench-201's: stem (conv 3 + BN), for each stage its transition block (the ResNet
basic block of :class:`Reduction` when the stage strides or widens) then ``depth`` cells, and a head of BN →
ReLU → global average pooling → linear. ``space/costs.py`` counts this network; with NAS-Bench-201's macro
settings its parameters are the benchmark's for all 15,625 cells (``tests/space/test_nb201_costs.py``).
Convolutions on edges are ReLU → conv → BN, as NAS-Bench-201's ``ReLUConvBN``.

A DARTS-style cell (``skeleton.cell: darts``, :mod:`evospace.space.cells`) takes the two previous cells' outputs,
each through a ReLU → 1x1 conv → BN to the stage's width (its ``pre0``/``pre1``), and outputs its intermediate
nodes concatenated; after a transition block both of its inputs are the block's output. Everything else is
shared with the NAS-Bench-201 cell: edges, their operator stacks, the sums, the transitions and the head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from evospace.space.cells import CellTopology, cell_topology
from evospace.space.costs import STEM_KERNEL
from evospace.space.ops import Zero, conv_bn, create_op

if TYPE_CHECKING:
    from evospace.space.space import SearchSpace

__all__ = ["EdgeStack", "Cell", "DartsCell", "Reduction", "make_preprocess", "CellHead", "cell_edges", "cell_sum",
           "make_cell_stem", "make_reduction", "make_transitions", "make_edge_stack", "cell_shapes", "path_counts",
           "is_zero"]


def cell_edges(topology: CellTopology) -> list[tuple[str, int, int]]:
    """``(edge key, source node, target node)`` in the order a cell adds them (its labels' order)."""
    return [(f"e{j}_{i}", i, j) for i, j in topology.edges]


def cell_sum(states: list[torch.Tensor], nodes: int, edges: dict[str, nn.Module],
             outputs: list[int] | None = None) -> torch.Tensor:
    """A cell's output from its input nodes ``states``: each later node the sum, in source order, of its incoming
    edges present in ``edges``; the last node, or the ``outputs`` nodes concatenated along the channels.

    A missing key is a ``zero`` (or absent) edge; a node without any input is zeros. The supernet and the
    stand-alone cells both run this, so a path and its stand-alone model add the same tensors in the same order.
    """
    values = list(states)
    for j in range(len(states), nodes):
        total = None
        for i in range(j):
            edge = edges.get(f"e{j}_{i}")
            if edge is None:
                continue
            y = edge(values[i])
            total = y if total is None else total + y
        values.append(torch.zeros_like(values[-1]) if total is None else total)
    if outputs is None:
        return values[-1]
    return torch.cat([values[i] for i in outputs], dim=1)


class Cell(nn.Module):
    """One stand-alone cell: ``edges`` maps ``e{j}_{i}`` to the operator of edge i → j (``zero`` edges absent)."""

    def __init__(self, nodes: int, edges: dict[str, nn.Module]) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict(edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cell_sum([x], self.nodes, dict(self.edges.items()))


class DartsCell(nn.Module):
    """One stand-alone DARTS-style cell: its inputs (the two previous cells' outputs) through ``pre0``/``pre1``,
    then ``edges`` (absent: ``zero``), output the intermediate nodes concatenated."""

    def __init__(self, nodes: int, edges: dict[str, nn.Module], pre0: nn.Module, pre1: nn.Module) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict(edges)
        self.pre0 = pre0
        self.pre1 = pre1

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        return cell_sum([self.pre0(s0), self.pre1(s1)], self.nodes, dict(self.edges.items()),
                        list(range(2, self.nodes)))


class Reduction(nn.Module):
    """NAS-Bench-201's ResNet basic block between stages: ``shortcut(x) + conv_b(conv_a(x))`` (see
    :func:`make_reduction`). Built from its parts so that an exported model.py writes it out the same way."""

    def __init__(self, conv_a: nn.Module, conv_b: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.conv_a = conv_a
        self.conv_b = conv_b
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def make_reduction(c_in: int, c_out: int, stride: int, dims: int) -> Reduction:
    """ReLU-conv 3 (strided)-BN → ReLU-conv 3-BN, plus a shortcut: with a stride, average pooling then a 1x1 conv
    (no BN); for a width change only, ReLU-conv 1x1-BN. Counted by ``space/costs.py`` (``transition_cost``)."""
    if stride > 1:
        pool = (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(stride, stride=stride, padding=0, ceil_mode=True)
        conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(c_in, c_out, 1, stride=1, padding=0, bias=False)
        shortcut = nn.Sequential(pool, conv)
    else:
        shortcut = _relu_conv_bn(c_in, c_out, 1, 1, dims)
    return Reduction(_relu_conv_bn(c_in, c_out, 3, stride, dims), _relu_conv_bn(c_out, c_out, 3, 1, dims), shortcut)


class CellHead(nn.Module):
    """BN → ReLU → global average pooling → linear classifier (NAS-Bench-201's ``lastact`` and classifier)."""

    def __init__(self, channels: int, classes: int, dims: int) -> None:
        super().__init__()
        self.bn = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(x)).flatten(2).mean(dim=2))


class EdgeStack(nn.Module):
    """One operator of one edge in every cell of the network (``copies[c]`` serves cell c)."""

    def __init__(self, copies: list[nn.Module]) -> None:
        super().__init__()
        self.copies = nn.ModuleList(copies)


def _relu_conv_bn(c_in: int, c_out: int, k: int, stride: int, dims: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), *conv_bn(c_in, c_out, k, stride, dims, relu=False))


def _preactivated(module: nn.Module) -> nn.Module:
    """conv → BN → ReLU becomes ReLU → conv → BN (NAS-Bench-201's edge convolution); other operators unchanged.

    The layers are the same objects, so the operator's cost (``space/costs.py``) does not change.
    """
    if isinstance(module, nn.Sequential) and len(module) == 3 and isinstance(module[2], nn.ReLU):
        return nn.Sequential(module[2], module[0], module[1])
    return module


def cell_shapes(space: SearchSpace) -> list[tuple[int, int, int, int]]:
    """``(c_in, c_out, stride, cells)`` of each stage: its transition's shape and its number of cells."""
    skeleton = space.config.skeleton
    width = cell_topology(skeleton).width
    shapes, c_in = [], skeleton.stem.channels
    for stage in skeleton.stages:
        shapes.append((c_in, stage.channels, stage.stride, stage.depth))
        c_in = stage.channels * width
    return shapes


def make_cell_stem(space: SearchSpace) -> nn.Module:
    """Conv 3 → BN from the data's channels (NAS-Bench-201's stem has no ReLU: every edge conv starts with one)."""
    return conv_bn(space.data.channels, space.config.skeleton.stem.channels, STEM_KERNEL, 1,
                   space.config.skeleton.dims, relu=False)


def make_transitions(space: SearchSpace) -> nn.ModuleList:
    """One block per stage: :class:`Reduction` where the stage strides or widens, else identity."""
    dims = space.config.skeleton.dims
    return nn.ModuleList([make_reduction(c_in, c_out, stride, dims) if stride > 1 or c_in != c_out else nn.Identity()
                          for c_in, c_out, stride, _ in cell_shapes(space)])


def make_preprocess(space: SearchSpace) -> nn.ModuleList:
    """Per cell, ``[pre0, pre1]``: ReLU → 1x1 conv → BN of its two inputs (darts cells; none for nb201 cells)."""
    if cell_topology(space.config.skeleton).inputs == 1:
        return nn.ModuleList()
    dims, cells = space.config.skeleton.dims, []
    width = cell_topology(space.config.skeleton).width
    for _, c, _, depth in cell_shapes(space):
        before = last = c
        for _ in range(depth):
            cells.append(nn.ModuleList([_relu_conv_bn(before, c, 1, 1, dims), _relu_conv_bn(last, c, 1, 1, dims)]))
            before, last = last, c * width
    return nn.ModuleList(cells)


def make_edge_stack(space: SearchSpace, op: str) -> EdgeStack:
    """Operator ``op`` built for every cell, stage by stage, at the stage's width."""
    dims = space.config.skeleton.dims
    return EdgeStack([_preactivated(create_op(op, c, c, 1, dims))
                      for _, c, _, cells in cell_shapes(space) for _ in range(cells)])


def is_zero(module: nn.Module) -> bool:
    """Whether an edge's module is the ``zero`` operator (it is skipped rather than run)."""
    return isinstance(module, Zero)


def path_counts(zero: np.ndarray, topology: CellTopology) -> np.ndarray:
    """Per architecture and edge (label order), how many input → output paths of the cell run through it.

    ``zero`` is a boolean array ``(architectures, edges)``: where an edge is ``zero``. A path runs from an input
    node to an output node (each output node of a concatenation ends paths of its own). Paths through a ``zero``
    edge are dropped (ABS's rule for cells), so such an edge counts 0, and so does an edge no live path reaches.
    """
    edges, nodes = topology.edges, topology.nodes
    live = ~np.asarray(zero, dtype=bool)
    n = live.shape[0]
    into = np.zeros((n, nodes), dtype=np.int64)  # live paths from the inputs to each node
    into[:, :topology.inputs] = 1
    for e, (i, j) in enumerate(edges):
        into[:, j] += into[:, i] * live[:, e]
    out = np.zeros((n, nodes), dtype=np.int64)  # live paths from each node to an output
    out[:, list(topology.outputs)] = 1
    for e in reversed(range(len(edges))):
        i, j = edges[e]
        out[:, i] += out[:, j] * live[:, e]
    counts = np.stack([into[:, i] * out[:, j] for i, j in edges], axis=1)
    return counts * live
