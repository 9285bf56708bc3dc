"""Supernet accuracy of an architecture: top-1 on the validation split after BN recalibration.

Recalibration uses the same fixed training batches for every architecture (the first
``recalibration_batches`` batches of a seeded permutation), so scores differ only by the weights.
Without recalibration the training-time running statistics are used as they are (the weak baseline).

Measured with ``python bench/ranking.py`` on spaces/mnist1d_rank.yaml (3 seeds): after 5 supernet epochs
(125 steps) accuracy barely ranks architectures, Kendall τ 0.06 with recalibration and −0.02 without, and
1, 4, 8 or 20 recalibration batches change nothing (0.05–0.07); it improves with training (10 epochs 0.22,
20 epochs 0.30) but stays below the angle. So it is no reason to spend more recalibration batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from evospace.data import DataSplits
from evospace.run.rng import torch_stream
from evospace.space.subspace import Arch
from evospace.supernet.bn import recalibrated

__all__ = ["AccuracyEvaluator"]


class AccuracyEvaluator:
    """Scores architectures of a supernet on the validation split; the data stays on the device.

    Args:
        data: the splits (only train, for recalibration, and validation are read).
        batch_size: recalibration batch size (the training batch size, so statistics match training).
        batches: number of recalibration batches.
        seed: seed of the recalibration sample.
        eval_batch: validation samples per forward pass.
    """

    def __init__(self, data: DataSplits, *, batch_size: int, batches: int, seed: int = 0,
                 eval_batch: int = 2048) -> None:
        n = len(data.y_train)
        order = torch.randperm(n, generator=torch_stream(seed, "recalibration")).to(data.x_train.device)
        count = min(batches, max(1, n // batch_size))
        self.recal_batches = [data.x_train[order[i * batch_size:(i + 1) * batch_size]] for i in range(count)]
        self.x_val, self.y_val = data.x_val, data.y_val
        self.eval_batch = eval_batch

    @torch.no_grad()
    def _top1(self, forward) -> float:
        correct = 0
        for i in range(0, len(self.y_val), self.eval_batch):
            logits = forward(self.x_val[i:i + self.eval_batch])
            correct += int((logits.argmax(1) == self.y_val[i:i + self.eval_batch]).sum())
        return correct / max(len(self.y_val), 1)

    def accuracy(self, supernet, arch: Arch, recalibrate: bool = True) -> float:
        """Validation top-1 of ``arch`` in ``supernet`` (fraction in [0, 1])."""
        supernet.subspace.check(arch)
        forward = lambda x: supernet(x, arch)  # noqa: E731
        modules = supernet.path_modules(arch)
        if not recalibrate:
            was = supernet.training
            supernet.eval()
            try:
                return self._top1(forward)
            finally:
                supernet.train(was)
        with recalibrated(modules, forward, self.recal_batches):
            return self._top1(forward)

    def accuracy_and_loss(self, supernet, arch: Arch) -> tuple[float, float]:
        """Validation top-1 and mean cross-entropy of ``arch`` after recalibration, from one pass."""
        supernet.subspace.check(arch)
        forward = lambda x: supernet(x, arch)  # noqa: E731
        with recalibrated(supernet.path_modules(arch), forward, self.recal_batches), torch.no_grad():
            correct, loss = 0, 0.0
            for i in range(0, len(self.y_val), self.eval_batch):
                logits, y = forward(self.x_val[i:i + self.eval_batch]), self.y_val[i:i + self.eval_batch]
                correct += int((logits.argmax(1) == y).sum())
                loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        count = max(len(self.y_val), 1)
        return correct / count, loss / count

    def accuracy_and_loss_many(self, supernet, archs: Iterable[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Validation top-1 and cross-entropy of each architecture (two arrays)."""
        pairs = [self.accuracy_and_loss(supernet, arch) for arch in archs]
        return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float)

    def accuracy_many(self, supernet, archs: Iterable[Arch], recalibrate: bool = True) -> np.ndarray:
        """Validation top-1 of each architecture; the recalibration and validation tensors are reused."""
        return np.array([self.accuracy(supernet, arch, recalibrate) for arch in archs], dtype=float)
