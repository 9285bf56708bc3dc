"""A supernet seen one choice point at a time: what a prefix trie needs to share work between architectures.

Many architectures of one supernet share their first choices. If what the network computes up to choice point
k depends only on the choices at points 0..k (activations, and the BN statistics recalibrated from them in
train mode), every distinct prefix needs computing once (:mod:`evospace.metrics.prefix_eval`). A network with
that property describes itself as a :class:`PrefixNetwork`::

    state = root().run(x)                               # the stem: no choice
    for k in range(len(labels)):                         # choice points in evaluation order
        step = step(k, arch[:k + 1])
        state = step.combine(state, [unit.run(state) for unit in step.units])
    logits = finish(arch).run(state)

Units hold the modules (and so the BN layers) that run; ``combine`` only does arithmetic on their outputs.
Two choices at one point whose steps hold a unit of the same key compute it once from the same state (the same
operator in two branch sets of a multi-branch point). A module must belong to one unit of a path only, so that
its BN statistics are recalibrated from one input.

The chain (:class:`ChainPrefix`) has a tensor as its state. A cell supernet fits the same protocol with its
edges in topological order (each edge's source node complete before it runs) and a state holding the node
tensors and the partial sum of the node being built; the steps' sums must add the edges in the order the
cell's own forward adds them, so that the result is the same to the bit. When every cell repeats one
genotype, what follows the first cell depends on every choice: ``finish`` then runs the later cells and the
head (their BN layers recalibrated per architecture).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from evospace.space.branches import split_branches

__all__ = ["PrefixUnit", "PrefixStep", "PrefixNetwork", "ChainPrefix", "CellPrefix"]

State = Any  # whatever a network carries from one choice point to the next (a tensor for a chain)


@dataclass(frozen=True)
class PrefixUnit:
    """A module run on the state before its choice point."""

    key: Hashable  # two units with one key at one trie node compute the same output
    module: nn.Module  # what runs (its BN layers are the ones recalibrated)
    run: Callable[[State], torch.Tensor]  # the unit's output from the state (the root's: the first state)


@dataclass(frozen=True)
class PrefixStep:
    """What choosing one value at a choice point runs, and how the state moves on."""

    units: tuple[PrefixUnit, ...]  # run on the state before the choice point
    combine: Callable[[State, list[torch.Tensor]], State]  # next state from it and the units' outputs (no modules)


class PrefixNetwork(Protocol):
    """A network whose output up to choice point k depends only on the choices at points 0..k."""

    labels: tuple[str, ...]  # choice points in evaluation order

    def root(self) -> PrefixUnit:
        """What runs on the input before any choice point (the stem); its output is the first state."""

    def step(self, k: int, prefix: Sequence[str]) -> PrefixStep:
        """Choice point ``k`` set to ``prefix[k]``, after ``prefix[:k]``."""

    def finish(self, values: Sequence[str]) -> PrefixUnit:
        """What turns the state after the last choice point into logits."""


class ChainPrefix:
    """A chain supernet choice point by choice point: stem, one block per choice point, head.

    At a multi-branch point a block is the mean of its branch set's outputs (:func:`branch_mean`, the
    supernet's own arithmetic); each branch is a unit keyed by its operator, so sets sharing an operator
    run it once.
    """

    def __init__(self, supernet) -> None:
        self.supernet = supernet
        self.labels: tuple[str, ...] = supernet.space.labels
        self._multi = frozenset(supernet.space.branch_bounds)

    def root(self) -> PrefixUnit:
        return PrefixUnit("stem", self.supernet.stem, self.supernet.stem)

    def step(self, k: int, prefix: Sequence[str]) -> PrefixStep:
        label, value = self.labels[k], prefix[k]
        if label not in self._multi:
            module = self.supernet.op_module(label, value)
            return PrefixStep((PrefixUnit(value, module, module),), _only)
        units = tuple(PrefixUnit(op, m, m) for op, m in zip(split_branches(value),
                                                      self.supernet.block_modules(label, value)))
        return PrefixStep(units, branch_mean)

    def finish(self, values: Sequence[str]) -> PrefixUnit:
        return PrefixUnit("head", self.supernet.head, self.supernet.head)


class CellPrefix:
    """A cell supernet for the prefix trie, without sharing beyond the stem.

    Every cell repeats the genotype, so what follows the stem depends on every choice: the choice points run
    nothing (the state stays the stem's output) and ``finish`` runs the transitions, the cells and the head of
    one architecture, its BN layers recalibrated for it alone. The stem's output is computed once for all.
    """

    def __init__(self, supernet) -> None:
        self.supernet = supernet
        self.labels: tuple[str, ...] = supernet.space.labels

    def root(self) -> PrefixUnit:
        return PrefixUnit("stem", self.supernet.stem, self.supernet.stem)

    def step(self, k: int, prefix: Sequence[str]) -> PrefixStep:
        return PrefixStep((), _unchanged)

    def finish(self, values: Sequence[str]) -> PrefixUnit:
        arch = dict(zip(self.labels, values))
        body = nn.ModuleList([m for m in self.supernet.path_modules(arch) if m is not self.supernet.stem])
        return PrefixUnit(tuple(values), body, lambda x: self.supernet.head(self.supernet._cells(x, arch)))


def _unchanged(state: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    return state


def _only(state: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    return outputs[0]


def branch_mean(x: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    """The mean of a branch set's outputs, added in order; no branch passes ``x`` through (a skipped block)."""
    if not outputs:
        return x
    out = outputs[0]
    for y in outputs[1:]:
        out = out + y
    return out / len(outputs) if len(outputs) > 1 else out
