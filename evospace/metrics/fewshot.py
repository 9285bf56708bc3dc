"""Scores of a round split into few-shot sub-supernets: each architecture is scored by the one that owns it.

The owner of an architecture is the sub-supernet whose split operators it uses
(:class:`~evospace.supernet.fewshot.SubSupernets`). Angles come from per-owner piece statistics against the
same reference ``V0`` as the one-shot supernet, so the angles of different owners are on one scale; accuracy
swaps the owner's delta into the supernet before the BN recalibration and validation pass. Operator scores
are means over architectures as in :class:`~evospace.metrics.scores.RoundScorer`, whose interface this
class shares (``evaluate``, ``evaluate_many``, ``op_scores``, ``cached``, ``evaluated``). In a process group
every rank holds every sub-supernet (they are trained alike on each rank), so ``evaluate_many`` deals the
architectures out across ranks as ``RoundScorer`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.distributed import Group
from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import AngleScorer
from evospace.metrics.magnitude import magnitude_table
from evospace.metrics.scores import architecture_rows, covering_sample, op_means
from evospace.space.schema import ScoreConfig
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.fewshot import SubSupernets

__all__ = ["FewShotScorer"]


class FewShotScorer:
    """Metrics of architectures of a split round, each from the sub-supernet that owns it; cached.

    Args:
        space: the search space (costs).
        sub: the trained sub-supernets (every owner finished).
        reference: angle reference weights (``V0``), the one-shot supernet's.
        data: data splits on the supernet's device.
        config: scoring settings.
        batch_size, recalibration_batches, seed: BN recalibration sample, as for ``RoundScorer``.
        group: the run's processes; :meth:`evaluate_many` deals architectures out across them.
    """

    def __init__(self, space: SearchSpace, sub: SubSupernets, reference: dict[str, torch.Tensor], data: DataSplits,
                 config: ScoreConfig, *, batch_size: int, recalibration_batches: int, seed: int,
                 group: Group | None = None) -> None:
        if not sub.complete:
            raise ValueError(f"sub-supernets {sub.pending} of round {sub.round} are not trained yet")
        self.space = space
        self.group = group or Group()
        self.sub = sub
        self.supernet = sub.supernet
        self.config = config
        subspace = self.supernet.subspace
        self._columns = [subspace.labels.index(label) for label in sub.labels]
        self._counts = [len(subspace.ops(label)) for label in sub.labels]
        self.angles: list[AngleScorer] = []
        self._magnitudes: list[np.ndarray] = []
        for owner in sub.owners:  # odometer order, as np.ravel_multi_index numbers them
            sub.activate(owner)
            self.angles.append(AngleScorer(self.supernet, reference, config.angle_definition))
            self._magnitudes.append(magnitude_table(self.supernet))
        sub.activate(None)
        self.accuracy = AccuracyEvaluator(data, batch_size=batch_size, batches=recalibration_batches, seed=seed)
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}

    def owner_indices(self, rows: np.ndarray) -> np.ndarray:
        """Index into ``sub.owners`` of each architecture given as index rows of the subspace."""
        return np.ravel_multi_index(tuple(rows[:, self._columns].T), self._counts)

    def _per_owner(self, rows: np.ndarray, score) -> np.ndarray:
        out = np.empty(len(rows))
        owners = self.owner_indices(rows)
        for index in np.unique(owners):
            mask = owners == index
            out[mask] = score(int(index), rows[mask])
        return out

    def angle_indices(self, rows: np.ndarray) -> np.ndarray:
        """Angles of architectures (index rows), each from its owner's statistics."""
        return self._per_owner(rows, lambda i, r: self.angles[i].score_indices(r))

    def _magnitude_indices(self, rows: np.ndarray) -> np.ndarray:
        def score(i: int, r: np.ndarray) -> np.ndarray:
            table = self._magnitudes[i]
            return table[np.arange(table.shape[0])[None, :], r].sum(axis=1)

        return self._per_owner(rows, score)

    def evaluate(self, arch: Arch) -> dict[str, float]:
        """``accuracy``, ``angle``, ``params``, ``flops`` of ``arch``, from the sub-supernet that owns it."""
        key = tuple(arch[label] for label in self.space.labels)
        if key not in self._cache:
            self._cache[key] = self._compute(arch)
        return self._cache[key]

    def evaluate_many(self, archs: Sequence[Arch]) -> list[dict[str, float]]:
        """Metrics of each architecture; in a process group each rank evaluates a share and all get all."""
        keys = [tuple(arch[label] for label in self.space.labels) for arch in archs]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if self.group.distributed and todo:
            mine = [self._compute(dict(zip(self.space.labels, key))) for key in self.group.shard(todo)]
            for key, metrics in zip(todo, self.group.unshard(mine, len(todo), "evaluating architectures")):
                self._cache[key] = metrics
        return [self.evaluate(arch) for arch in archs]

    def _compute(self, arch: Arch) -> dict[str, float]:
        owner = self.sub.owner_of(arch)
        self.sub.activate(owner)
        cost = self.space.cost(arch)
        return {"accuracy": self.accuracy.accuracy(self.supernet, arch),
                "angle": self.angles[self.sub.owners.index(owner)].score(arch),
                "params": float(cost.params), "flops": float(cost.flops)}

    @property
    def evaluated(self) -> int:
        return len(self._cache)

    def cached(self) -> dict[tuple[str, ...], dict[str, float]]:
        """Every architecture evaluated so far (operator names in label order) and its metrics."""
        return self._cache

    def op_scores(self, rng: np.random.Generator, metrics: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
        """``{label: {op: {metric: mean over the architectures containing op}}}``, as ``RoundScorer``."""
        subspace = self.supernet.subspace
        per_metric: dict[str, dict[str, dict[str, float]]] = {}
        if "angle" in metrics or "magnitude" in metrics:
            idx = architecture_rows(subspace, rng, self.config.exhaustive_limit, self.config.angle_samples)
            if "angle" in metrics:
                per_metric["angle"] = op_means(subspace, idx, self.angle_indices(idx))
            if "magnitude" in metrics:
                per_metric["magnitude"] = op_means(subspace, idx, self._magnitude_indices(idx))
        if "accuracy" in metrics:
            idx = covering_sample(subspace, rng, self.config.accuracy_samples)
            values = np.array([m["accuracy"] for m in self.evaluate_many([subspace.decode(row) for row in idx])])
            per_metric["accuracy"] = op_means(subspace, idx, values)
        return {label: {op: {m: table[label][op] for m, table in per_metric.items()} for op in subspace.ops(label)}
                for label in subspace.labels}
