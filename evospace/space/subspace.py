"""Subspaces: the active operators of every choice point, and the architectures they span.

An architecture is a plain ``{label: op_name}`` dict. Names, never indices, are what is stored: indices
change whenever a subspace changes. Indices exist only inside one subspace, for vectorised work
(:meth:`Subspace.encode`, :meth:`Subspace.all_indices`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from evospace.errors import EvospaceError

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

    __slots__ = ("_active",)

    def __init__(self, active: Mapping[str, tuple[str, ...] | list[str]]) -> None:
        cleaned: dict[str, tuple[str, ...]] = {}
        for label, ops in active.items():
            ops = tuple(ops)
            if len(set(ops)) != len(ops):
                raise ValueError(f"choice point {label!r} lists an operator twice: {ops}")
            cleaned[label] = ops
        self._active = cleaned

    # -- reading ---------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._active)

    def ops(self, label: str) -> tuple[str, ...]:
        return self._active[label]

    def items(self):
        return self._active.items()

    @property
    def size(self) -> int:
        """Number of architectures: the product of the active counts (0 if a choice point is empty)."""
        return math.prod(len(ops) for ops in self._active.values())

    def __contains__(self, arch: object) -> bool:
        if not isinstance(arch, Mapping) or set(arch) != set(self._active):
            return False
        return all(arch[label] in ops for label, ops in self._active.items())

    def check(self, arch: Mapping[str, str]) -> None:
        """Raise :class:`InactiveOpError` naming the first label or operator that is not active."""
        for label in arch:
            if label not in self._active:
                raise InactiveOpError(f"architecture names unknown choice point {label!r}; "
                                      f"the space has {', '.join(self._active)}")
        for label, ops in self._active.items():
            if label not in arch:
                raise InactiveOpError(f"architecture has no operator for choice point {label!r}")
            if arch[label] not in ops:
                raise InactiveOpError(f"operator {arch[label]!r} is not active at {label!r}; "
                                      f"active there: {', '.join(ops)}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subspace) and self._active == other._active

    def __hash__(self) -> int:
        return hash(tuple(self._active.items()))

    def __repr__(self) -> str:
        return f"Subspace({self._active!r})"

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, arch: Mapping[str, str]) -> tuple[int, ...]:
        """Indices of the architecture's operators within this subspace."""
        self.check(arch)
        return tuple(ops.index(arch[label]) for label, ops in self._active.items())

    def decode(self, indices: tuple[int, ...] | list[int] | np.ndarray) -> Arch:
        """The architecture with the given per-choice-point indices."""
        if len(indices) != len(self._active):
            raise InactiveOpError(f"expected {len(self._active)} indices, got {len(indices)}")
        return {label: ops[int(i)] for (label, ops), i in zip(self._active.items(), indices)}

    def all_indices(self) -> np.ndarray:
        """Every architecture as a row of indices, shape ``(size, choice points)``, in odometer order."""
        counts = [len(ops) for ops in self._active.values()]
        grids = np.meshgrid(*[np.arange(c) for c in counts], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1) if grids else np.zeros((1, 0), int)

    def __iter__(self) -> Iterator[Arch]:
        """Every architecture, in the same order as :meth:`all_indices`."""
        labels = self.labels
        for combo in itertools.product(*self._active.values()):
            yield dict(zip(labels, combo))

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn uniformly, from the caller's generator."""
        return {label: ops[int(rng.integers(len(ops)))] for label, ops in self._active.items()}

    def sample_indices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` architectures drawn uniformly with replacement, as index rows ``(n, choice points)``."""
        counts = np.array([len(ops) for ops in self._active.values()])
        return (rng.random((n, len(counts))) * counts).astype(np.int64)

    # -- algebra ---------------------------------------------------------------------------------
    def add(self, label: str, ops: list[str] | tuple[str, ...]) -> Subspace:
        """A subspace where ``ops`` are active at ``label`` too (appended, already active ones ignored)."""
        active = dict(self._active)
        active[label] = active[label] + tuple(op for op in ops if op not in active[label])
        return Subspace(active)

    def remove(self, label: str, ops: list[str] | tuple[str, ...]) -> Subspace:
        """A subspace where ``ops`` are no longer active at ``label``."""
        active = dict(self._active)
        active[label] = tuple(op for op in active[label] if op not in ops)
        return Subspace(active)

    def union(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: ops + tuple(o for o in other.ops(l) if o not in ops) for l, ops in self.items()})

    def intersection(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: tuple(o for o in ops if o in other.ops(l)) for l, ops in self.items()})

    def difference(self, other: Subspace) -> Subspace:
        self._same_labels(other)
        return Subspace({l: tuple(o for o in ops if o not in other.ops(l)) for l, ops in self.items()})

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
    def to_config(self) -> dict[str, list[str]]:
        """Plain data: ``{label: [op, ...]}``."""
        return {label: list(ops) for label, ops in self._active.items()}

    @classmethod
    def from_config(cls, data: Mapping[str, list[str]]) -> Subspace:
        return cls({label: tuple(ops) for label, ops in data.items()})
