"""Objectives by name: what ``search.objectives`` and ``search.constraints.max/min`` may name.

An objective is a number per architecture with a direction. The built-in ones are measured by evospace
itself: a backend's scorer gives ``accuracy``, ``angle``, ``params`` and ``flops`` (and ``latency``, for a
tabular oracle); a supernet search measures ``latency`` on its own device (:mod:`evospace.metrics.latency`).
:func:`register_objective` adds one of the user's: a function of the architecture (or of its stand-alone
model) and a context.

The population maximises every objective; a minimised one is negated first. The first objective of a search
must be a *leading* one: a measure of quality that the search is about (the front is sorted by it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from evospace.errors import closest

__all__ = ["Objective", "ObjectiveFn", "register_objective", "objective", "list_objectives", "leading_objectives",
           "minimised",
           "UnknownObjectiveError", "BUILT_IN", "MAX_OBJECTIVES", "violation"]

Direction = Literal["maximize", "minimize"]
# fn(arch_or_model, context) -> a number; context: evospace.evolve.objectives.ObjectiveContext
ObjectiveFn = Callable[[Any, Any], float]


@dataclass(frozen=True)
class Objective:
    """A named per-architecture number and the direction the search pushes it."""

    name: str
    direction: Direction
    fn: ObjectiveFn | None = None  # None: built in (a backend's scorer, or evospace's own measurement)
    on: Literal["arch", "model"] = "arch"  # what fn receives first: the architecture, or its stand-alone model
    leads: bool = False  # may come first in search.objectives: a measure of quality the search maximises

    @property
    def minimised(self) -> bool:
        return self.direction == "minimize"


BUILT_IN = (
    Objective("score", "maximize", leads=True),  # the calibrated score (search.scoring, extensions/calibrated_score.py)
    Objective("accuracy", "maximize", leads=True),  # validation top-1 of the supernet (BN recalibrated) or the table
    Objective("angle", "maximize", leads=True),  # the angle metric of the supernet's weights (metrics/angle.py)
    Objective("params", "minimize"),  # parameters of the stand-alone model
    Objective("flops", "minimize"),  # FLOPs per sample of the stand-alone model
    Objective("latency", "minimize"),  # ms: a tabular oracle's column, else measured on the device (per-operator table)
)

MAX_OBJECTIVES = 6  # a search optimises at most this many at once (evolve/population.py defines their fitnesses)
_OBJECTIVES: dict[str, Objective] = {o.name: o for o in BUILT_IN}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class UnknownObjectiveError(ValueError):
    """A space names an objective that is not registered."""


def register_objective(name: str, fn: ObjectiveFn, direction: Direction = "minimize", *,
                       on: Literal["arch", "model"] = "arch") -> None:
    """Make ``name`` usable in ``search.objectives`` and ``search.constraints.max``/``min``.

    Args:
        name: lower-case letters, digits and ``_``, starting with a letter.
        fn: ``fn(arch, context)`` (or ``fn(model, context)`` with ``on="model"``) returning a number. ``arch``
            is ``{label: operator}``; ``model`` its stand-alone ``nn.Module`` (untrained, eval mode, on the
            search's device); ``context`` gives ``space``, ``device``, ``run_dir``, ``cost(arch)``,
            ``model(arch)`` and ``latency(arch)``. Called once per architecture of a run, on rank 0 only; keep it
            deterministic (measure once and cache, as the built-in latency does), or a resumed run will not
            continue exactly.
        direction: ``"minimize"`` or ``"maximize"``.
        on: ``"arch"`` or ``"model"``: what ``fn`` receives first.

    Raises:
        ValueError: a malformed or taken name, an unknown direction, or ``fn`` not callable.

    Example:
        >>> evospace.register_objective("size_kb", lambda model, ctx: 4 * sum(  # doctest: +SKIP
        ...     p.numel() for p in model.parameters()) / 1024, "minimize", on="model")
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"objective name {name!r}: use lower-case letters, digits and _, starting with a letter")
    if name in _OBJECTIVES:
        raise ValueError(f"objective {name!r} is already registered")
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"objective {name!r}: direction must be 'minimize' or 'maximize', got {direction!r}")
    if on not in ("arch", "model"):
        raise ValueError(f"objective {name!r}: on must be 'arch' or 'model', got {on!r}")
    if not callable(fn):
        raise ValueError(f"objective {name!r}: fn must be callable, got {type(fn).__name__}")
    _OBJECTIVES[name] = Objective(name, direction, fn, on)


def objective(name: str) -> Objective:
    """The objective registered as ``name``.

    Raises:
        UnknownObjectiveError: listing the closest names and the known ones.
    """
    if name not in _OBJECTIVES:
        raise UnknownObjectiveError(f"unknown objective {name!r}{closest(name, _OBJECTIVES)}; expected one of "
                                    f"{', '.join(list_objectives())} (one of your own is registered with "
                                    f"evospace.register_objective; on the command line, --import the code that "
                                    f"registers it)")
    return _OBJECTIVES[name]


def list_objectives() -> list[str]:
    """Every registered name: the built-in ones first, in their order, then the user's."""
    return list(_OBJECTIVES)


def minimised(name: str) -> bool:
    """Whether the search pushes ``name`` down; a metric that is not registered (added by a round extension to a
    space built without validation) is maximised."""
    entry = _OBJECTIVES.get(name)
    return entry is not None and entry.minimised


def leading_objectives() -> list[str]:
    """The names that may come first in ``search.objectives``."""
    return [name for name, o in _OBJECTIVES.items() if o.leads]


def violation(metrics: dict[str, float], maximum: dict[str, float] | None, minimum: dict[str, float] | None) -> float:
    """How far ``metrics`` lie past the limits ``search.constraints.max`` and ``min``: the sum of the relative
    excesses (0: within every limit)."""
    total = 0.0
    for name, limit in (maximum or {}).items():
        if metrics[name] > limit:
            total += (metrics[name] - limit) / max(abs(limit), 1e-12)
    for name, limit in (minimum or {}).items():
        if metrics[name] < limit:
            total += (limit - metrics[name]) / max(abs(limit), 1e-12)
    return total
