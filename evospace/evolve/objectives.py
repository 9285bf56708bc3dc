"""Objectives the backend does not measure: registered functions, and latency from the per-operator table.

A round's scorer gives what its backend measures (``Backend.provides``). Every other objective or limit a space
names is added to each evaluation by :class:`ObjectiveMetrics` (through
:class:`~evospace.extensions.AddedMetrics`, so the values reach the population, the front, ``state.json`` and
the operator scores alike). Under ``torchrun`` rank 0 alone computes them and shares the numbers, so every rank
decides on the same values even when a function measures something.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from evospace.distributed import Group, on_main
from evospace.errors import EvospaceError
from evospace.metrics.latency import LatencyTable, measure_table, table_for_run
from evospace.space.objectives import UnknownObjectiveError, objective
from evospace.space.ops import OpCost
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.supernet import build_model

__all__ = ["ObjectiveContext", "ObjectiveMetrics", "wanted_objectives"]


@dataclass
class ObjectiveContext:
    """What an objective function may use besides the architecture (its ``context`` argument).

    Attributes:
        space: the search space.
        device: the device the search runs on.
        run_dir: the run directory (``None`` outside a run), e.g. to cache measurements.
    """

    space: SearchSpace
    device: torch.device
    run_dir: Path | None = None
    log: Callable[[str], None] = lambda message: None
    _table: LatencyTable | None = field(default=None, repr=False)

    def cost(self, arch: Arch) -> OpCost:
        """Exact parameters and FLOPs of ``arch``'s stand-alone model."""
        return self.space.cost(arch)

    def model(self, arch: Arch) -> nn.Module:
        """``arch``'s stand-alone model: untrained, in eval mode, on :attr:`device`."""
        return build_model(self.space, arch).to(self.device).eval()

    def latency_table(self) -> LatencyTable:
        """The run's per-operator latency table (measured on first use, then read from ``run_dir``)."""
        if self._table is None:
            self._table = (table_for_run(self.space, self.run_dir, self.device, self.log) if self.run_dir is not None
                           else measure_table(self.space, self.device))
        return self._table

    def latency(self, arch: Arch) -> float:
        """``arch``'s latency on :attr:`device` (ms), summed from the table."""
        return self.latency_table().estimate(self.space, arch)


MEASURED_HERE = ("latency",)  # built-in objectives evospace measures itself when the backend does not


def wanted_objectives(space: SearchSpace, provided: Sequence[str]) -> tuple[str, ...]:
    """The objectives and limited names of ``space`` that evospace computes because a backend providing
    ``provided`` does not: registered functions, and latency. Any other name is the backend's (or a round
    extension's, through its scorer)."""
    limits = space.config.search.constraints
    names = list(space.config.search.objectives) + list(limits.max or {}) + list(limits.min or {})
    return tuple(dict.fromkeys(name for name in names if name not in provided and _computed_here(name)))


def _computed_here(name: str) -> bool:
    try:
        return objective(name).fn is not None or name in MEASURED_HERE
    except UnknownObjectiveError:
        return False


class ObjectiveMetrics:
    """``arch -> {name: value}`` for objectives a backend does not measure (see the module docstring).

    Raises (when called):
        EvospaceError: a function returned something other than a finite number.
    """

    def __init__(self, names: Sequence[str], context: ObjectiveContext, group: Group | None = None) -> None:
        self.names = tuple(names)
        self.context = context
        self.group = group or Group()

    def __call__(self, arch: Arch) -> dict[str, float]:
        return on_main(self.group, lambda: self._compute(arch), "computing objectives")

    def _compute(self, arch: Arch) -> dict[str, float]:
        out = {}
        model = None
        for name in self.names:
            entry = objective(name)
            if entry.fn is None:  # a built-in that the backend does not measure: latency, from the table
                value = self.context.latency(arch)
            elif entry.on == "model":
                model = model if model is not None else self.context.model(arch)
                with torch.no_grad():
                    value = entry.fn(model, self.context)
            else:
                value = entry.fn(dict(arch), self.context)
            out[name] = _number(name, value, arch)
        return out


def _number(name: str, value: object, arch: Arch) -> float:
    try:
        number = float(value)  # a Python or NumPy number, or a one-element tensor
    except (TypeError, ValueError):
        number = math.nan
        kind = type(value).__name__
    else:
        kind = repr(number)
    if not math.isfinite(number):
        raise EvospaceError(f"objective {name!r} returned {kind} for {arch}; it must return a finite number")
    return number
