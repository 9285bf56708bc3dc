"""Data sets: MNIST-1D splits and cache, digits in 2-D, and no side effects on global generators."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from evospace.data import dataset_info, list_datasets, load_data
from evospace.data import mnist1d as mnist1d_module
from evospace.data.mnist1d import cache_dir, mnist1d_arrays
from evospace.errors import DataError

SAMPLES = 600  # 480 train, 120 test


def rows(x: torch.Tensor, y: torch.Tensor) -> list[bytes]:
    """Each sample with its label as bytes, to compare splits as multisets."""
    return sorted(xi.numpy().tobytes() + int(yi).to_bytes(1, "little") for xi, yi in zip(x, y, strict=True))


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVOSPACE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_registry() -> None:
    assert {"mnist1d", "digits"} <= set(list_datasets())
    info = dataset_info("mnist1d")
    assert (info.dims, info.channels, info.side, info.classes) == (1, 1, 40, 10)
    with pytest.raises(DataError, match="unknown data set 'mnist_1d'.*did you mean 'mnist1d'"):
        dataset_info("mnist_1d")


def test_mnist1d_splits_shapes_and_dtypes() -> None:
    splits = load_data("mnist1d", val_fraction=0.2, samples=SAMPLES, split_seed=0)
    assert splits.x_train.shape == (384, 1, 40) and splits.y_train.shape == (384,)
    assert splits.x_val.shape == (96, 1, 40) and splits.y_val.shape == (96,)
    assert splits.x_test.shape == (120, 1, 40) and splits.y_test.shape == (120,)
    for x, y in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val), (splits.x_test, splits.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert x.is_contiguous()
        assert int(y.min()) >= 0 and int(y.max()) <= 9
    assert len(torch.unique(splits.y_train)) == 10
    assert splits.info == dataset_info("mnist1d")


def test_test_samples_are_generated_beyond_samples_which_all_train() -> None:
    def as_rows(x: np.ndarray, y: np.ndarray) -> list[bytes]:
        return rows(torch.from_numpy(x), torch.from_numpy(y))

    x, y, x_test, y_test = mnist1d_arrays(200, 400)  # the package's 600: 480 train and 120 test, pooled
    assert (x.shape, y.shape, x_test.shape, y_test.shape) == ((200, 1, 40), (200,), (400, 1, 40), (400,))
    px, py, px_test, py_test = mnist1d_arrays(SAMPLES)
    train, test = as_rows(x, y), as_rows(x_test, y_test)
    assert sorted(train + test) == as_rows(np.concatenate([px, px_test]), np.concatenate([py, py_test]))
    assert not set(train) & set(test)
    splits = load_data("mnist1d", val_fraction=0.25, samples=200, test_samples=400, split_seed=0)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (150, 50, 400)


def test_test_samples_enter_the_fingerprint_only_when_set() -> None:
    from evospace import load_space
    space = Path(__file__).resolve().parents[2] / "spaces" / "mnist1d.yaml"
    plain, explicit = load_space(space), load_space(space, ["data.test_samples=null"])
    assert plain.fingerprint() == explicit.fingerprint()
    assert load_space(space, ["data.test_samples=400"]).fingerprint() != plain.fingerprint()


def test_a_data_set_that_does_not_generate_refuses_test_samples() -> None:
    with pytest.raises(DataError, match=r"'digits' does not read data.test_samples \(it reads data.samples\)"):
        load_data("digits", val_fraction=0.2, test_samples=100)


def test_validation_is_carved_from_train() -> None:
    x_train, y_train, x_test, y_test = mnist1d_arrays(SAMPLES)
    splits = load_data("mnist1d", val_fraction=0.25, samples=SAMPLES, split_seed=3)
    train, val = rows(splits.x_train, splits.y_train), rows(splits.x_val, splits.y_val)
    assert len(val) == round(len(x_train) * 0.25)
    assert not set(train) & set(val)  # disjoint
    assert sorted(train + val) == rows(torch.from_numpy(x_train), torch.from_numpy(y_train))
    assert rows(splits.x_test, splits.y_test) == rows(torch.from_numpy(x_test), torch.from_numpy(y_test))


def test_validation_split_is_deterministic_per_seed() -> None:
    a = load_data("mnist1d", val_fraction=0.2, samples=SAMPLES, split_seed=0)
    b = load_data("mnist1d", val_fraction=0.2, samples=SAMPLES, split_seed=0)
    c = load_data("mnist1d", val_fraction=0.2, samples=SAMPLES, split_seed=1)
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_val, c.x_val)
    assert rows(a.x_train, a.y_train) + rows(a.x_val, a.y_val) != rows(c.x_train, c.y_train) + rows(c.x_val, c.y_val)
    assert sorted(rows(a.x_train, a.y_train) + rows(a.x_val, a.y_val)) == sorted(
        rows(c.x_train, c.y_train) + rows(c.x_val, c.y_val))


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EVOSPACE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "evospace"
    monkeypatch.setenv("EVOSPACE_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_cache_is_npz_and_reused(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = mnist1d_arrays(SAMPLES)
    assert sorted(p.name for p in fresh_cache.iterdir()) == [f"mnist1d-{SAMPLES}.npz"]  # no temp files left
    with np.load(fresh_cache / f"mnist1d-{SAMPLES}.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["x", "x_test", "y", "y_test"]
        assert f["x"].shape == (480, 40)

    def fail(samples: int) -> dict:
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(mnist1d_module, "_generate", fail)
    again = mnist1d_arrays(SAMPLES)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing key"])
def test_corrupt_cache_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str) -> None:
    first = mnist1d_arrays(SAMPLES)  # from the shared cache: generated at most once per machine
    fresh_cache = tmp_path / "cache"
    monkeypatch.setenv("EVOSPACE_CACHE", str(fresh_cache))
    good = io.BytesIO()
    np.savez(good, x=first[0][:, 0], y=first[1], x_test=first[2][:, 0], y_test=first[3])
    good = good.getvalue()
    fresh_cache.mkdir()
    path = fresh_cache / f"mnist1d-{SAMPLES}.npz"
    if damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with open(path, "wb") as f:
            np.savez(f, x=first[0][:, 0, :])
    rebuilt = mnist1d_arrays(SAMPLES)
    assert all(np.array_equal(a, b) for a, b in zip(first, rebuilt, strict=True))
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == ["x", "x_test", "y", "y_test"]


def test_generation_leaves_global_generators_alone(fresh_cache: Path) -> None:
    def draws() -> tuple:
        return np.random.random(), random.random(), float(torch.rand(()))

    np.random.seed(11)
    random.seed(11)
    torch.manual_seed(11)
    mnist1d_arrays(SAMPLES)  # generates: the cache is empty
    after = draws()
    np.random.seed(11)
    random.seed(11)
    torch.manual_seed(11)
    assert draws() == after


def test_digits_is_two_dimensional() -> None:
    pytest.importorskip("sklearn")
    splits = load_data("digits", val_fraction=0.2, split_seed=0)
    assert splits.info.dims == 2
    assert splits.x_train.shape[1:] == (1, 8, 8) and splits.x_test.shape[1:] == (1, 8, 8)
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 1797
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.long
    assert float(splits.x_train.min()) >= -0.5 and float(splits.x_train.max()) <= 0.5
    small = load_data("digits", val_fraction=0.2, samples=500, split_seed=0)
    assert len(small.y_train) + len(small.y_val) + len(small.y_test) == 500
