"""Scores of a round split into few-shot sub-supernets: each architecture is scored by the one that owns it.

The owner of an architecture is the sub-supernet whose split operators it uses
(:class:`~evospace.supernet.sub_supernets.SubSupernets`). Angles come from per-owner piece statistics against the
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
from evospace.metrics.scores import ARCH_METRICS, CachedScorer, architecture_metrics, magnitude_sums
from evospace.space.schema import ScoreConfig
from evospace.space.space import SearchSpace
from evospace.space.subspace import Arch
from evospace.supernet.sub_supernets import SubSupernets

__all__ = ["FewShotScorer"]


class FewShotScorer(CachedScorer):
    """Metrics of architectures of a split round, each from the sub-supernet that owns it; cached.

    Args:
        space: the search space (costs).
        sub: the trained sub-supernets (every owner finished).
        reference: angle reference weights (``V0``), the one-shot supernet's.
        data: data splits on the supernet's device.
        config: scoring settings.
        batch_size, recalibration_batches, seed: BN recalibration sample, as for ``RoundScorer``.
        group: the run's processes; :meth:`evaluate_many` deals architectures out across them.
        metrics: what every architecture gets by default; others on request (as for ``RoundScorer``).
    """

    def __init__(self, space: SearchSpace, sub: SubSupernets, reference: dict[str, torch.Tensor], data: DataSplits,
                 config: ScoreConfig, *, batch_size: int, recalibration_batches: int, seed: int,
                 group: Group | None = None, metrics: Sequence[str] = ARCH_METRICS) -> None:
        if not sub.complete:
            raise ValueError(f"sub-supernets {sub.pending} of round {sub.round} are not trained yet")
        super().__init__(metrics)
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

    def magnitude_indices(self, rows: np.ndarray) -> np.ndarray:
        """Summed operator magnitudes of architectures (index rows), each from its owner's weights."""
        return self._per_owner(rows, lambda i, r: magnitude_sums(self._magnitudes[i], r))

    def _compute_many(self, archs: list[Arch], metrics: tuple[str, ...]) -> list[dict[str, float]]:
        """Each owner's architectures together, its weights swapped in once for all (in order of first
        appearance), the shared ones back afterwards: scoring leaves the supernet as it found it (snapshots hold
        the shared weights)."""
        by_owner: dict[tuple[str, ...], list[int]] = {}
        for i, arch in enumerate(archs):
            by_owner.setdefault(self.sub.owner_of(arch), []).append(i)
        out: list[dict[str, float]] = [{} for _ in archs]
        try:
            for owner, members in by_owner.items():
                angle = self.angles[self.sub.owners.index(owner)]
                accuracies = [None] * len(members)
                if "accuracy" in metrics:
                    self.sub.activate(owner)
                    accuracies = self.accuracy.accuracy_many(self.supernet, [archs[i] for i in members])
                for i, accuracy in zip(members, accuracies):
                    out[i] = architecture_metrics(self.space, archs[i], metrics, accuracy=accuracy, angle=angle.score)
        finally:
            self.sub.activate(None)
        return out
