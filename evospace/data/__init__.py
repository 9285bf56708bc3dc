"""Data sets: generated or shipped offline, held on the device as tensors."""

from evospace.data import digits as _digits  # noqa: F401  (registers "digits")
from evospace.data import mnist1d as _mnist1d  # noqa: F401  (registers "mnist1d")
from evospace.data.datasets import (
    DataInfo,
    DataSplits,
    dataset_info,
    list_datasets,
    load_data,
    register_dataset,
)

__all__ = ["DataInfo", "DataSplits", "dataset_info", "list_datasets", "load_data", "register_dataset"]
