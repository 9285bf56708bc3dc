"""Scores of one round's supernet: per architecture (cached) and per operator.

An operator's score for a metric is the mean of that metric over the architectures of the subspace that
contain it: every architecture for the angle (exact and vectorised, up to ``exhaustive_limit``), a
seeded uniform sample for accuracy (each evaluation is a BN recalibration plus a validation pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.distributed import Group
from evospace.errors import EvospaceError
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import AngleScorer
from evospace.metrics.magnitude import magnitude_table
from evospace.space.schema import ScoreConfig, SearchConfig, parse_score
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch, Subspace

__all__ = ["ARCH_METRICS", "CachedScorer", "RoundScorer", "magnitude_sums", "op_means", "covering_sample",
           "architecture_rows", "architecture_metrics", "every_architecture_metrics", "metrics_record"]

ARCH_METRICS = ("accuracy", "angle", "params", "flops")  # what a scorer knows of an architecture, in record order


def op_means(subspace: Subspace, indices: np.ndarray, values: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean of ``values`` over the architectures (index rows) containing each operator.

    At a multi-branch point an architecture contains every operator of its branch set.
    """
    out = {}
    for k, label in enumerate(subspace.labels):
        n_choices = len(subspace.choices(label))
        sums = np.bincount(indices[:, k], weights=values, minlength=n_choices)
        counts = np.bincount(indices[:, k], minlength=n_choices)
        if subspace.is_multi(label):
            member = subspace.membership(label)
            sums, counts = sums @ member, counts @ member
        out[label] = {op: float(sums[i] / counts[i]) if counts[i] else float("nan")
                      for i, op in enumerate(subspace.ops(label))}
    return out


