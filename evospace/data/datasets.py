"""Data sets as tensors held on the device, with a validation split carved from the training data.

The data sets evospace searches on are mostly small (a few thousand samples), so by default they live on the
device as whole tensors and batches are index slices: no worker processes, no per-step copies. A large training
split on a GPU (CIFAR-10, a folder of images) stays in host memory instead and DataLoader workers gather its
batches (``workers``, :mod:`evospace.data.batches`); validation and test splits are always on the device.
The test split is loaded too but only final reports (``evospace train``, ground truth) read it: search
decisions see the training and validation splits only.

A data set is a name in one registry (:func:`register_dataset`) with a *factory* that turns a
:class:`DataRequest` (the ``data:`` keys of a space besides the split and batch settings) into arrays. The
built-ins are generated (``mnist1d``), shipped (``digits``) or read from ``data.path`` (``npz``, ``csv``,
CIFAR-10/100 binary archives, class-per-folder images: ``evospace/data/images.py``); a user's own data set is
one more factory. A data set whose sample shape is fixed declares it (:class:`DataInfo`); otherwise the shape is
read from the arrays the factory returns.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evospace.data.arrays import Arrays, DataInfo, as_arrays, describe_arrays
from evospace.errors import DataError, closest

__all__ = ["DataInfo", "DataRequest", "DataSplits", "Factory", "register_dataset", "dataset_info", "list_datasets",
           "load_data", "load_space_data", "auto_workers", "DEVICE_RESIDENT_BYTES", "MAX_AUTO_WORKERS",
           "data_fingerprint", "data_record", "info_from_record", "check_request"]


@dataclass(frozen=True)
class DataRequest:
    """What a space asks of a data set besides its name (the ``data:`` keys a factory may read)."""

    samples: int | None = None  # total samples, where the data set is generated (None: its default)
    path: str | None = None  # the file (or directory) of a data set read from disk
    target: str | None = None  # csv: the column holding the labels
    size: int | None = None  # image_folder: the side images are resized to (None: 32)
    test_samples: int | None = None  # generated data sets: test samples beyond ``samples``, which then all train

    @classmethod
    def of(cls, data: Any) -> DataRequest:
        """The request a space's ``data`` section (a ``DataConfig``) makes: one place to add a new key to."""
        return cls(samples=data.samples, path=None if data.path is None else str(data.path), target=data.target,
                   size=data.size, test_samples=data.test_samples)


