"""A table of known results in place of the supernet: nothing to train, every query is an answer (and a cost).

:class:`OracleBackend` adapts any :class:`Oracle` (``evospace.bench.TabularOracle`` for NAS-Bench-201) to the
controller's :class:`~evospace.evolve.backend.Backend`; the controller never learns which table it is. Operator
scores come from the architectures already queried, so ranking operators costs no query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import torch

from evospace.evolve.backend import Backend
from evospace.extensions import evaluated_op_means
from evospace.space.ops import OpCost
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace

__all__ = ["Oracle", "OracleScorer", "OracleBackend"]


class Oracle(Protocol):
    """A table of known results: queries are the budget (raise ``BudgetExhausted`` once it is spent)."""

    queries: int

    def evaluate(self, arch: Arch) -> dict[str, float]: ...

    def cost(self, arch: Arch) -> OpCost: ...

    def op_cost(self, label: str, op: str) -> OpCost: ...


class OracleScorer:
    """Scores from an oracle; operator scores come from the architectures already queried (no new queries)."""

    def __init__(self, oracle: Oracle, subspace: Subspace, log: list[list[str]], labels: tuple[str, ...]) -> None:
        self.oracle = oracle
        self.subspace = subspace
        self.log = log
        self.labels = labels
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}

    @property
    def evaluated(self) -> int:
        return len(self._cache)

    def evaluate(self, arch: Arch) -> dict[str, float]:
        key = tuple(arch[label] for label in self.labels)
        if key not in self._cache:
            metrics = self.oracle.evaluate(arch)
            if list(key) not in self.log:
                self.log.append(list(key))
            self._cache[key] = metrics
        return self._cache[key]

    def evaluate_many(self, archs: list[Arch]) -> list[dict[str, float]]:
        """One by one: a table lookup costs nothing to share out, and queries must count in order."""
        return [self.evaluate(arch) for arch in archs]

    def evaluate_all(self, archs: list[Arch]) -> list[dict[str, float]]:
        """The same: a table row holds every metric."""
        return self.evaluate_many(archs)

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]:
        return self._cache

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict:
        """Means over every architecture queried so far in this subspace (asking the table again is free)."""
        archs = (dict(zip(self.labels, key)) for key in self.log)
        return evaluated_op_means(self.subspace, ((arch, self.oracle.evaluate(arch)) for arch in archs
                                                  if arch in self.subspace), metrics)


class OracleBackend(Backend):
    """An oracle in place of the supernet.

    Args:
        space: the search space.
        oracle: the table.
        spec: how to rebuild the oracle on resume (recorded in ``run.yaml``), e.g. ``{"table": path, "budget": N}``;
            its ``budget`` is the search's stop rule.
    """

    kind = "oracle"
    provides = ("accuracy", "angle", "params", "flops", "latency")  # a table's latency: its device's, not ours

    def __init__(self, space: SearchSpace, oracle: Oracle, spec: dict | None = None) -> None:
        self.space = space
        self.oracle = oracle
        self.spec = spec
        self.budget = (spec or {}).get("budget")
        self._subspace = space.initial_subspace()
        self.log: list[list[str]] = []  # queried architectures, in order (replayed on resume)

    @property
    def subspace(self) -> Subspace:
        return self._subspace

    def make_trainer(self, round_index: int, born: Mapping[str, Mapping[str, int]] | None = None) -> None:
        return None

    def scorer(self, round_index: int) -> OracleScorer:
        return OracleScorer(self.oracle, self._subspace, self.log, self.space.labels)

    def apply_subspace(self, subspace: Subspace, round_index: int, born: Mapping[str, Mapping[str, int]]) -> None:
        self._subspace = subspace

    def cost(self, arch: Arch) -> OpCost:
        return self.oracle.cost(arch)

    def op_cost(self, label: str, op: str) -> OpCost:
        return self.oracle.op_cost(label, op)

    def state(self) -> dict[str, Any]:
        return {"queried": self.log}

    def restore(self, trained: Subspace, tensors: Mapping[str, dict[str, torch.Tensor]], state: dict) -> None:
        self._subspace = trained
        self.log = [list(k) for k in state.get("queried", [])]
        for key in self.log:
            self.oracle.evaluate(dict(zip(self.space.labels, key)))
