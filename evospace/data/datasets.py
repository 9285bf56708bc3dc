"""Data sets as tensors held on the device, with a validation split carved from the training data.

The data sets evospace searches on are small (a few thousand samples), so they live on the device as
whole tensors and batches are index slices: no DataLoader, no worker processes, no per-step copies.
The test split is loaded too but only final reports (``evospace train``, ground truth) read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from evospace.errors import DataError, closest

__all__ = ["DataInfo", "DataSplits", "register_dataset", "dataset_info", "list_datasets", "load_data"]


@dataclass(frozen=True)
class DataInfo:
    """Shape of a data set's samples, which fixes the skeleton's input and head."""

    name: str  # registry name
    dims: int  # 1 for sequences, 2 for images
    channels: int  # input channels
    side: int  # sequence length, or image height (= width)
    classes: int  # number of labels


@dataclass
class DataSplits:
    """Train / validation / test tensors of one data set, already on the device."""

    info: DataInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: torch.device | str) -> DataSplits:
        """Move every split to ``device``."""
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return DataSplits(self.info, **moved)


# builder(samples) -> (x_train, y_train, x_test, y_test) as numpy arrays, x shaped (N, C, *spatial)
Builder = Callable[[int | None], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
_DATASETS: dict[str, tuple[DataInfo, Builder]] = {}


def register_dataset(info: DataInfo) -> Callable[[Builder], Builder]:
    """Register a data-set builder under ``info.name``; duplicate names raise."""

    def decorator(builder: Builder) -> Builder:
        if info.name in _DATASETS:
            raise ValueError(f"data set {info.name!r} is already registered")
        _DATASETS[info.name] = (info, builder)
        return builder

    return decorator


def list_datasets() -> list[str]:
    """Names of the registered data sets."""
    return sorted(_DATASETS)


def dataset_info(name: str) -> DataInfo:
    """Sample shape and class count of a registered data set."""
    if name not in _DATASETS:
        raise DataError(f"unknown data set {name!r}{closest(name, _DATASETS)}; known: {', '.join(list_datasets())}")
    return _DATASETS[name][0]


def load_data(name: str, *, val_fraction: float, samples: int | None = None, split_seed: int = 0,
              device: torch.device | str = "cpu") -> DataSplits:
    """Build (or read from cache) a data set and carve a stratified-by-shuffle validation split.

    Args:
        name: registered data set name (``mnist1d``, ``digits``).
        val_fraction: share of the training data held out for validation during search.
        samples: total samples to generate, where the data set is generated (``None``: its default).
        split_seed: seed of the train/validation shuffle; fixed per space so that every run of a space
            validates on the same samples.
        device: where the tensors live.
    """
    info = dataset_info(name)
    x_train, y_train, x_test, y_test = _DATASETS[name][1](samples)
    order = np.random.default_rng(split_seed).permutation(len(y_train))
    n_val = int(round(len(order) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long)  # noqa: E731
    splits = DataSplits(
        info,
        as_x(x_train[train]), as_y(y_train[train]),
        as_x(x_train[val]), as_y(y_train[val]),
        as_x(x_test), as_y(y_test),
    )
    return splits.to(device)
