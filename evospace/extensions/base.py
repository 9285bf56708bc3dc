"""Round extensions: optional features that join a supernet's round at fixed points.

Few-shot sub-supernets and branch learning are the two built in (``extensions/few_shot.py``,
``extensions/learned_branches.py``); the supernet backend calls every extension it holds, in order, and
knows none of them. A new feature (a predictor trained during the round, a zero-cost warm-up, ...) is a
subclass of :class:`RoundExtension` with a ``for_space(space, net)`` classmethod, plus its name in
``evospace.extensions.KNOWN``: no change to the backend or the controller (a new kind of journal line is added to
:mod:`evospace.run.events`, where every kind is defined).

Call order within round r (every hook is optional; ``net`` is the backend, see :class:`SupernetRound`)::

    after_step(net, trainer)                  after every weight step of the supernet's training
    after_epoch(net, trainer) -> EpochReport  after every epoch: metrics rows, operators that leave now
    after_training(net, r, hooks)             between training and scoring; snapshots through hooks.checkpoint
    scorer(net, r, scorer) -> Scorer          the round's scorer, kept, wrapped (to add a metric) or replaced
    sampler(r) -> rng -> arch | None          how the population's first generation is drawn
    op_extras() -> {label: {op: {...}}}       figures recorded beside the operator scores (state.json, inspect)
    subspace_changed(net)                     the supernet holds a new subspace (grown, shrunk or pruned)

Snapshots: ``tensors()`` adds named tensor groups (one safetensors file each), ``state()`` adds JSON entries
under the snapshot's ``backend`` key, and ``restore(net, tensors, state)`` reads them back after the supernet
was rebuilt. A hook that records writes typed events (:mod:`evospace.run.events`) and metrics rows through
:class:`RoundHooks`, or returns them (:class:`EpochReport`).

An extension that adds a per-architecture metric wraps the scorer with :class:`AddedMetrics`: the metric then
reaches the population's objectives, the front, ``population`` in ``state.json`` and, when a shrink score names
it, the operator scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.distributed import Group
from evospace.metrics.scores import op_means
from evospace.run.events import Event
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace

__all__ = ["RoundExtension", "SupernetRound", "RoundHooks", "Removal", "EpochReport", "Scorer", "AddedMetrics",
           "evaluated_op_means"]


class Scorer(Protocol):
    """Scores of one round: per architecture (cached) and per operator."""

    evaluated: int

    def evaluate(self, arch: Arch) -> dict[str, float]: ...

    def evaluate_many(self, archs: list[Arch]) -> list[dict[str, float]]: ...

    def evaluate_all(self, archs: list[Arch]) -> list[dict[str, float]]:
        """Every metric, also those the run computes for its front only (e.g. accuracy when the angle decides)."""

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict: ...

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]: ...


class SupernetRound(Protocol):
    """What the supernet backend lends its extensions (``net`` in every hook)."""

    space: SearchSpace
    data: DataSplits
    group: Group
    supernet: Any  # the weight-sharing supernet (evospace.supernet.Supernet)
    reference: dict[str, torch.Tensor]  # the angle's reference weights V0


@dataclass(frozen=True)
class RoundHooks:
    """What the controller lends an extension for work between training and scoring."""

    checkpoint: Callable[[int], None]  # write a snapshot now (argument: pieces of the work finished so far)
    record: Callable[[Event], None]  # append an event to events.jsonl
    metrics: Callable[[dict], None]  # append a row to metrics.jsonl

    @classmethod
    def ignored(cls) -> RoundHooks:
        """Hooks that write nothing (a backend driven outside a search, e.g. by a benchmark)."""
        return cls(lambda done: None, lambda event: None, lambda row: None)


@dataclass(frozen=True)
class Removal:
    """An operator that leaves its choice point within the round (recorded as an ``op_removed`` event)."""

    label: str
    op: str
    reason: str  # the rule that removed it, in words
    scores: dict[str, float]  # the figures that decided
    note: str = ""  # a few words for the log line, e.g. "p=0.052"


@dataclass(frozen=True)
class EpochReport:
    """What an extension reports after a training epoch."""

    rows: tuple[dict, ...] = ()  # metrics.jsonl rows, each with its "kind"
    removed: tuple[Removal, ...] = ()  # operators to remove now


class RoundExtension:
    """A feature that joins a supernet's round (see the module docstring for the call order); every hook is a no-op.

    Subclasses set :attr:`name` and override the hooks they need.
    """

    name: str = "extension"

    def after_step(self, net: SupernetRound, trainer) -> None:
        """After every weight step (``trainer.round``, ``.epoch``, ``.step`` say where)."""

    def after_epoch(self, net: SupernetRound, trainer) -> EpochReport:
        """After every training epoch (``trainer.epoch`` is the next one): figures and removals."""
        return EpochReport()

    def after_training(self, net: SupernetRound, round_index: int, hooks: RoundHooks) -> None:
        """Between the round's training and its scoring."""

    def scorer(self, net: SupernetRound, round_index: int, scorer: Scorer) -> Scorer:
        """The round's scorer as this extension leaves it: the same, wrapped or replaced."""
        return scorer

    def sampler(self, round_index: int) -> Callable[[np.random.Generator], Arch] | None:
        """How the population's first generation is drawn (``None``: this extension has no say)."""
        return None

    def op_extras(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per-operator figures recorded beside the scores, ``{label: {op: {name: value}}}``."""
        return {}

    def subspace_changed(self, net: SupernetRound) -> None:
        """The supernet now holds ``net.supernet.subspace``."""

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """Named tensor groups to snapshot (one ``NAME.safetensors`` file each; their keys' order is not kept)."""
        return {}

    def state(self) -> dict[str, Any]:
        """JSON-ready entries to snapshot under ``state.json``'s ``backend`` key."""
        return {}

    def restore(self, net: SupernetRound, tensors: Mapping[str, dict[str, torch.Tensor]],
                state: Mapping[str, Any]) -> None:
        """Read back what :meth:`tensors` and :meth:`state` wrote (``net`` holds the snapshot's supernet)."""


def evaluated_op_means(subspace: Subspace, evaluated: Iterable[tuple[Arch, Mapping[str, float]]],
                       metrics: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{label: {op: {metric: mean}}}`` over architectures of ``subspace`` already evaluated, in the given order.

    Costs no new evaluation. An operator that no evaluated architecture uses has no evidence: it ties with the
    worst operator of its choice point (0 if none has any).
    """
    rows, values = [], {m: [] for m in metrics}
    for arch, result in evaluated:
        rows.append(subspace.encode(arch))
        for m in metrics:
            values[m].append(result[m])
    idx = np.array(rows, dtype=np.int64).reshape(-1, len(subspace.labels))
    tables = {m: op_means(subspace, idx, np.array(v, dtype=float)) for m, v in values.items()}
    out: dict = {}
    for label in subspace.labels:
        out[label] = {op: {} for op in subspace.ops(label)}
        for m, table in tables.items():
            seen = [v for v in table[label].values() if v == v]
            floor = min(seen) if seen else 0.0
            for op in subspace.ops(label):
                value = table[label][op]
                out[label][op][m] = value if value == value else floor
    return out


@dataclass
class AddedMetrics:
    """A scorer with more per-architecture metrics: ``metrics(arch)`` merged into every evaluation.

    Operator scores of an added metric are its means over the architectures evaluated so far
    (:func:`evaluated_op_means`); the inner scorer answers for every other metric, exactly as before.

    Example:
        >>> scorer = AddedMetrics(scorer, lambda arch: {"predicted": predictor(arch)}, ("predicted",),  # doctest: +SKIP
        ...                       subspace, space.labels)
    """

    inner: Scorer
    metrics: Callable[[Arch], dict[str, float]]
    names: tuple[str, ...]  # the metrics ``metrics`` returns
    subspace: Subspace  # the subspace being scored
    labels: tuple[str, ...]  # the space's choice points, in order
    _added: dict[tuple[str, ...], dict[str, float]] = field(default_factory=dict)

    @property
    def evaluated(self) -> int:
        return self.inner.evaluated

    def _merged(self, arch: Arch, inner: dict[str, float]) -> dict[str, float]:
        key = tuple(arch[label] for label in self.labels)
        if key not in self._added:
            self._added[key] = self.metrics(arch)
        return {**inner, **self._added[key]}

    def evaluate(self, arch: Arch) -> dict[str, float]:
        return self._merged(arch, self.inner.evaluate(arch))

    def evaluate_many(self, archs: list[Arch]) -> list[dict[str, float]]:
        return [self._merged(arch, m) for arch, m in zip(archs, self.inner.evaluate_many(archs))]

    def evaluate_all(self, archs: list[Arch]) -> list[dict[str, float]]:
        return [self._merged(arch, m) for arch, m in zip(archs, self.inner.evaluate_all(archs))]

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]:
        return {key: self._merged(dict(zip(self.labels, key)), m) for key, m in self.inner.cached().items()}

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict:
        own = tuple(m for m in metrics if m in self.names)
        scores = self.inner.op_scores(rng, tuple(m for m in metrics if m not in self.names))
        if own:
            archs = ((dict(zip(self.labels, key)), m) for key, m in self.cached().items())
            added = evaluated_op_means(self.subspace, ((arch, m) for arch, m in archs if arch in self.subspace), own)
            for label, ops in added.items():
                for op, values in ops.items():
                    scores.setdefault(label, {}).setdefault(op, {}).update(values)
        return scores
