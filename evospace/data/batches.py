"""Training batches, by index: sliced from tensors on the device, or gathered by DataLoader worker processes.

Every trainer draws its epoch's order of sample indices from the run's own seeded generator and asks this module
for the rows of each step. Where the training split lives on the device (``workers == 0``, the default on the
CPU and for small data), a batch is an index slice, with no copy through the host. Where it lives in host memory
(``workers >= 1``: the default on a GPU for large data, :func:`evospace.data.datasets.auto_workers`), a
``torch.utils.data.DataLoader`` gathers the batches in worker processes, pins them (on a GPU) and they are sent to
the device without blocking the host, while the device trains on the batch before.

Either way the batches are the same rows in the same order: the workers draw nothing at random (the order comes
from the caller and augmentation runs afterwards on the device, from the run's generators), so a run gives the
same result with any number of workers and resumes mid-epoch from the step it stopped at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

if TYPE_CHECKING:
    from evospace.data.datasets import DataSplits

__all__ = ["train_batches"]


class _Rows(Dataset):
    """The training split in host memory; an item is a whole batch, gathered by a tensor of row indices."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


class _Steps(Sampler):
    """Row indices of steps ``start .. stop - 1`` of an epoch's order (``share`` rows from ``offset`` in each)."""

    def __init__(self, order: torch.Tensor, start: int, stop: int, batch_size: int, offset: int, share: int) -> None:
        self.order, self.start, self.stop = order, start, stop
        self.batch_size, self.offset, self.share = batch_size, offset, share

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for step in range(self.start, self.stop):
            at = step * self.batch_size + self.offset
            yield self.order[at:at + self.share]


def train_batches(data: DataSplits, order: torch.Tensor, *, batch_size: int, start: int = 0, stop: int | None = None,
                  offset: int = 0, share: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` on ``data.device`` for steps ``start .. stop - 1`` of an epoch whose sample order is ``order``.

    Step ``s`` takes ``order[s * batch_size + offset:][:share]`` (``share`` defaults to ``batch_size``; a process
    of a group takes its slice of the global batch with ``offset``). Close the iterator (or let it go) to stop the
    workers early.
    """
    share = batch_size if share is None else share
    stop = len(data.y_train) // batch_size if stop is None else stop
    steps = _Steps(order.to(data.x_train.device), start, stop, batch_size, offset, share)
    if data.workers == 0:
        for idx in steps:
            yield data.x_train[idx], data.y_train[idx]
        return
    device = data.device
    cuda = device.type == "cuda"
    loader = DataLoader(_Rows(data.x_train, data.y_train), batch_size=None, sampler=steps,
                        num_workers=data.workers, pin_memory=cuda, prefetch_factor=4)
    for x, y in loader:
        yield x.to(device, non_blocking=cuda), y.to(device, non_blocking=cuda)
