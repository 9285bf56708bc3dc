"""Data sets: generated, shipped offline, read from a file, or registered by the user (never downloaded)."""

from evospace.data import digits as _digits  # noqa: F401  (registers "digits")
from evospace.data import images as _images  # noqa: F401  (registers "cifar10", "cifar100", "image_folder")
from evospace.data import mnist1d as _mnist1d  # noqa: F401  (registers "mnist1d")
from evospace.data import npz as _npz  # noqa: F401  (registers "npz")
from evospace.data import table as _table  # noqa: F401  (registers "csv")
from evospace.data.datasets import (
    DataInfo,
    DataRequest,
    DataSplits,
    check_request,
    data_fingerprint,
    data_record,
    dataset_info,
    info_from_record,
    list_datasets,
    load_data,
    load_space_data,
    register_dataset,
)

__all__ = ["DataInfo", "DataRequest", "DataSplits", "check_request", "data_fingerprint", "data_record",
           "dataset_info", "info_from_record", "list_datasets", "load_data", "load_space_data", "register_dataset"]
