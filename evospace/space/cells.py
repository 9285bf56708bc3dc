"""The DAG inside a cell: which nodes are inputs, which edges exist, what the cell outputs.

Two cell types (``skeleton.cell``):

- ``nb201`` (NAS-Bench-201): node 0 is the cell's input, every later node sums one edge from each earlier
  node, and the last node is the output.
- ``darts`` (DARTS-style): nodes 0 and 1 are the outputs of the two previous cells; each of the ``nodes``
  intermediate nodes sums one edge from each of its ``inputs`` nearest predecessors (every predecessor when
  ``inputs`` is unset, as in DARTS's supernet), and the cell outputs the concatenation of the intermediate nodes.

An edge i → j is the choice point ``cell.e{j}_{i}``; labels are listed node by node, inputs in order (NAS-Bench-
201's string order for its cell).
"""

from __future__ import annotations

from dataclasses import dataclass

from evospace.space.schema import SkeletonConfig

__all__ = ["CellTopology", "cell_topology", "edge_label"]


@dataclass(frozen=True)
class CellTopology:
    """One cell type's DAG."""

    inputs: int  # input nodes (the previous cells' outputs): 1 for nb201, 2 for darts
    nodes: int  # every node, inputs included
    edges: tuple[tuple[int, int], ...]  # (source, target) of each edge, in label order
    outputs: tuple[int, ...]  # the nodes the cell outputs: one (nb201), or several concatenated (darts)

    @property
    def concat(self) -> bool:
        """Whether the output is a concatenation (its width is ``len(outputs)`` times a node's)."""
        return len(self.outputs) > 1

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(edge_label(i, j) for i, j in self.edges)

    @property
    def width(self) -> int:
        """The cell's output channels per channel of its nodes."""
        return len(self.outputs)


def edge_label(source: int, target: int) -> str:
    """``cell.e{target}_{source}``."""
    return f"cell.e{target}_{source}"


def cell_topology(skeleton: SkeletonConfig) -> CellTopology:
    """The DAG of a cell skeleton's cells."""
    if skeleton.cell == "darts":
        total = skeleton.nodes + 2
        edges = []
        for j in range(2, total):
            sources = range(j) if skeleton.inputs is None else range(max(0, j - skeleton.inputs), j)
            edges += [(i, j) for i in sources]
        return CellTopology(2, total, tuple(edges), tuple(range(2, total)))
    nodes = skeleton.nodes
    return CellTopology(1, nodes, tuple((i, j) for j in range(1, nodes) for i in range(j)), (nodes - 1,))
