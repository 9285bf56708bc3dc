"""Round extensions: optional features that join a supernet's round without the backend knowing them.

See :mod:`evospace.extensions.base` for the protocol and its call order. :func:`for_space` is the one place
that maps a space's settings to the extensions in play.
"""

from __future__ import annotations

from evospace.extensions.base import (
    AddedMetrics,
    EpochReport,
    Removal,
    RoundExtension,
    RoundHooks,
    Scorer,
    SupernetRound,
    evaluated_op_means,
)
from evospace.extensions.calibrated_score import CalibratedScoring, anchor_epochs
from evospace.extensions.few_shot import FewShot
from evospace.extensions.learned_branches import LearnedBranches
from evospace.space.space import SearchSpace

__all__ = ["AddedMetrics", "CalibratedScoring", "EpochReport", "FewShot", "LearnedBranches", "Removal",
           "RoundExtension", "RoundHooks", "Scorer", "SupernetRound", "anchor_epochs", "evaluated_op_means",
           "for_space", "KNOWN"]

# Every extension, in the order the backend calls them (snapshots list their tensor groups and state in it).
KNOWN: tuple[type, ...] = (FewShot, LearnedBranches, CalibratedScoring)


def for_space(space: SearchSpace, net: SupernetRound) -> list[RoundExtension]:
    """The extensions ``space``'s search settings switch on (``search.few_shot``, ``search.branch_learning``)."""
    return [ext for cls in KNOWN if (ext := cls.for_space(space, net)) is not None]
