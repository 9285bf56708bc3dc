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


def mnist1d_arrays(samples: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D as ``(x_train, y_train, x_test, y_test)`` with ``x`` shaped ``(N, 1, 40)``."""
    samples = samples or DEFAULT_SAMPLES
    path = cache_dir() / f"mnist1d-{samples}.npz"
    arrays = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            arrays = None  # a damaged cache is rebuilt, never trusted
    if arrays is None:
        arrays = _generate(samples)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    return (arrays["x"][:, None, :].astype(np.float32), arrays["y"].astype(np.int64),
            arrays["x_test"][:, None, :].astype(np.float32), arrays["y_test"].astype(np.int64))


@register_dataset(DataInfo("mnist1d", dims=1, channels=1, side=40, classes=10), reads=("samples",))
def _build_mnist1d(request: DataRequest):
    return mnist1d_arrays(request.samples)
