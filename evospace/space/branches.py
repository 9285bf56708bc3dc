"""Branch sets: what a multi-branch choice point holds in an architecture.

A multi-branch choice point (NSE, Ci et al. 2021) runs *several* operators at once and averages their
outputs; a residual point may also select none, which skips the block. An architecture still maps every
label to one string, so that caches, individuals, JSON files and fronts treat both kinds alike: a branch
set is written as its operators sorted by name and joined with ``+`` (``"conv_k3+skip"``), the empty set
as ``"none"``. Operator names never contain ``+`` and no family is called ``none``, so the text is
unambiguous. Sets, lists and tuples are accepted wherever an architecture comes in from a user
(:func:`branch_key` normalises them).

Example:
    >>> branch_key(["skip", "conv_k3"])
    'conv_k3+skip'
    >>> split_branches("conv_k3+skip")
    ('conv_k3', 'skip')
    >>> split_branches(EMPTY)
    ()
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["EMPTY", "SEPARATOR", "BranchBounds", "branch_key", "split_branches", "branch_choices"]

EMPTY = "none"  # the empty branch set: the block is skipped
SEPARATOR = "+"


@dataclass(frozen=True)
class BranchBounds:
    """How many operators a multi-branch choice point runs at once."""

    min: int  # fewest branches (0: the block may be skipped)
    max: int  # most branches

    def allows(self, count: int) -> bool:
        return self.min <= count <= self.max


def branch_key(ops: Iterable[str] | str) -> str:
    """The canonical text of a branch set: sorted operator names joined by ``+``, or ``none``.

    A string is taken as a branch set already written out (it is re-normalised).
    """
    if isinstance(ops, str):
        ops = split_branches(ops)
    names = sorted(set(ops))
    return SEPARATOR.join(names) if names else EMPTY


def split_branches(value: str) -> tuple[str, ...]:
    """The operators of a branch set's text (sorted by name); ``()`` for ``none``."""
    if value == EMPTY:
        return ()
    return tuple(value.split(SEPARATOR))


def branch_choices(ops: Sequence[str], bounds: BranchBounds) -> tuple[str, ...]:
    """Every branch set of ``ops`` allowed by ``bounds``, smallest first, then in ``ops`` order.

    Example:
        >>> branch_choices(("conv_k3", "skip"), BranchBounds(0, 2))
        ('none', 'conv_k3', 'skip', 'conv_k3+skip')
    """
    out = []
    for size in range(bounds.min, min(bounds.max, len(ops)) + 1):
        out.extend(branch_key(combo) for combo in itertools.combinations(ops, size))
    return tuple(out)
