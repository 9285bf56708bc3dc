"""MNIST-1D (Greydanus, 2020), generated locally with the ``mnist1d`` package and cached as ``.npz``.

Never downloaded: ``make_dataset(get_dataset_args())`` rebuilds the data set from its templates with
seed 42, exactly as the package's own release. The cache lives under ``$XDG_CACHE_HOME/evospace``
(or ``~/.cache/evospace``) and is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import random
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from evospace.data.datasets import DataInfo, DataRequest, register_dataset
from evospace.errors import DataError

__all__ = ["cache_dir", "mnist1d_arrays"]

DEFAULT_SAMPLES = 5000  # the package default: 4000 train, 1000 test


def cache_dir() -> Path:
    """Where generated data sets are cached (``EVOSPACE_CACHE`` overrides)."""
    root = os.environ.get("EVOSPACE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "evospace")
    return Path(root)


def _generate(samples: int) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise DataError("the 'mnist1d' package is missing: run `make test` or pip install mnist1d") from err
    args = get_dataset_args()
    args.num_samples = samples
    # the package reseeds the global generators; keep the caller's streams untouched
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def mnist1d_arrays(samples: int | None = None, test_samples: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D as ``(x_train, y_train, x_test, y_test)`` with ``x`` shaped ``(N, 1, 40)``.

    ``samples`` are split as the package splits them (4/5 train); with ``test_samples``, ``samples +
    test_samples`` are generated and the first ``samples`` all train, the rest test: a small training set
    makes architectures differ more, and a large test set tells them apart more finely.
    """
    samples = samples or DEFAULT_SAMPLES
    arrays = _cached(samples + (test_samples or 0))
    x, y, x_test, y_test = arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"]
    if test_samples is not None:
        x, y = np.concatenate([x, x_test]), np.concatenate([y, y_test])
        x, y, x_test, y_test = x[:samples], y[:samples], x[samples:], y[samples:]
    return (x[:, None, :].astype(np.float32), y.astype(np.int64),
            x_test[:, None, :].astype(np.float32), y_test.astype(np.int64))


def _cached(total: int) -> dict[str, np.ndarray]:
    """The package's data set of ``total`` samples, from the cache or generated into it."""
    path = cache_dir() / f"mnist1d-{total}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt, never trusted
    arrays = _generate(total)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return arrays


@register_dataset(DataInfo("mnist1d", dims=1, channels=1, side=40, classes=10), reads=("samples", "test_samples"))
def _build_mnist1d(request: DataRequest):
    return mnist1d_arrays(request.samples, request.test_samples)
