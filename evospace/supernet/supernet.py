"""The weight-sharing supernet of a chain or cell skeleton, and stand-alone models of one architecture.

``Supernet.forward(x, arch)`` runs one path; the architecture is always an argument, never hidden state.
``Supernet.apply_subspace(subspace)`` drops removed operators and adds new ones with fresh weights while
every survivor keeps its exact tensors (the method is not called ``apply``: ``nn.Module.apply`` exists).
Every module's initial weights come from a seed of its own (run seed, choice point, operator, round of
birth), so building order never matters and resumed runs grow exactly the same weights.

At a multi-branch choice point an architecture names a branch set (``"conv_k3+skip"``): the block's output
is the mean of those operators' outputs, and the empty set (``"none"``) passes its input through.

A cell skeleton (``supernet/cell.py``) holds, per edge and operator, one module per cell (an ``EdgeStack``),
plus a transition block per stage; everything else (sampling, inheritance, angle pieces) is per choice point
exactly as in a chain.
"""

from __future__ import annotations

import torch
from torch import nn

from evospace.run.rng import init_seed
from evospace.space.branches import split_branches
from evospace.space.cells import cell_topology
from evospace.space.ops import create_op
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace, SubspaceDiff
from evospace.supernet.cell import (
    Cell,
    DartsCell,
    cell_edges,
    cell_shapes,
    cell_sum,
    is_zero,
    make_edge_stack,
    make_preprocess,
    make_transitions,
)
from evospace.supernet.precision import place
from evospace.supernet.prefix import CellPrefix, ChainPrefix, branch_mean
from evospace.supernet.skeleton import make_head, make_stem, module_key, seeded

__all__ = ["Supernet", "ChildNet", "CellChildNet", "MultiBranch", "build_model"]


def _is_cell(space: SearchSpace) -> bool:
    return space.config.skeleton.kind == "cell"


def _make_op(space: SearchSpace, label: str, op: str, seed: int, born: int) -> nn.Module:
    if _is_cell(space):
        return seeded(init_seed(seed, "op", label, op, born), lambda: make_edge_stack(space, op))
    cp = space.choice_point(label)
    return seeded(init_seed(seed, "op", label, op, born),
                  lambda: create_op(op, cp.c_in, cp.c_out, cp.stride, space.config.skeleton.dims))


def _make_transitions(space: SearchSpace, seed: int, *round_index: int) -> nn.ModuleList:
    """A cell skeleton's blocks between stages (a chain has none: an empty list holds no weights)."""
    if not _is_cell(space):
        return nn.ModuleList()
    return seeded(init_seed(seed, "transitions", *round_index), lambda: make_transitions(space))


def _make_preprocess(space: SearchSpace, seed: int, *round_index: int) -> nn.ModuleList:
    """Each darts cell's two input convolutions (nothing for chains and NAS-Bench-201 cells)."""
    if not _is_cell(space):
        return nn.ModuleList()
    return seeded(init_seed(seed, "preprocess", *round_index), lambda: make_preprocess(space))


