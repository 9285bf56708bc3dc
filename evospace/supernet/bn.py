"""Batch-norm recalibration: re-estimate running statistics of one path before evaluating it.

In a supernet the running statistics of an operator mix every path it was trained in, so they are
wrong for any single architecture. Recalibration resets the statistics of the modules on the path,
forwards a few training batches in train mode with cumulative averaging (``momentum=None``), and is
undone afterwards so that scoring never changes the supernet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

__all__ = ["batch_norms", "recalibrated", "inference"]


def batch_norms(modules: Iterable[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every batch-norm layer inside ``modules``."""
    return [m for module in modules for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def recalibrated(modules: list[nn.Module], forward, batches: Iterable[torch.Tensor]) -> Iterator[None]:
    """Inside the block, the BN layers of ``modules`` hold statistics re-estimated on ``batches``.

    Args:
        modules: the path's modules (only their BN layers are touched).
        forward: callable running the path on one input batch.
        batches: training inputs to estimate the statistics from.
    """
    norms = batch_norms(modules)
    saved = [(bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone(), bn.momentum)
             for bn in norms]
    training = [m.training for m in modules]
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
        with torch.inference_mode():
            for m in modules:
                m.train()
            for x in batches:
                forward(x)
            for m in modules:
                m.eval()
        yield
    finally:
        for bn, (mean, var, count, momentum) in zip(norms, saved):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.num_batches_tracked.copy_(count)
            bn.momentum = momentum
        for m, flag in zip(modules, training):
            m.train(flag)


@contextlib.contextmanager
def inference(device: torch.device | str) -> Iterator[None]:
    """How architectures are scored: no autograd at all, and on CUDA under autocast (float16 matrix products)."""
    device = torch.device(device)
    with torch.inference_mode(), torch.autocast(device.type, enabled=device.type == "cuda"):
        yield
