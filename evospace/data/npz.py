"""Arrays in a NumPy ``.npz`` file: ``data: {name: npz, path: FILE}``.

The file holds ``x`` (samples first: ``(N, L)``, ``(N, C, L)`` or ``(N, C, H, W)``) and ``y`` (class indices),
and optionally ``x_test`` and ``y_test``; without them a seeded fifth of the samples is held out as the test
split. Read with ``allow_pickle=False``: an array of Python objects is refused, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from evospace.data.arrays import Arrays, as_arrays, keep_samples
from evospace.data.datasets import DataRequest, register_dataset
from evospace.errors import DataError

__all__ = ["read_npz", "data_file"]


def data_file(request: DataRequest, fmt: str, example: str) -> Path:
    """``request.path`` as an existing file, or a one-line error saying what to set."""
    if request.path is None:
        raise DataError(f"data set {fmt!r} is read from a file: set data.path, e.g. {example}", key="data.path")
    path = Path(request.path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {what}; give the {fmt} file to read", key="data.path")
    return path


def read_npz(request: DataRequest) -> Arrays:
    """The checked arrays of ``request.path`` (``request.samples``: a seeded subset of the training samples)."""
    path = data_file(request, "npz", "{name: npz, path: data/mine.npz}")
    with path.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise DataError(f"{path} holds one array (.npy), not an .npz archive; save x and y with "
                        f"numpy.savez(path, x=x, y=y)", key="data.path")
    if not magic.startswith(b"PK"):
        raise DataError(f"{path} is not an .npz archive; save the arrays with numpy.savez(path, x=x, y=y)",
                        key="data.path")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = as_arrays({k: npz[k] for k in npz.files}, str(path), "data.path")
    except ValueError as err:  # an object array needs pickle, which is never allowed
        raise DataError(f"{path}: an array is unreadable without pickle ({str(err).split('.')[0]}); save numeric "
                        f"arrays only", key="data.path") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path} is not a readable .npz archive ({err.__class__.__name__}: {err}); write it with "
                        f"numpy.savez(path, x=x, y=y)", key="data.path") from None
    return keep_samples(arrays, request.samples)


register_dataset("npz", read_npz, reads=("path", "samples"))