class Supernet(nn.Module):
    """Every active operator of a subspace, sharing one stem and one head.

    Args:
        space: the search space (skeleton, data shape).
        subspace: operators to hold at each choice point.
        seed: the run seed, from which every module's initial weights are derived.

    Example:
        >>> net = Supernet(space, space.initial_subspace())  # doctest: +SKIP
        >>> logits = net(x, space.initial_subspace().sample(rng))  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, subspace: Subspace, seed: int = 0) -> None:
        super().__init__()
        subspace = _with_bounds(space, subspace)
        self.space = space
        self.seed = seed
        self.subspace = subspace
        self.stem = seeded(init_seed(seed, "stem"), lambda: make_stem(space))
        self.choices = nn.ModuleDict({
            module_key(label): nn.ModuleDict({op: _make_op(space, label, op, seed, 0) for op in subspace.ops(label)})
            for label in space.labels
        })
        self.head = seeded(init_seed(seed, "head"), lambda: make_head(space))
        self.transitions = _make_transitions(space, seed)
        self.preprocess = _make_preprocess(space, seed)
        self._keys = [(label, module_key(label)) for label in space.labels]
        self._multi = frozenset(space.branch_bounds)
        self._cell = _is_cell(space)

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return self.forward_two_sample(x, arch, {})

    def forward_two_sample(self, x: torch.Tensor, arch: Arch,
                           pairs: dict[str, tuple[str, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """``arch``'s output, with gradients for branch probabilities at the points of ``pairs``.

        ``pairs[label] = (other, w_a, w_b)``: a second branch set drawn at ``label`` and the two sets'
        renormalised probabilities. The block's value is ``arch``'s set's output ``y_a``; the weights receive
        ``<grad, y_a>`` and ``<grad, y_b>`` (NSE's two-sample estimator, see supernet/branch_learning.py).
        """
        x = self.stem(x)
        if self._cell:
            return self.head(self._cells(x, arch))
        for label, key in self._keys:
            try:
                if label not in self._multi:
                    x = self.choices[key][arch[label]](x)
                    continue
                ops = self.choices[key]
                y_a = _mean_of([ops[op] for op in split_branches(arch[label])], x)
                if label in pairs:
                    other, w_a, w_b = pairs[label]
                    y_b = _mean_of([ops[op] for op in split_branches(other)], x)
                    y_a = y_a + (w_a - w_a.detach()) * y_a + (w_b - w_b.detach()) * y_b
            except KeyError:
                self.subspace.check(arch)  # raises InactiveOpError naming the choice point or operator
                raise
            x = y_a
        return self.head(x)

    def _cells(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Transitions and cells of a cell skeleton; every cell runs ``arch``'s operators (its own copies)."""
        topology = cell_topology(self.space.config.skeleton)
        try:
            stacks = [(edge, self.choices[key][arch[label]]) for (edge, _, _), (label, key)
                      in zip(cell_edges(topology), self._keys)]
        except KeyError:
            self.subspace.check(arch)  # raises InactiveOpError naming the choice point or operator
            raise
        outputs = list(topology.outputs) if topology.concat else None
        index = 0
        for transition, (_, _, _, cells) in zip(self.transitions, cell_shapes(self.space)):
            x = transition(x)
            before = x  # a darts cell's other input: the cell before the last (after a transition: its output)
            for _ in range(cells):
                edges = {edge: stack.copies[index] for edge, stack in stacks if not is_zero(stack.copies[index])}
                if topology.inputs == 1:
                    x = cell_sum([x], topology.nodes, edges)
                else:
                    pre0, pre1 = self.preprocess[index]
                    before, x = x, cell_sum([pre0(before), pre1(x)], topology.nodes, edges, outputs)
                index += 1
        return x

    def shared_modules(self) -> list[tuple[str, nn.Module]]:
        """The modules every path runs, by attribute name: stem, transitions (cells only), head."""
        return [("stem", self.stem), ("transitions", self.transitions), ("preprocess", self.preprocess),
                ("head", self.head)]

    def op_module(self, label: str, op: str) -> nn.Module:
        """The module of operator ``op`` at choice point ``label``."""
        return self.choices[module_key(label)][op]

    def block_modules(self, label: str, value: str) -> list[nn.Module]:
        """The operator modules that an architecture's entry ``value`` at ``label`` runs."""
        names = split_branches(value) if label in self._multi else (value,)
        return [self.choices[module_key(label)][op] for op in names]

    def prefix_network(self) -> ChainPrefix | CellPrefix:
        """This supernet choice point by choice point, for prefix-shared evaluation."""
        return CellPrefix(self) if self._cell else ChainPrefix(self)

    def path_modules(self, arch: Arch) -> list[nn.Module]:
        """Modules on ``arch``'s path, stem, transitions and head included (a cell's ``zero`` edges left out)."""
        ops = [m for label, _ in self._keys for m in self.block_modules(label, arch[label])
               if not (self._cell and arch[label] == "zero")]
        return [self.stem, *self.transitions, *self.preprocess, *ops, self.head]

    def apply_subspace(self, subspace: Subspace, round_index: int, inherit_weights: bool = True) -> SubspaceDiff:
        """Hold exactly ``subspace``'s operators: drop removed ones, add new ones with fresh weights.

        Survivors keep their tensors untouched (``inherit_weights``); with ``inherit_weights=False``
        every operator is re-initialised as if born in ``round_index``.
        """
        subspace = _with_bounds(self.space, subspace)
        diff = subspace.diff(self.subspace)
        for label, key in self._keys:
            current = self.choices[key]
            kept = {op: current[op] for op in subspace.ops(label) if op in current and inherit_weights}
            self.choices[key] = nn.ModuleDict({
                op: kept[op] if op in kept else _make_op(self.space, label, op, self.seed, round_index)
                for op in subspace.ops(label)
            })
        if not inherit_weights:
            self.stem = seeded(init_seed(self.seed, "stem", round_index), lambda: make_stem(self.space))
            self.head = seeded(init_seed(self.seed, "head", round_index), lambda: make_head(self.space))
            self.transitions = _make_transitions(self.space, self.seed, round_index)
            self.preprocess = _make_preprocess(self.space, self.seed, round_index)
        self.subspace = subspace
        place(self, next(self.stem.parameters()).device, self.space.config.skeleton.dims)  # new modules join it
        return diff

    def path_state_dict(self, arch: Arch) -> dict[str, torch.Tensor]:
        """The weights of ``arch``'s path, keyed for :class:`ChildNet` (loads with ``strict=True``)."""
        self.subspace.check(arch)
        state = {}
        for prefix, module in (("stem", self.stem), ("head", self.head)):
            for name, tensor in module.state_dict().items():
                state[f"{prefix}.{name}"] = tensor
        if self._cell:
            return state | self._cell_state(arch)
        for label, key in self._keys:
            if label in self._multi:
                for op in split_branches(arch[label]):
                    for name, tensor in self.choices[key][op].state_dict().items():
                        state[f"blocks.{key}.branches.{op}.{name}"] = tensor
                continue
            for name, tensor in self.choices[key][arch[label]].state_dict().items():
                state[f"blocks.{key}.{name}"] = tensor
        return state


    def _cell_state(self, arch: Arch) -> dict[str, torch.Tensor]:
        """Transition and edge weights keyed as :class:`CellChildNet`'s ``body`` (transition, then its cells)."""
        state, position, index = {}, 0, 0
        edges = cell_edges(cell_topology(self.space.config.skeleton))
        for transition, (_, _, _, cells) in zip(self.transitions, cell_shapes(self.space)):
            for name, tensor in transition.state_dict().items():
                state[f"body.{position}.{name}"] = tensor
            position += 1
            for _ in range(cells):
                if len(self.preprocess):
                    for side, module in zip(("pre0", "pre1"), self.preprocess[index], strict=True):
                        for name, tensor in module.state_dict().items():
                            state[f"body.{position}.{side}.{name}"] = tensor
                for (edge, _, _), (label, key) in zip(edges, self._keys):
                    if arch[label] == "zero":
                        continue
                    for name, tensor in self.choices[key][arch[label]].copies[index].state_dict().items():
                        state[f"body.{position}.edges.{edge}.{name}"] = tensor
                position += 1
                index += 1
        return state


def _with_bounds(space: SearchSpace, subspace: Subspace) -> Subspace:
    """``subspace`` carrying the space's branch bounds (a hand-made subspace may lack them)."""
    return subspace if subspace.bounds == space.branch_bounds else space.subspace(subspace.to_config())


def _mean_of(modules: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """The mean of the branches' outputs; no branch passes ``x`` through (a skipped block)."""
    return branch_mean(x, [module(x) for module in modules])


class MultiBranch(nn.Module):
    """A multi-branch block: the mean of its branches' outputs, or its input when it has none.

    Self-contained on purpose (it does not call ``_mean_of``): model.py copies its source.
    """

    def __init__(self, branches: dict[str, nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleDict(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.branches) == 0:
            return x
        outputs = [branch(x) for branch in self.branches.values()]
        return sum(outputs[1:], outputs[0]) / len(outputs)


class ChildNet(nn.Module):
    """A plain stand-alone model of one architecture: stem, one operator per choice point, head."""

    def __init__(self, space: SearchSpace, arch: Arch, seed: int = 0) -> None:
        super().__init__()
        full = space.full_subspace()
        arch = full.normalize(arch)
        full.check(arch)
        self.arch = dict(arch)
        self.stem = seeded(init_seed(seed, "stem"), lambda: make_stem(space))
        multi = space.branch_bounds
        self.blocks = nn.ModuleDict({
            module_key(label): MultiBranch({op: _make_op(space, label, op, seed, 0)
                                            for op in split_branches(arch[label])})
            if label in multi else _make_op(space, label, arch[label], seed, 0)
            for label in space.labels
        })
        self.head = seeded(init_seed(seed, "head"), lambda: make_head(space))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks.values():
            x = block(x)
        return self.head(x)


class CellChildNet(nn.Module):
    """A plain stand-alone model of one cell architecture: stem, ``body`` (each stage's transition block, then
    its cells), head. Every cell runs ``arch``; its ``zero`` edges hold no module."""

    def __init__(self, space: SearchSpace, arch: Arch, seed: int = 0) -> None:
        super().__init__()
        full = space.full_subspace()
        full.check(arch)
        self.arch = dict(arch)
        topology = cell_topology(space.config.skeleton)
        self.stem = seeded(init_seed(seed, "stem"), lambda: make_stem(space))
        stacks = {label: _make_op(space, label, arch[label], seed, 0) for label in space.labels}
        preprocess = _make_preprocess(space, seed)
        edges = cell_edges(topology)
        body: list[nn.Module] = []
        index = 0
        for transition, (_, _, _, cells) in zip(_make_transitions(space, seed), cell_shapes(space)):
            body.append(transition)
            for _ in range(cells):
                ops = {edge: stacks[label].copies[index] for (edge, _, _), label in zip(edges, space.labels)
                       if arch[label] != "zero"}
                body.append(Cell(topology.nodes, ops) if topology.inputs == 1 else
                            DartsCell(topology.nodes, ops, *preprocess[index]))
                index += 1
        # NAS-Bench-201 cells chain; darts cells also read the cell before the last (a ModuleList, see forward)
        self.body = nn.Sequential(*body) if topology.inputs == 1 else nn.ModuleList(body)
        self.head = seeded(init_seed(seed, "head"), lambda: make_head(space))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if isinstance(self.body, nn.Sequential):
            return self.head(self.body(x))
        before = x
        for block in self.body:
            if isinstance(block, DartsCell):
                before, x = x, block(before, x)
            else:  # a transition: both inputs of the next cell are its output
                x = block(x)
                before = x
        return self.head(x)


def build_model(space: SearchSpace, arch: Arch, seed: int = 0) -> nn.Module:
    """A stand-alone ``nn.Module`` of ``arch``, initialised like a fresh supernet with the same seed.

    At a multi-branch choice point ``arch`` may give the branch set as text (``"conv_k3+skip"``) or as a
    list or set of operator names.

    Raises:
        InactiveOpError: if ``arch`` misses a choice point or names an operator outside the pool.
    """
    return CellChildNet(space, arch, seed) if _is_cell(space) else ChildNet(space, arch, seed)
