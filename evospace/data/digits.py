"""scikit-learn's 8x8 handwritten digits (shipped inside scikit-learn): the small 2-D data set.

Optional: needs ``pip install evospace[digits]``. 1,797 images; a seeded 80/20 train/test split.
"""

from __future__ import annotations

import numpy as np

from evospace.data.datasets import DataInfo, DataRequest, register_dataset
from evospace.errors import DataError

__all__: list[str] = []


@register_dataset(DataInfo("digits", dims=2, channels=1, side=8, classes=10), reads=("samples",))
def _build_digits(request: DataRequest):
    samples = request.samples
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise DataError("data set 'digits' needs scikit-learn: pip install -e '.[digits]'") from err
    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0 - 0.5)[:, None, :, :]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(1234).permutation(len(y))
    if samples:
        order = order[:samples]
    n_test = len(order) // 5
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
