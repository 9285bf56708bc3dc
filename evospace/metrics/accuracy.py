"""Supernet accuracy of an architecture: top-1 on the validation split after BN recalibration.

Recalibration uses the same fixed training batches for every architecture (the first
``recalibration_batches`` batches of a seeded permutation), so scores differ only by the weights.
Without recalibration the training-time running statistics are used as they are (the weak baseline).

Measured with ``python bench/ranking.py`` on spaces/mnist1d_rank.yaml (3 seeds): after 5 supernet epochs
(125 steps) accuracy barely ranks architectures, Kendall τ 0.06 with recalibration and −0.02 without, and
1, 4, 8 or 20 recalibration batches change nothing (0.05–0.07); it improves with training (10 epochs 0.22,
20 epochs 0.30) but stays below the angle. So it is no reason to spend more recalibration batches.

:meth:`AccuracyEvaluator.accuracy_many` scores many architectures at once, sharing the work of their common
prefixes (:mod:`evospace.metrics.prefix_eval`); the accuracies equal those of :meth:`AccuracyEvaluator.accuracy`
one at a time. Both run under :func:`~evospace.supernet.bn.inference` (no autograd; autocast on CUDA).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from evospace.data import DataSplits
from evospace.metrics.prefix_eval import PrefixEvaluator
from evospace.run.rng import torch_stream
from evospace.space.subspace import Arch
from evospace.supernet.bn import inference, recalibrated

__all__ = ["AccuracyEvaluator"]

NODES_PER_PASS_CUDA = 16  # untested on a GPU here: a guess that keeps a pass's activations small


class AccuracyEvaluator:
    """Scores architectures of a supernet on the validation split; the data stays on the device.

    Args:
        data: the splits (only train, for recalibration, and validation are read).
        batch_size: recalibration batch size (the training batch size, so statistics match training).
        batches: number of recalibration batches.
        seed: seed of the recalibration sample.
        eval_batch: validation samples per forward pass.
        nodes_per_pass: how many trie nodes :meth:`accuracy_many` runs in one pass (default: 16 on CUDA, where
            a call costs more than its arithmetic; 0, node by node and batch by batch, elsewhere; see
            :mod:`evospace.metrics.prefix_eval`).
    """

    def __init__(self, data: DataSplits, *, batch_size: int, batches: int, seed: int = 0,
                 eval_batch: int = 2048, nodes_per_pass: int | None = None) -> None:
        n = len(data.y_train)
        order = torch.randperm(n, generator=torch_stream(seed, "recalibration"))
        count = min(batches, max(1, n // batch_size))
        self.recal_batches = [data.train_rows(order[i * batch_size:(i + 1) * batch_size])[0] for i in range(count)]
        self.x_val, self.y_val = data.x_val, data.y_val
        self.eval_batch = eval_batch
        self.device = data.x_val.device
        if nodes_per_pass is None:
            nodes_per_pass = NODES_PER_PASS_CUDA if self.device.type == "cuda" else 0
        self.prefix = PrefixEvaluator(self.recal_batches, self.x_val, self.y_val, eval_batch=eval_batch,
                                      nodes_per_pass=nodes_per_pass)

    def _top1(self, forward) -> float:
        correct = 0
        for i in range(0, len(self.y_val), self.eval_batch):
            logits = forward(self.x_val[i:i + self.eval_batch])
            correct += int((logits.argmax(1) == self.y_val[i:i + self.eval_batch]).sum())
        return correct / max(len(self.y_val), 1)

    def accuracy(self, supernet, arch: Arch, recalibrate: bool = True) -> float:
        """Validation top-1 of ``arch`` in ``supernet`` (fraction in [0, 1]), scored alone."""
        supernet.subspace.check(arch)
        forward = lambda x: supernet(x, arch)  # noqa: E731
        modules = supernet.path_modules(arch)
        with inference(self.device):
            if not recalibrate:
                was = supernet.training
                supernet.eval()
                try:
                    return self._top1(forward)
                finally:
                    supernet.train(was)
            with recalibrated(modules, forward, self.recal_batches):
                return self._top1(forward)

    def accuracy_many(self, supernet, archs: Sequence[Arch] | np.ndarray, recalibrate: bool = True) -> np.ndarray:
        """Validation top-1 of each architecture (dicts, or index rows of ``supernet.subspace``).

        With recalibration the architectures are walked as a trie of their choices, each distinct prefix
        computed once; every value equals :meth:`accuracy` of that architecture alone.
        """
        subspace = supernet.subspace
        if isinstance(archs, np.ndarray):
            archs = [subspace.decode(row) for row in archs]
        if not recalibrate:
            return np.array([self.accuracy(supernet, arch, False) for arch in archs], dtype=float)
        for arch in archs:
            subspace.check(arch)
        network = supernet.prefix_network()
        with inference(self.device):
            return self.prefix.accuracies(network, [[arch[label] for label in network.labels] for arch in archs])

    def accuracy_and_loss_many(self, supernet, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Validation top-1 and mean cross-entropy of each architecture after recalibration, from one pass of
        the prefix trie (each equals scoring that architecture alone)."""
        for arch in archs:
            supernet.subspace.check(arch)
        network = supernet.prefix_network()

        def both(logits: list[torch.Tensor]) -> tuple[float, float]:
            loss = sum(float(F.cross_entropy(chunk.float(), y, reduction="sum")) for chunk, y in
                       zip(logits, self.prefix.y_chunks))
            return self.prefix.top1(logits), loss / max(self.prefix.n_val, 1)

        with inference(self.device):
            values = self.prefix.scores(network, [[arch[label] for label in network.labels] for arch in archs],
                                        both, width=2)
        values = values.reshape(len(archs), 2)
        return values[:, 0], values[:, 1]
