"""Rows of a csv file, one sample each: ``data: {name: csv, path: FILE, target: COLUMN}``.

The first line names the columns. ``target`` holds the labels: integers 0..K-1, or any other values, which
are numbered in sorted order. Every other column is a number and the row is read as a 1-D signal of one
channel (a search over 1-D operators; ``skeleton.dims: 1``). A seeded fifth of the rows is held out as the
test split. Values are used as they are: scale the columns beforehand if their ranges differ widely.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from evospace.data.arrays import Arrays, as_arrays, keep_samples
from evospace.data.datasets import DataRequest, register_dataset
from evospace.data.npz import data_file
from evospace.errors import DataError, closest

__all__ = ["read_csv"]


def read_csv(request: DataRequest) -> Arrays:
    """The checked arrays of ``request.path``, labels from column ``request.target``."""
    path = data_file(request, "csv", "{name: csv, path: data/mine.csv, target: label}")
    where = str(path)
    header, rows = _read_rows(path, where)
    if request.target is None:
        raise DataError(f"data set 'csv' needs data.target: the column holding the labels (one of "
                        f"{', '.join(header)})", key="data.target")
    if request.target not in header:
        raise DataError(f"{where}: no column {request.target!r}{closest(request.target, header)} for data.target; "
                        f"columns: {', '.join(header)}", key="data.target")
    label_at = header.index(request.target)
    features = [i for i in range(len(header)) if i != label_at]
    if not features:
        raise DataError(f"{where}: only the target column {request.target!r}; no feature columns", key="data.path")
    x = np.empty((len(rows), len(features)), dtype=np.float32)
    for r, (line, row) in enumerate(rows):
        for c, i in enumerate(features):
            try:
                x[r, c] = float(row[i])
            except ValueError:
                raise DataError(f"{where}: line {line}, column {header[i]!r}: {row[i]!r} is not a number; every "
                                f"column but the target must be numeric", key="data.path") from None
    y = _label_indices([row[label_at] for _, row in rows])
    return keep_samples(as_arrays((x, y), where, "data.path"), request.samples)


def _read_rows(path: Path, where: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-empty rows (with their line numbers), each as long as the header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{where} is not a readable csv file ({err}); save it as UTF-8 text with a header line",
                        key="data.path") from None
    numbered = [(n, row) for n, row in enumerate(lines, start=1) if any(cell.strip() for cell in row)]
    if len(numbered) < 2:
        raise DataError(f"{where}: expected a header line naming the columns and one line per sample",
                        key="data.path")
    header = [cell.strip() for cell in numbered[0][1]]
    for n, row in numbered[1:]:
        if len(row) != len(header):
            raise DataError(f"{where}: line {n} has {len(row)} values but the header names {len(header)} columns",
                            key="data.path")
    return header, [(n, [cell.strip() for cell in row]) for n, row in numbered[1:]]


def _label_indices(values: list[str]) -> np.ndarray:
    """Integer labels as they are; any other labels numbered in sorted order."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        names = sorted(set(values))
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[v] for v in values], dtype=np.int64)


register_dataset("csv", read_csv, reads=("path", "target", "samples"))
