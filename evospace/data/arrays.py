"""A data set's arrays as a factory returns them, checked once: shapes, dtypes, labels, a test split.

Every data set, built in or registered, passes through :func:`as_arrays`, so a wrong array gets the same
one-line error whether it came from an ``.npz`` file, a csv file or a user's function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evospace.errors import DataError

__all__ = ["Arrays", "DataInfo", "as_arrays", "check_arrays", "describe_arrays", "carve_test", "keep_samples",
           "TEST_FRACTION"]

TEST_FRACTION = 0.2  # share of the samples held out as the test split when a data set has none
_SPLIT_SEED = 1234  # seed of that hold-out and of sample subsets: fixed, so that every run sees the same split


@dataclass(frozen=True)
class DataInfo:
    """Shape of a data set's samples, which fixes the skeleton's input and head."""

    name: str  # registry name
    dims: int  # 1 for sequences, 2 for images
    channels: int  # input channels
    side: int  # sequence length, or image height (= width)
    classes: int  # number of labels


@dataclass(frozen=True, eq=False)
class Arrays:
    """Checked arrays: ``x`` float32 ``(N, C, L)`` or ``(N, C, S, S)``, ``y`` int64 class indices."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def as_arrays(result: Any, source: str, key: str | None = None) -> Arrays:
    """:func:`check_arrays`, its errors attributed to the space key ``key`` (``data.path`` for a file)."""
    try:
        return check_arrays(result, source)
    except DataError as err:
        if key is None:
            raise
        raise DataError(str(err), key=key) from None


def check_arrays(result: Any, source: str) -> Arrays:
    """Check what a factory returned and bring it to :class:`Arrays` (a seeded test split carved if absent).

    Args:
        result: ``(x, y)``, ``(x, y, x_test, y_test)``, or a mapping with keys ``x``, ``y`` and optionally
            ``x_test``, ``y_test``.
        source: names the data set (or file) in errors.

    Raises:
        DataError: one line naming the array and what is expected of it.
    """
    if isinstance(result, Arrays):  # a built-in format checked them already
        return result
    if isinstance(result, Mapping) or hasattr(result, "files"):  # a dict, or an open .npz file
        names = list(result.files) if hasattr(result, "files") else list(result)
        for key in ("x", "y"):
            if key not in names:
                raise DataError(f"{source}: no array {key!r} (it holds {', '.join(map(str, names)) or 'none'}); "
                                f"expected x (samples first), y (labels), and optionally x_test, y_test")
        if ("x_test" in names) != ("y_test" in names):
            raise DataError(f"{source}: has {'x_test' if 'x_test' in names else 'y_test'} without "
                            f"{'y_test' if 'x_test' in names else 'x_test'}; give both or neither")
        parts = [result[k] for k in ("x", "y")] + ([result["x_test"], result["y_test"]] if "x_test" in names else [])
    elif isinstance(result, (tuple, list)) and len(result) in (2, 4):
        parts = list(result)
    else:
        raise DataError(f"{source}: the factory returned {type(result).__name__}; expected (x, y), "
                        f"(x, y, x_test, y_test) or a mapping with those keys")
    x, y = _features(parts[0], "x", source), _labels(parts[1], "y", source)
    _same_length(x, y, "x", "y", source)
    if len(parts) == 4:
        x_test, y_test = _features(parts[2], "x_test", source), _labels(parts[3], "y_test", source)
        _same_length(x_test, y_test, "x_test", "y_test", source)
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{source}: x_test samples are shaped {x_test.shape[1:]}, x samples {x.shape[1:]}; "
                            f"they must match")
        arrays = Arrays(x, y, x_test, y_test)
    else:
        arrays = carve_test(x, y, source)
    if len(np.unique(np.concatenate([arrays.y, arrays.y_test]))) < 2:
        raise DataError(f"{source}: every label is {int(arrays.y[0])}; a classifier needs at least two classes")
    return arrays


def carve_test(x: np.ndarray, y: np.ndarray, source: str) -> Arrays:
    """Hold out a seeded fifth of the samples as the test split (never used by a search's decisions)."""
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(y))
    n_test = int(round(len(y) * TEST_FRACTION))
    if n_test < 1 or n_test >= len(y):
        raise DataError(f"{source}: {len(y)} samples are too few to hold out a test split; give at least 5")
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return Arrays(x[train], y[train], x[test], y[test])


def keep_samples(arrays: Arrays, samples: int | None) -> Arrays:
    """A seeded subset of ``samples`` training samples (``None``, or more than there are: all of them)."""
    if samples is None or samples >= len(arrays.y):
        return arrays
    keep = np.sort(np.random.default_rng(_SPLIT_SEED).permutation(len(arrays.y))[:samples])
    return Arrays(arrays.x[keep], arrays.y[keep], arrays.x_test, arrays.y_test)


def describe_arrays(name: str, arrays: Arrays) -> DataInfo:
    """The :class:`DataInfo` of checked arrays."""
    x = arrays.x
    classes = int(max(arrays.y.max(initial=0), arrays.y_test.max(initial=0))) + 1
    return DataInfo(name, dims=x.ndim - 2, channels=int(x.shape[1]), side=int(x.shape[2]), classes=classes)


def _features(value: Any, key: str, source: str) -> np.ndarray:
    array = _array(value, key, source)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{source}: {key} holds {array.dtype} values; expected numbers")
    if array.ndim == 2:
        array = array[:, None, :]  # (N, L): one channel
    if array.ndim not in (3, 4):
        raise DataError(f"{source}: {key} is shaped {array.shape}; expected (N, L) or (N, C, L) for sequences, "
                        f"(N, C, H, W) for images")
    if array.ndim == 4 and array.shape[2] != array.shape[3]:
        raise DataError(f"{source}: {key} images are {array.shape[2]}x{array.shape[3]}; they must be square "
                        f"(pad or resize them)")
    if 0 in array.shape:
        raise DataError(f"{source}: {key} is shaped {array.shape}; it holds no data")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise DataError(f"{source}: {key} holds NaN or infinite values; fill or drop them first")
    return array


def _labels(value: Any, key: str, source: str) -> np.ndarray:
    array = _array(value, key, source)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(f"{source}: {key} is shaped {array.shape}; expected one class index per sample, shaped (N,)")
    if array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all():
        array = array.astype(np.int64)
    if array.dtype.kind not in "biu":
        raise DataError(f"{source}: {key} holds {array.dtype} values; expected integer class indices 0..K-1")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        raise DataError(f"{source}: {key} holds the label {int(array.min())}; expected class indices 0..K-1")
    return array


def _array(value: Any, key: str, source: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise DataError(f"{source}: {key} is not an array ({err})") from None
    if array.dtype == object:
        raise DataError(f"{source}: {key} holds Python objects; expected a numeric array")
    return array


def _same_length(x: np.ndarray, y: np.ndarray, xk: str, yk: str, source: str) -> None:
    if len(x) != len(y):
        raise DataError(f"{source}: {xk} has {len(x)} samples but {yk} {len(y)} labels; they must match")
