"""The weight-sharing supernet of a chain skeleton, and stand-alone models of one architecture.

``Supernet.forward(x, arch)`` runs one path; the architecture is always an argument, never hidden state.
``Supernet.apply_subspace(subspace)`` drops removed operators and adds new ones with fresh weights while
every survivor keeps its exact tensors (the method is not called ``apply``: ``nn.Module.apply`` exists).
Every module's initial weights come from a seed of its own (run seed, choice point, operator, round of
birth), so building order never matters and resumed runs grow exactly the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from evospace.errors import SpaceError
from evospace.space.ops import create_op
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace, SubspaceDiff
from evospace.supernet.skeleton import init_seed, make_head, make_stem, module_key, seeded

__all__ = ["Supernet", "ChildNet", "build_model"]


def _require_chain(space: SearchSpace) -> None:
    if space.config.skeleton.kind != "chain":
        raise SpaceError(space.source, "skeleton.kind", "cell supernets are not built yet; use --oracle with a "
                                                        "tabular benchmark, e.g. --oracle bench/data/nb201_cifar10.csv")


def _make_op(space: SearchSpace, label: str, op: str, seed: int, born: int) -> nn.Module:
    cp = space.choice_point(label)
    return seeded(init_seed(seed, "op", label, op, born),
                  lambda: create_op(op, cp.c_in, cp.c_out, cp.stride, space.config.skeleton.dims))


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
        _require_chain(space)
        self.space = space
        self.seed = seed
        self.subspace = subspace
        self.stem = seeded(init_seed(seed, "stem"), lambda: make_stem(space))
        self.choices = nn.ModuleDict({
            module_key(label): nn.ModuleDict({op: _make_op(space, label, op, seed, 0) for op in subspace.ops(label)})
            for label in space.labels
        })
        self.head = seeded(init_seed(seed, "head"), lambda: make_head(space))
        self._keys = [(label, module_key(label)) for label in space.labels]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = self.stem(x)
        for label, key in self._keys:
            try:
                op = self.choices[key][arch[label]]
            except KeyError:
                self.subspace.check(arch)  # raises InactiveOpError naming the choice point or operator
                raise
            x = op(x)
        return self.head(x)

    def op_module(self, label: str, op: str) -> nn.Module:
        """The module of operator ``op`` at choice point ``label``."""
        return self.choices[module_key(label)][op]

    def path_modules(self, arch: Arch) -> list[nn.Module]:
        """Modules on ``arch``'s path, stem and head included, in forward order."""
        return [self.stem, *(self.choices[key][arch[label]] for label, key in self._keys), self.head]

    def apply_subspace(self, subspace: Subspace, round_index: int, inherit_weights: bool = True) -> SubspaceDiff:
        """Hold exactly ``subspace``'s operators: drop removed ones, add new ones with fresh weights.

        Survivors keep their tensors untouched (``inherit_weights``); with ``inherit_weights=False``
        every operator is re-initialised as if born in ``round_index``.
        """
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
        self.subspace = subspace
        device = next(self.stem.parameters()).device
        self.to(device)
        return diff

    def path_state_dict(self, arch: Arch) -> dict[str, torch.Tensor]:
        """The weights of ``arch``'s path, keyed for :class:`ChildNet` (loads with ``strict=True``)."""
        self.subspace.check(arch)
        state = {}
        for prefix, module in (("stem", self.stem), ("head", self.head)):
            for name, tensor in module.state_dict().items():
                state[f"{prefix}.{name}"] = tensor
        for label, key in self._keys:
            for name, tensor in self.choices[key][arch[label]].state_dict().items():
                state[f"blocks.{key}.{name}"] = tensor
        return state


class ChildNet(nn.Module):
    """A plain stand-alone model of one architecture: stem, one operator per choice point, head."""

    def __init__(self, space: SearchSpace, arch: Arch, seed: int = 0) -> None:
        super().__init__()
        _require_chain(space)
        space.full_subspace().check(arch)
        self.arch = dict(arch)
        self.stem = seeded(init_seed(seed, "stem"), lambda: make_stem(space))
        self.blocks = nn.ModuleDict({
            module_key(label): _make_op(space, label, arch[label], seed, 0) for label in space.labels
        })
        self.head = seeded(init_seed(seed, "head"), lambda: make_head(space))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks.values():
            x = block(x)
        return self.head(x)


def build_model(space: SearchSpace, arch: Arch, seed: int = 0) -> nn.Module:
    """A stand-alone ``nn.Module`` of ``arch``, initialised like a fresh supernet with the same seed.

    Raises:
        InactiveOpError: if ``arch`` misses a choice point or names an operator outside the pool.
    """
    return ChildNet(space, arch, seed)
