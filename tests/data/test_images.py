"""Image data from disk: CIFAR-10/100 binary archives and class-per-folder images (tiny ones made here), their
normalisation and splits, the clear error when the files are missing, and the crop-and-flip augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from evospace.data import load_data
from evospace.data.augment import crop_and_flip
from evospace.errors import SpaceError
from evospace.space import space_from_dict

REPO = Path(__file__).resolve().parents[2]


def write_cifar(directory: Path, per_file: int = 8, fine: bool = False, seed: int = 0) -> np.ndarray:
    """A tiny CIFAR binary archive (CIFAR-100 layout with ``fine``); returns the training labels written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    files = ["train.bin"] if fine else [f"data_batch_{i}.bin" for i in range(1, 6)]
    labels = []
    for name in [*files, "test.bin" if fine else "test_batch.bin"]:
        y = rng.integers(0, 100 if fine else 10, per_file)
        pixels = rng.integers(0, 256, (per_file, 3 * 32 * 32))
        pixels[:, :1024] = 200 + y[:, None] % 50  # the red plane carries the label: a visible pattern
        head = [rng.integers(0, 20, per_file)[:, None], y[:, None]] if fine else [y[:, None]]
        np.hstack([*head, pixels]).astype(np.uint8).tofile(directory / name)
        if "test" not in name:
            labels.append(y)
    return np.concatenate(labels)


def test_cifar10_binary_archive_reads_with_a_validation_split_apart_from_test(tmp_path: Path) -> None:
    labels = write_cifar(tmp_path / "cifar-10-batches-bin")  # the archive's own folder inside data.path
    data = load_data("cifar10", val_fraction=0.25, path=tmp_path)
    assert data.x_train.shape[1:] == (3, 32, 32) and data.x_test.shape == (8, 3, 32, 32)
    assert len(data.y_train) + len(data.y_val) == 40
    assert sorted(torch.cat([data.y_train, data.y_val]).tolist()) == sorted(labels.tolist())
    train = torch.cat([data.x_train, data.x_val])
    assert torch.allclose(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    # channel order: the red plane (constant per image, set from the label) is the first channel
    assert train[:, 0].flatten(1).std(dim=1).max() < 1e-4


def test_cifar100_reads_fine_labels(tmp_path: Path) -> None:
    labels = write_cifar(tmp_path, per_file=30, fine=True)
    data = load_data("cifar100", val_fraction=0.2, path=tmp_path)
    assert sorted(torch.cat([data.y_train, data.y_val]).tolist()) == sorted(labels.tolist())


def test_missing_cifar_files_are_one_error_naming_data_path_and_the_files(tmp_path: Path) -> None:
    space = yaml.safe_load((REPO / "spaces" / "nb201.yaml").read_text())
    space["data"]["path"] = str(tmp_path / "nowhere")
    parsed = space_from_dict(space, "nb201.yaml")  # the shape is known: the space validates without the files
    assert parsed.data.channels == 3 and parsed.data.side == 32
    with pytest.raises(Exception, match=r"data.path .*nowhere is not a directory; put the CIFAR binary files "
                                        r"\(data_batch_1.bin"):
        load_data("cifar10", val_fraction=0.2, path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="missing data_batch_1.bin"):
        load_data("cifar10", val_fraction=0.2, path=tmp_path / "empty")


def write_folder(root: Path, counts: dict[str, int], seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            side = int(rng.integers(6, 20))
            Image.fromarray(rng.integers(0, 256, (side, side + 3, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    (root / next(iter(counts)) / "notes.txt").write_text("not an image")


def test_image_folder_reads_classes_resized_and_normalised(tmp_path: Path) -> None:
    write_folder(tmp_path / "imgs", {"cat": 12, "dog": 8, "emu": 5})
    data = load_data("image_folder", val_fraction=0.2, path=tmp_path / "imgs", size=8)
    assert data.info.classes == 3 and data.info.side == 8 and data.info.channels == 3
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 25
    write_folder(tmp_path / "split" / "train", {"a": 10, "b": 10})
    write_folder(tmp_path / "split" / "test", {"a": 3, "b": 2}, seed=1)
    split = load_data("image_folder", val_fraction=0.2, path=tmp_path / "split", size=12)
    assert split.x_test.shape == (5, 3, 12, 12) and sorted(split.y_test.tolist()) == [0, 0, 0, 1, 1]


def test_image_folder_space_validates_its_size(tmp_path: Path) -> None:
    write_folder(tmp_path / "imgs", {"a": 6, "b": 6})
    space = yaml.safe_load((REPO / "spaces" / "nb201.yaml").read_text())
    space["data"] = {"name": "image_folder", "path": str(tmp_path / "imgs"), "size": 16}
    assert space_from_dict(space, "s.yaml").data.side == 16
    space["data"]["size"] = 2
    with pytest.raises(SpaceError, match="must be ≥ 4") as info:
        space_from_dict(space, "s.yaml")
    assert info.value.key == "data.size"


def test_crop_and_flip_keeps_shape_and_only_moves_pixels() -> None:
    x = torch.randn(16, 3, 8, 8)
    out = crop_and_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    again = crop_and_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    flipped_only = crop_and_flip(x, torch.Generator().manual_seed(1), padding=0)
    for image, result in zip(x, flipped_only, strict=True):
        assert torch.equal(result, image) or torch.equal(result, image.flip(-1))
    # with padding every output pixel is an input pixel or zero padding
    values = set(x.flatten().tolist()) | {0.0}
    assert set(out.flatten().tolist()) <= values


@pytest.mark.parametrize("workers", ["0", "2"])
def test_nb201_trains_a_real_cell_supernet_when_data_path_is_set(tmp_path: Path, capsys, workers: str) -> None:
    """With the training split on the device, and in host memory behind two DataLoader workers."""
    from evospace.cli import main

    write_cifar(tmp_path / "cifar", per_file=16)
    status = main(["search", str(REPO / "spaces" / "nb201.yaml"), "--out", str(tmp_path / "run"), "--quiet",
                   "--workers", workers,
                   "--set", f"data.path={tmp_path / 'cifar'}", "--set", "data.batch_size=16",
                   "--set", "skeleton.stem.channels=4",
                   "--set", "skeleton.stages=[{channels: 4, depth: 1, stride: 1}, {channels: 8, depth: 1, stride: 2}]",
                   "--set", "search.rounds=1", "--set", "search.epochs_per_round=1",
                   "--set", "search.population={size: 4, generations: 1, tournament: 2}",
                   "--set", "search.scoring.anchors=2", "--set", "search.scoring.anchor_epochs=1",
                   "--set", "search.scoring.anchor_steps=0",
                   "--set", "search.scoring.accuracy_samples=4", "--set", "search.objectives=[score]",
                   "--set", "search.shrink.score=score"])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "best by score" in out.err  # the search ended with its best architecture
    assert (tmp_path / "run" / "rounds" / "000" / "supernet.safetensors").exists()