class CachedScorer:
    """What every scorer of a round shares: a cache by architecture, evaluations dealt out across
    processes, and operator scores as means over architectures.

    Only the metrics asked for are computed (``metrics``, default: the scorer's :attr:`metrics`, those the run
    needs of every architecture); the cache keeps whatever was computed, so asking for more later (the front's
    accuracy) computes only that.

    Subclasses give ``_compute_many(archs, metrics)`` (those metrics of several architectures, sharing what they
    can), ``angle_indices(rows)`` and ``magnitude_indices(rows)`` (vectorised over index rows), and set
    ``space``, ``supernet``, ``config`` and ``group``.
    """

    space: SearchSpace
    supernet: object
    config: ScoreConfig
    group: Group

    def __init__(self, metrics: Sequence[str] = ARCH_METRICS) -> None:
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}
        self.metrics = tuple(m for m in ARCH_METRICS if m in metrics)  # computed for every architecture

    def _compute_many(self, archs: list[Arch], metrics: tuple[str, ...]) -> list[dict[str, float]]:
        raise NotImplementedError

    def angle_indices(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def magnitude_indices(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, arch: Arch, metrics: Sequence[str] | None = None) -> dict[str, float]:
        """``metrics`` of ``arch``: of ``accuracy`` (validation top-1, BN recalibrated), ``angle``, ``params``,
        ``flops`` (default: :attr:`metrics`), computed in this process alone."""
        wanted = self._wanted(metrics)
        key = tuple(arch[label] for label in self.space.labels)
        missing = tuple(m for m in wanted if m not in self._cache.get(key, {}))
        if missing:
            self._store(key, self._compute_many([arch], missing)[0])
        return {m: self._cache[key][m] for m in wanted}

    def evaluate_many(self, archs: Sequence[Arch], metrics: Sequence[str] | None = None) -> list[dict[str, float]]:
        """``metrics`` of each architecture; in a process group each rank evaluates a share and all get all.

        The new architectures are computed together (:meth:`_compute_many` shares their common prefixes).
        The cache fills in the order of ``archs`` on every rank, as it would in one process, so that
        everything downstream (the population, the cache's order) is the same whatever the world size.
        """
        wanted = self._wanted(metrics)
        labels = self.space.labels
        keys = [tuple(arch[label] for label in labels) for arch in archs]
        todo = list(dict.fromkeys(k for k in keys if any(m not in self._cache.get(k, {}) for m in wanted)))
        if todo:
            mine = self.group.shard(todo) if self.group.distributed else todo
            computed = self._compute_many([dict(zip(labels, key)) for key in mine], wanted)
            if self.group.distributed:
                computed = self.group.unshard(computed, len(todo), "evaluating architectures")
            for key, values in zip(todo, computed):
                self._store(key, values)
        return [{m: self._cache[key][m] for m in wanted} for key in keys]

    def evaluate_all(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        """Every metric of each architecture, what the front and the best record (see :meth:`evaluate_many`)."""
        return self.evaluate_many(archs, ARCH_METRICS)

    def _wanted(self, metrics: Sequence[str] | None) -> tuple[str, ...]:
        if metrics is None:
            return self.metrics
        unknown = [m for m in metrics if m not in ARCH_METRICS]
        if unknown:
            raise ValueError(f"unknown architecture metrics {unknown}; expected some of {', '.join(ARCH_METRICS)}")
        return tuple(m for m in ARCH_METRICS if m in metrics)

    def _store(self, key: tuple[str, ...], values: dict[str, float]) -> None:
        merged = {**self._cache.get(key, {}), **values}
        self._cache[key] = {m: merged[m] for m in ARCH_METRICS if m in merged}

    @property
    def evaluated(self) -> int:
        return len(self._cache)

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]:
        """Every architecture evaluated so far (operator names in label order) and its metrics."""
        return self._cache

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
        """``{label: {op: {metric: mean over the architectures containing op}}}``."""
        subspace = self.supernet.subspace
        per_metric: dict[str, dict[str, dict[str, float]]] = {}
        if "angle" in metrics or "magnitude" in metrics:
            idx = architecture_rows(subspace, rng, self.config.exhaustive_limit, self.config.angle_samples)
            if "angle" in metrics:
                per_metric["angle"] = op_means(subspace, idx, self.angle_indices(idx))
            if "magnitude" in metrics:
                per_metric["magnitude"] = op_means(subspace, idx, self.magnitude_indices(idx))
        if "accuracy" in metrics:
            idx = covering_sample(subspace, rng, self.config.accuracy_samples)
            values = np.array([m["accuracy"] for m in self.evaluate_many([subspace.decode(row) for row in idx],
                                                                         ("accuracy",))])
            per_metric["accuracy"] = op_means(subspace, idx, values)
        return {label: {op: {m: table[label][op] for m, table in per_metric.items()} for op in subspace.ops(label)}
                for label in subspace.labels}


def magnitude_sums(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each architecture's summed operator magnitudes, from a ``[choice point, operator]`` table."""
    return table[np.arange(table.shape[0])[None, :], rows].sum(axis=1)


class RoundScorer(CachedScorer):
    """Metrics of architectures of one trained supernet, cached by architecture.

    Args:
        space: the search space (costs).
        supernet: the trained supernet of the round.
        reference: angle reference weights (``V0``).
        data: data splits on the supernet's device.
        config: scoring settings.
        batch_size, recalibration_batches: BN recalibration sample.
        group: the run's processes; :meth:`evaluate_many` deals architectures out across them.
        metrics: what every architecture gets by default (:func:`every_architecture_metrics`); others on request.
    """

    def __init__(self, space: SearchSpace, supernet, reference: dict[str, torch.Tensor], data: DataSplits,
                 config: ScoreConfig, *, batch_size: int, recalibration_batches: int, seed: int,
                 group: Group | None = None, metrics: Sequence[str] = ARCH_METRICS) -> None:
        super().__init__(metrics)
        self.space = space
        self.group = group or Group()
        self.supernet = supernet
        self.config = config
        self.angle = AngleScorer(supernet, reference, config.angle_definition)
        self.accuracy = AccuracyEvaluator(data, batch_size=batch_size, batches=recalibration_batches, seed=seed)

    def _compute_many(self, archs: list[Arch], metrics: tuple[str, ...]) -> list[dict[str, float]]:
        accuracies = self.accuracy.accuracy_many(self.supernet, archs) if "accuracy" in metrics else [None] * len(archs)
        return [architecture_metrics(self.space, arch, metrics, accuracy=accuracy, angle=self.angle.score)
                for arch, accuracy in zip(archs, accuracies)]

    def angle_indices(self, rows: np.ndarray) -> np.ndarray:
        return self.angle.score_indices(rows)

    def magnitude_indices(self, rows: np.ndarray) -> np.ndarray:
        return magnitude_sums(magnitude_table(self.supernet), rows)


def architecture_metrics(space: SearchSpace, arch: Arch, metrics: Sequence[str], *, accuracy: float | None,
                         angle: Callable[[Arch], float]) -> dict[str, float]:
    """``metrics`` of ``arch`` (in :data:`ARCH_METRICS` order): its accuracy as given, its angle from ``angle``,
    its costs from the space."""
    out: dict[str, float] = {}
    if "accuracy" in metrics:
        out["accuracy"] = float(accuracy)
    if "angle" in metrics:
        out["angle"] = angle(arch)
    if "params" in metrics or "flops" in metrics:
        cost = space.cost(arch)
        out.update({m: float(getattr(cost, m)) for m in ("params", "flops") if m in metrics})
    return out


def every_architecture_metrics(search: SearchConfig) -> tuple[str, ...]:
    """The metrics a search computes for every architecture it scores: its objectives, its shrink score's metrics,
    ``search.scoring.record`` and the costs. The others (accuracy, when the angle decides) only for the front."""
    needed = {*search.objectives, *parse_score(search.shrink.score), *search.scoring.record, "params", "flops"}
    return tuple(m for m in ARCH_METRICS if m in needed)


def metrics_record(search: SearchConfig) -> dict[str, list[str]]:
    """What ``run.yaml`` says a supernet search computes: for every architecture scored, and for the front only."""
    every = every_architecture_metrics(search)
    # metrics a round extension adds (the calibrated score) are computed for every architecture scored too
    added = [m for m in (*search.objectives, *parse_score(search.shrink.score)) if m not in ARCH_METRICS]
    return {"every_architecture": list(every) + list(dict.fromkeys(added)),
            "front_only": [m for m in ARCH_METRICS if m not in every]}


def covering_sample(subspace: Subspace, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform index rows, plus one row for any operator the draw missed (so every mean exists).

    At a multi-branch point the extra row takes a branch set holding the missed operator, drawn uniformly.
    """
    idx = subspace.sample_indices(rng, n)
    extra = []
    for k, label in enumerate(subspace.labels):
        seen = np.bincount(idx[:, k], minlength=len(subspace.choices(label)))
        member = subspace.membership(label) if subspace.is_multi(label) else None
        if member is not None:
            seen = seen @ member
        for i in np.flatnonzero(seen == 0):
            row = subspace.sample_indices(rng, 1)[0]
            if member is None:
                row[k] = i
            else:
                holding = np.flatnonzero(member[:, i])
                row[k] = holding[int(rng.integers(len(holding)))]
            extra.append(row)
    return np.concatenate([idx, np.array(extra, dtype=idx.dtype)]) if extra else idx


def architecture_rows(subspace: Subspace, rng: np.random.Generator, exhaustive_limit: int,
                      samples: int | None) -> np.ndarray:
    """The architectures an operator score averages over: all of them, or a covering sample above the limit.

    Raises:
        EvospaceError: the subspace is larger than ``exhaustive_limit`` and no sample size is given.
    """
    if subspace.size <= exhaustive_limit:
        return subspace.all_indices()
    if samples is None or samples < 1:
        raise EvospaceError(f"the subspace has {subspace.size:,} architectures, more than the exhaustive limit "
                            f"({exhaustive_limit:,}); set search.scoring.angle_samples to score a sample of them")
    return covering_sample(subspace, rng, samples)
