"""The cell skeleton is NAS-Bench-201's: with its macro settings (C = 16, N = 5, 32x32x3 input, 10 classes),
evospace's parameters equal the table's ``params_M`` and its FLOPs its ``flops_M`` for all 15,625 cells."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml

from evospace.bench import from_nb201, nb201_flops
from evospace.data import DataInfo
from evospace.space import space_from_dict

REPO = Path(__file__).resolve().parents[2]
CIFAR10 = DataInfo("cifar10", dims=2, channels=3, side=32, classes=10)


def test_every_nb201_cell_has_the_tables_params_and_flops() -> None:
    data = yaml.safe_load((REPO / "spaces" / "nb201.yaml").read_text())
    space = space_from_dict(data, "spaces/nb201.yaml", data_info=CIFAR10)
    assert [st.channels for st in space.config.skeleton.stages] == [16, 32, 64]
    assert [st.depth for st in space.config.skeleton.stages] == [5, 5, 5]
    with open(REPO / "bench" / "data" / "nb201_cifar10.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    params = np.array([space.cost(from_nb201(row["arch"])).params for row in rows])
    flops = np.array([nb201_flops(space.cost(from_nb201(row["arch"])), CIFAR10.classes) for row in rows])
    table_params = np.array([round(float(row["params_M"]) * 1e6) for row in rows])
    table_flops = np.array([round(float(row["flops_M"]) * 1e6) for row in rows])
    assert int((params == table_params).sum()) == 15625
    assert int((flops == table_flops).sum()) == 15625