@dataclass
class DataSplits:
    """Train / validation / test tensors of one data set.

    Validation and test tensors are on the device the run trains on. The training split is there too when
    ``workers`` is 0; otherwise it is in host memory and ``workers`` DataLoader processes gather its batches
    (:func:`evospace.data.batches.train_batches`).
    """

    info: DataInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    workers: int = 0  # DataLoader worker processes gathering training batches (0: the split is on the device)

    @property
    def device(self) -> torch.device:
        """Where the run trains and evaluates (the validation split's device)."""
        return self.x_val.device

    def train_rows(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training rows ``idx`` on :attr:`device` (for a one-off batch: BN recalibration, a proxy's batch)."""
        idx = idx.to(self.x_train.device)
        return _to_device(self.x_train[idx], self.device), _to_device(self.y_train[idx], self.device)

    def to(self, device: torch.device | str, workers: int = 0) -> DataSplits:
        """Move the splits to ``device`` (to a GPU from pinned memory, without blocking the host); with
        ``workers`` ≥ 1 the training split stays in host memory for that many loader workers."""
        host = {"x_train", "y_train"} if workers else set()
        moved = {k: _to_device(v, torch.device("cpu") if k in host else torch.device(device))
                 for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return DataSplits(self.info, **moved, workers=workers)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``: to a GPU from pinned memory without blocking the host; as it is if already there."""
    if tensor.device == device or device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


DEVICE_RESIDENT_BYTES = 256 * 2**20  # on a GPU, a training split up to this size stays on the device (auto)
MAX_AUTO_WORKERS = 4  # worker processes ``auto`` starts at most (gathering rows needs few)


def auto_workers(device: torch.device, train_bytes: int, requested: int | None) -> int:
    """How many loader workers to use: ``requested`` if given, else 0 on the CPU (the host *is* the device, and
    slicing is cheapest) and for a training split that fits :data:`DEVICE_RESIDENT_BYTES` on a GPU; otherwise up
    to :data:`MAX_AUTO_WORKERS`, leaving one core to the training loop."""
    if requested is not None:
        if requested < 0:
            raise DataError(f"--workers: expected 0 or more worker processes, got {requested}")
        return requested
    if device.type != "cuda" or train_bytes <= DEVICE_RESIDENT_BYTES:
        return 0
    return max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 2) - 1))


# factory(request) -> (x, y), (x_train, y_train, x_test, y_test), or {"x", "y", "x_test", "y_test"} of arrays;
# x shaped (N, L), (N, C, L) or (N, C, H, W); y integer class indices
Factory = Callable[[DataRequest], Any]


@dataclass(frozen=True)
class _Entry:
    factory: Factory
    describe: DataInfo | Callable[[DataRequest], DataInfo] | None  # None: read from the factory's arrays
    reads: frozenset[str] | None  # the request keys it reads (None: any); another key set is an error


_DATASETS: dict[str, _Entry] = {}
_REQUEST_KEYS = ("samples", "path", "target", "size", "test_samples")


def register_dataset(name: str | DataInfo, factory: Factory | None = None, *,
                     describe: DataInfo | Callable[[DataRequest], DataInfo] | None = None,
                     reads: Sequence[str] | None = None) -> Callable[[Factory], Factory] | None:
    """Register a data set that a space names in ``data.name``; duplicate names raise.

    Args:
        name: the name spaces use (or a :class:`DataInfo`, whose name and fixed shape are taken).
        factory: ``factory(request) -> arrays`` where ``request`` is a :class:`DataRequest` (``request.path``,
            ``request.samples``, ...). It returns ``(x, y)``, ``(x, y, x_test, y_test)`` or a mapping with those
            keys: ``x`` shaped ``(N, L)``, ``(N, C, L)`` (1-D) or ``(N, C, H, W)`` (2-D, square), ``y`` class
            indices 0..K-1. Without a test split, a seeded fifth of the samples becomes one. Omitted: the call
            is a decorator.
        describe: the samples' shape, fixed or computed from the request; ``None``: read from the arrays (the
            factory then runs when the space is validated; its arrays are kept for the search that follows).
        reads: the request keys the factory uses (``None``: any); a space setting another one is refused.

    Example:
        >>> def waves(request):  # doctest: +SKIP
        ...     return x, y      # x (N, 1, 64) float, y (N,) int
        >>> evospace.register_dataset("waves", waves)  # doctest: +SKIP

    Raises:
        ValueError: the name is taken, or a key of ``reads`` is unknown.
    """
    if isinstance(name, DataInfo):
        name, describe = name.name, name
    unknown = set(reads or ()) - set(_REQUEST_KEYS)
    if unknown:
        raise ValueError(f"reads: unknown request key(s) {sorted(unknown)}; expected some of {_REQUEST_KEYS}")

    def add(fn: Factory) -> Factory:
        if name in _DATASETS:
            raise ValueError(f"data set {name!r} is already registered")
        _DATASETS[name] = _Entry(fn, describe, frozenset(reads) if reads is not None else None)
        return fn

    if factory is None:
        return add
    add(factory)
    return None


def list_datasets() -> list[str]:
    """Names of the registered data sets."""
    return sorted(_DATASETS)


def _entry(name: str) -> _Entry:
    if name not in _DATASETS:
        raise DataError(f"unknown data set {name!r}{closest(name, _DATASETS)}; known: {', '.join(list_datasets())} "
                        f"(one of your own is registered with evospace.register_dataset; on the command line, "
                        f"--import the code that registers it)")
    return _DATASETS[name]


def check_request(name: str, request: DataRequest) -> None:
    """Refuse request keys that ``name`` does not read (a ``target`` on ``mnist1d``, say).

    Raises:
        DataError: naming the key (``data.target``) and what the data set reads.
    """
    reads = _entry(name).reads
    if reads is None:
        return
    for key in _REQUEST_KEYS:
        if key not in reads and getattr(request, key) is not None:
            used = ", ".join(f"data.{k}" for k in _REQUEST_KEYS if k in reads) or "none of them"
            raise DataError(f"data set {name!r} does not read data.{key} (it reads {used}); remove it",
                            key=f"data.{key}")


def dataset_info(name: str, request: DataRequest | None = None) -> DataInfo:
    """Sample shape and class count of a registered data set (for some, read from ``request``'s data).

    Raises:
        DataError: the name is unknown, or the data cannot be read.
    """
    entry = _entry(name)
    request = request or DataRequest()
    if isinstance(entry.describe, DataInfo):
        return entry.describe
    if entry.describe is not None:
        return entry.describe(request)
    return describe_arrays(name, _built(name, request))


_LAST_BUILT: dict[tuple, Arrays] = {}  # the last data set a factory built: validation, then loading, build once


def _built(name: str, request: DataRequest) -> Arrays:
    """The factory's checked arrays; the last ones are kept, keyed by the request and the file's size and time."""
    key = (name, request, _file_stamp(request.path))
    if key not in _LAST_BUILT:
        _LAST_BUILT.clear()
        _LAST_BUILT[key] = as_arrays(_entry(name).factory(request), name)
    return _LAST_BUILT[key]


def _file_stamp(path: str | None) -> tuple[int, int] | None:
    try:
        stat = os.stat(path) if path is not None else None
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns) if stat is not None else None


def load_data(name: str, *, val_fraction: float, samples: int | None = None, split_seed: int = 0,
              device: torch.device | str = "cpu", path: str | Path | None = None,
              target: str | None = None, size: int | None = None, test_samples: int | None = None,
              workers: int | None = None) -> DataSplits:
    """Build (or read) a data set and carve a validation split from its training data (never from the test set).

    Args:
        name: registered data set name (``mnist1d``, ``digits``, ``npz``, ``csv``, or one of your own).
        val_fraction: share of the training data held out for validation during search.
        samples: total samples to generate, where the data set is generated (``None``: its default); for data
            read from a file, a seeded subset of this many training samples.
        split_seed: seed of the train/validation shuffle; fixed per space so that every run of a space
            validates on the same samples.
        device: where the tensors live.
        path, target: the file of a data set read from disk, and a csv file's label column.
        size: the side images of an ``image_folder`` are resized to.
        test_samples: where the data set is generated, this many test samples beyond ``samples``, which then all
            train (``None``: the data set's own split).
        workers: DataLoader worker processes for the training batches (0: the training split on ``device``,
            sliced there); ``None``: 0 on the CPU and for a training split of up to 256 MiB, else up to 4
            (:func:`evospace.data.datasets.auto_workers`). Results are the same with any number.

    Raises:
        DataError: the data set is unknown or its data is unusable (one line saying what to fix).
    """
    request = DataRequest(samples=samples, path=None if path is None else str(path), target=target, size=size,
                          test_samples=test_samples)
    return _load(name, request, val_fraction=val_fraction, split_seed=split_seed, device=device, workers=workers)


def load_space_data(config: Any, *, split_seed: int, device: torch.device | str = "cpu",
                    workers: int | None = None) -> DataSplits:
    """:func:`load_data` for a space's ``data`` section (a ``DataConfig``)."""
    return _load(config.name, DataRequest.of(config), val_fraction=config.val_fraction, split_seed=split_seed,
                 device=device, workers=workers)


def _load(name: str, request: DataRequest, *, val_fraction: float, split_seed: int, device: torch.device | str,
          workers: int | None) -> DataSplits:
    check_request(name, request)
    entry = _entry(name)
    if entry.describe is None:  # its shape came from these arrays when the space was validated: built once
        arrays = _built(name, request)
        info = describe_arrays(name, arrays)
    else:
        arrays = as_arrays(entry.factory(request), name)
        info = dataset_info(name, request)
    order = np.random.default_rng(split_seed).permutation(len(arrays.y))
    n_val = int(round(len(order) * val_fraction))
    if n_val < 1 or n_val >= len(order):
        raise DataError(f"data set {name!r}: val_fraction {val_fraction} of its {len(order)} training samples "
                        f"leaves {n_val} for validation and {len(order) - n_val} for training, and both need at "
                        f"least one; give more samples or another data.val_fraction", key="data.val_fraction")
    val, train = order[:n_val], order[n_val:]
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long)  # noqa: E731
    splits = DataSplits(
        info,
        as_x(arrays.x[train]), as_y(arrays.y[train]),
        as_x(arrays.x[val]), as_y(arrays.y[val]),
        as_x(arrays.x_test), as_y(arrays.y_test),
    )
    device = torch.device(device)
    train_bytes = splits.x_train.numel() * splits.x_train.element_size()
    return splits.to(device, auto_workers(device, train_bytes, workers))


def data_fingerprint(splits: DataSplits) -> str:
    """A hash of every split's values, shapes and dtypes: equal exactly when a run would see the same data."""
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        tensor = getattr(splits, key).detach().to("cpu").contiguous()
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def data_record(splits: DataSplits) -> dict:
    """What ``run.yaml`` records of a run's data: its fingerprint, sample shape and split sizes."""
    return {"fingerprint": data_fingerprint(splits), "info": asdict(splits.info), "train": len(splits.y_train),
            "val": len(splits.y_val), "test": len(splits.y_test)}


def info_from_record(record: Mapping[str, Any]) -> DataInfo:
    """The :class:`DataInfo` a ``run.yaml`` data record holds.

    Raises:
        DataError: the record was edited into something else.
    """
    try:
        return DataInfo(**record["info"])
    except (KeyError, TypeError) as err:
        raise DataError(f"the recorded data (run.yaml: data.info) is malformed ({err}); was the file edited?") from None
