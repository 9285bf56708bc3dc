"""Subspaces: the active operators of every choice point, and the architectures they span.

An architecture is a plain ``{label: op_name}`` dict. Names, never indices, are what is stored: indices
change whenever a subspace changes. Indices exist only inside one subspace, for vectorised work
(:meth:`Subspace.encode`, :meth:`Subspace.all_indices`).

A multi-branch choice point (``bounds``) holds a *set* of its active operators in an architecture, written
as one string (:mod:`evospace.space.branches`): ``{"s1.b1": "conv_k3+skip"}``. Its *choices* are every
allowed set; everything indexed (encoding, sampling, size) runs over choices, while the subspace algebra
(shrink, grow, diff) runs over operators. A single-branch choice point's choices are its operators.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from evospace.errors import EvospaceError
from evospace.space.branches import BranchBounds, branch_choices, branch_key, split_branches

__all__ = ["Arch", "Subspace", "SubspaceDiff", "InactiveOpError"]

Arch = dict[str, str]


class InactiveOpError(EvospaceError):
    """An architecture names a choice point or operator that the subspace does not hold."""


@dataclass(frozen=True)
class SubspaceDiff:
    """Operators that entered (``added``) and left (``removed``) each choice point."""

    added: dict[str, tuple[str, ...]]
    removed: dict[str, tuple[str, ...]]

    def is_empty(self) -> bool:
        return not self.added and not self.removed


class Subspace:
    """Active operators per choice point, in a stable order (the order they became active).

    Immutable: every change returns a new subspace.

    Example:
        >>> s = Subspace({"s1.b1": ("conv_k3", "skip"), "s1.b2": ("sep_k5",)})
        >>> s.size
        2
        >>> s.add("s1.b2", ["skip"]).diff(s).added
        {'s1.b2': ('skip',)}
    """

    __slots__ = ("_active", "_bounds", "_choices", "_members")

    def __init__(self, active: Mapping[str, tuple[str, ...] | list[str]],
                 bounds: Mapping[str, BranchBounds] | None = None) -> None:
        cleaned: dict[str, tuple[str, ...]] = {}
        for label, ops in active.items():
            ops = tuple(ops)
            if len(set(ops)) != len(ops):
                raise ValueError(f"choice point {label!r} lists an operator twice: {ops}")
            cleaned[label] = ops
        self._active = cleaned
        self._bounds = {label: b for label, b in (bounds or {}).items() if label in cleaned}
        self._choices: dict[str, tuple[str, ...]] = {}  # listed on first use, like the membership tables
        self._members: dict[str, np.ndarray] = {}

    # -- reading ---------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._active)

    def ops(self, label: str) -> tuple[str, ...]:
        """The active operators of ``label``."""
        return self._active[label]

    def items(self):
        return self._active.items()

    @property
    def bounds(self) -> Mapping[str, BranchBounds]:
        """Branch bounds of the multi-branch choice points (absent: one operator per architecture); read-only."""
        return MappingProxyType(self._bounds)

    def is_multi(self, label: str) -> bool:
        return label in self._bounds

    def choices(self, label: str) -> tuple[str, ...]:
        """What an architecture may take at ``label``: an active operator, or an allowed branch set."""
        if label not in self._bounds:
            return self._active[label]
        if label not in self._choices:
            self._choices[label] = branch_choices(self._active[label], self._bounds[label])
        return self._choices[label]

    def branches(self, label: str, value: str) -> tuple[str, ...]:
        """The operators that ``value`` (an architecture's entry at ``label``) runs."""
        return split_branches(value) if label in self._bounds else (value,)

    def membership(self, label: str) -> np.ndarray:
        """``[choice, operator]`` booleans: whether each choice of ``label`` runs each active operator (read-only)."""
        if label not in self._members:
            ops = self._active[label]
            choices = self.choices(label)
            table = np.zeros((len(choices), len(ops)), dtype=bool)
            for c, value in enumerate(choices):
                for op in self.branches(label, value):
                    table[c, ops.index(op)] = True
            table.flags.writeable = False
            self._members[label] = table
        return self._members[label]

    @property
    def size(self) -> int:
        """Number of architectures: the product of the choice counts (0 if a choice point has none)."""
        return math.prod(self._count(label) for label in self._active)

    def _count(self, label: str) -> int:
        """How many choices ``label`` has, counted without listing the branch sets."""
        n = len(self._active[label])
        if label not in self._bounds:
            return n
        bounds = self._bounds[label]
        return sum(math.comb(n, size) for size in range(bounds.min, min(bounds.max, n) + 1))

    def normalize(self, arch: Mapping[str, object]) -> Arch:
        """``arch`` with every branch set in canonical text (sets, lists or unsorted text accepted)."""
        return {label: branch_key(value) if label in self._bounds else value  # type: ignore[arg-type]
                for label, value in arch.items()}

    def __contains__(self, arch: object) -> bool:
        if not isinstance(arch, Mapping) or set(arch) != set(self._active):
            return False
        return all(arch[label] in self.choices(label) for label in self._active)

    def check(self, arch: Mapping[str, str]) -> None:
        """Raise :class:`InactiveOpError` naming the first label or operator that is not active."""
        for label in arch:
            if label not in self._active:
                raise InactiveOpError(f"architecture names unknown choice point {label!r}; "
                                      f"the space has {', '.join(self._active)}")
        for label, ops in self._active.items():
            if label not in arch:
                raise InactiveOpError(f"architecture has no operator for choice point {label!r}")
            value = arch[label]
            if label in self._bounds:
                self._check_branches(label, value)
            elif value not in ops:
                raise InactiveOpError(f"operator {value!r} is not active at {label!r}; "
                                      f"active there: {', '.join(ops)}")

    def _check_branches(self, label: str, value: object) -> None:
        ops, bounds = self._active[label], self._bounds[label]
        if not isinstance(value, str):
            raise InactiveOpError(f"branch set at {label!r} must be written as text such as 'conv_k3+skip' "
                                  f"(Subspace.normalize turns a list into it), got {value!r}")
        if value in self.choices(label):
            return
        names = split_branches(value)
        for op in names:
            if op not in ops:
                raise InactiveOpError(f"operator {op!r} is not active at {label!r}; active there: {', '.join(ops)}")
        if not bounds.allows(len(names)):
            raise InactiveOpError(f"{label!r} runs {bounds.min} to {bounds.max} branches at once, "
                                  f"got {len(names)} ({value!r})")
        raise InactiveOpError(f"branch set {value!r} at {label!r} is not in canonical form; "
                              f"write {branch_key(names)!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subspace) and self._active == other._active and self._bounds == other._bounds

    def __hash__(self) -> int:
        return hash((tuple(self._active.items()), tuple(sorted(self._bounds.items(), key=lambda kv: kv[0]))))

    def __repr__(self) -> str:
        if self._bounds:
            return f"Subspace({self._active!r}, bounds={self._bounds!r})"
        return f"Subspace({self._active!r})"

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, arch: Mapping[str, str]) -> tuple[int, ...]:
        """Indices of the architecture's choices within this subspace."""
        self.check(arch)
        return tuple(self.choices(label).index(arch[label]) for label in self._active)

    def decode(self, indices: tuple[int, ...] | list[int] | np.ndarray) -> Arch:
        """The architecture with the given per-choice-point indices."""
        if len(indices) != len(self._active):
            raise InactiveOpError(f"expected {len(self._active)} indices, got {len(indices)}")
        return {label: self.choices(label)[int(i)] for label, i in zip(self._active, indices)}

    def all_indices(self) -> np.ndarray:
        """Every architecture as a row of indices, shape ``(size, choice points)``, in odometer order."""
        counts = [len(self.choices(label)) for label in self._active]
        grids = np.meshgrid(*[np.arange(c) for c in counts], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1) if grids else np.zeros((1, 0), int)

    def __iter__(self) -> Iterator[Arch]:
        """Every architecture, in the same order as :meth:`all_indices`."""
        labels = self.labels
        for combo in itertools.product(*(self.choices(label) for label in labels)):
            yield dict(zip(labels, combo))

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn uniformly, from the caller's generator.

        At a multi-branch point every allowed set is equally likely: the same law as switching each active
        operator on with probability 1/2 and drawing again until the set is allowed.
        """
        out = {}
        for label in self._active:
            choices = self.choices(label)
            out[label] = choices[int(rng.integers(len(choices)))]
        return out

    def sample_indices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` architectures drawn uniformly with replacement, as index rows ``(n, choice points)``."""
        counts = np.array([len(self.choices(label)) for label in self._active])
        return (rng.random((n, len(counts))) * counts).astype(np.int64)

    # -- algebra ---------------------------------------------------------------------------------
    def add(self, label: str, ops: list[str] | tuple[str, ...]) -> Subspace:
        """A subspace where ``ops`` are active at ``label`` too (appended, already active ones ignored)."""
        active = dict(self._active)
        active[label] = active[label] + tuple(op for op in ops if op not in active[label])
        return Subspace(active, self._bounds)

    def remove(self, label: str, ops: list[str] | tuple[str, ...]) -> Subspace:
        """A subspace where ``ops`` are no longer active at ``label``."""
        active = dict(self._active)
        active[label] = tuple(op for op in active[label] if op not in ops)
        return Subspace(active, self._bounds)

    def union(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: ops + tuple(o for o in other.ops(l) if o not in ops) for l, ops in self.items()},
                        self._bounds)

    def intersection(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: tuple(o for o in ops if o in other.ops(l)) for l, ops in self.items()}, self._bounds)

    def difference(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: tuple(o for o in ops if o not in other.ops(l)) for l, ops in self.items()},
                        self._bounds)

    def issubset(self, other: Subspace) -> bool:
        self._same_labels(other)
        return all(set(ops) <= set(other.ops(l)) for l, ops in self.items())

    def diff(self, before: Subspace) -> SubspaceDiff:
        """What entered and left each choice point going from ``before`` to this subspace."""
        self._same_labels(before)
        added = {l: tuple(o for o in ops if o not in before.ops(l)) for l, ops in self.items()}
        removed = {l: tuple(o for o in before.ops(l) if o not in ops) for l, ops in self.items()}
        return SubspaceDiff({l: v for l, v in added.items() if v}, {l: v for l, v in removed.items() if v})

    def _same_labels(self, other: Subspace) -> None:
        if self.labels != other.labels:
            raise ValueError("subspaces of different spaces (their choice points differ)")

    # -- persistence -----------------------------------------------------------------------------
    def with_active(self, active: Mapping[str, tuple[str, ...] | list[str]]) -> Subspace:
        """A subspace of the same choice points and branch bounds holding ``active``."""
        return Subspace(active, self._bounds)

    def to_config(self) -> dict[str, list[str]]:
        """Plain data: ``{label: [op, ...]}`` (branch bounds belong to the space, not to this record)."""
        return {label: list(ops) for label, ops in self._active.items()}

    @classmethod
    def from_config(cls, data: Mapping[str, list[str]], bounds: Mapping[str, BranchBounds] | None = None) -> Subspace:
        return cls({label: tuple(ops) for label, ops in data.items()}, bounds)
