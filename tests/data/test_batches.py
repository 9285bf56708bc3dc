"""Training batches from DataLoader workers: the same rows in the same order as slicing on the device, so a run
trains to the same weights with any number of workers and resumes mid-epoch from the step it stopped at."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from evospace.data import DataSplits, load_data
from evospace.data.batches import train_batches
from evospace.data.datasets import DEVICE_RESIDENT_BYTES, auto_workers
from evospace.errors import EvospaceError
from evospace.evolve import Search
from evospace.space import SearchSpace, space_from_dict
from evospace.space.schema import TrainConfig
from evospace.supernet import Supernet, build_model, train_standalone
from evospace.supernet.train import RoundTrainer

BATCH = 64


@pytest.fixture(scope="module")
def splits() -> DataSplits:
    return load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0)


def with_workers(data: DataSplits, workers: int) -> DataSplits:
    return data.to("cpu", workers=workers)


def test_auto_workers_slices_on_the_cpu_and_for_small_data_on_a_gpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert auto_workers(cpu, 10 * DEVICE_RESIDENT_BYTES, None) == 0
    assert auto_workers(cuda, DEVICE_RESIDENT_BYTES, None) == 0
    assert 1 <= auto_workers(cuda, DEVICE_RESIDENT_BYTES + 1, None) <= 4
    assert auto_workers(cpu, 0, 3) == 3  # asked for: taken as is
    with pytest.raises(EvospaceError, match="--workers"):
        auto_workers(cpu, 0, -1)


def test_workers_keep_the_training_split_on_the_host(splits: DataSplits) -> None:
    loaded = load_data("mnist1d", val_fraction=0.2, samples=600, split_seed=0, workers=2)
    assert loaded.workers == 2 and loaded.device == torch.device("cpu")
    assert torch.equal(loaded.x_train, splits.x_train) and torch.equal(loaded.y_val, splits.y_val)
    x, y = loaded.train_rows(torch.tensor([5, 1, 7]))
    assert torch.equal(x, splits.x_train[[5, 1, 7]]) and torch.equal(y, splits.y_train[[5, 1, 7]])


@pytest.mark.parametrize("offset,share", [(0, BATCH), (BATCH // 2, BATCH // 2)])
def test_worker_batches_are_the_sliced_batches(splits: DataSplits, offset: int, share: int) -> None:
    order = torch.randperm(len(splits.y_train), generator=torch.Generator().manual_seed(4))
    sliced = list(train_batches(splits, order, batch_size=BATCH, start=1, offset=offset, share=share))
    gathered = list(train_batches(with_workers(splits, 2), order, batch_size=BATCH, start=1, offset=offset,
                                  share=share))
    assert len(sliced) == len(gathered) == len(splits.y_train) // BATCH - 1
    for (xa, ya), (xb, yb) in zip(sliced, gathered):
        assert xa.shape[0] == share
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_closing_the_batches_early_stops_the_workers(splits: DataSplits) -> None:
    batches = train_batches(with_workers(splits, 2), torch.arange(len(splits.y_train)), batch_size=BATCH)
    first = next(batches)
    batches.close()  # no hang, no leaked worker: the loader's iterator is dropped with the generator
    assert torch.equal(first[0], splits.x_train[:BATCH])


def trained_supernet(space: SearchSpace, data: DataSplits, *, stop_at: int | None = None) -> dict:
    """Weights after one epoch of supernet training; with ``stop_at``, stopped after that step and resumed by a
    new trainer from the first one's state (as a run resumed from a mid-epoch snapshot)."""
    net = Supernet(space, space.initial_subspace(), seed=0)

    def trainer() -> RoundTrainer:
        return RoundTrainer(net, data, TrainConfig(), batch_size=BATCH, epochs=1, round_index=0, seed=0)

    first = trainer()
    if stop_at is not None:
        class Stop(Exception):
            pass

        def stop(t: RoundTrainer) -> None:
            if t.step == stop_at:
                raise Stop

        with pytest.raises(Stop):
            first.train_epoch(on_step=stop)
        meta, tensors = first.state_dict()
        first = trainer()
        first.load_state_dict(copy.deepcopy(meta), tensors)
    first.train_epoch()
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_supernet_training_is_the_same_with_workers_and_resumes_mid_epoch(tiny_space: SearchSpace,
                                                                         splits: DataSplits) -> None:
    sliced = trained_supernet(tiny_space, splits)
    gathered = trained_supernet(tiny_space, with_workers(splits, 2))
    resumed = trained_supernet(tiny_space, with_workers(splits, 2), stop_at=3)
    for key, value in sliced.items():
        assert torch.equal(value, gathered[key]), key
        assert torch.equal(value, resumed[key]), key


def test_standalone_training_is_the_same_with_workers(tiny_space: SearchSpace, splits: DataSplits) -> None:
    arch = dict(next(iter(tiny_space.initial_subspace())))
    results = []
    for data in (splits, with_workers(splits, 1)):
        model = build_model(tiny_space, arch, seed=0)
        results.append((train_standalone(model, data, TrainConfig(), epochs=1, batch_size=BATCH, seed=0,
                                         max_shift=3), model.state_dict()))
    (a, weights_a), (b, weights_b) = results
    assert a.val_acc == b.val_acc and a.test_acc == b.test_acc
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_a_search_with_workers_ends_as_one_without(tmp_path: Path, tiny_space_dict: dict) -> None:
    space = space_from_dict(tiny_space_dict, "<tiny>")
    results = [Search(space, tmp_path / f"w{workers}", device="cpu", progress=False, log=lambda _: None,
                      workers=workers).run() for workers in (0, 2)]
    assert results[0].front == results[1].front
