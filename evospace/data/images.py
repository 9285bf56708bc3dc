"""Images read from disk: CIFAR-10/100 binary archives (``cifar10``, ``cifar100``) and class-per-folder images
(``image_folder``). Nothing is downloaded: a missing directory is one error saying where to put the files.

CIFAR comes in its *binary* version (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``; CIFAR-100:
``train.bin``, ``test.bin``): fixed-size records of a label byte (CIFAR-100: coarse then fine label) and 3,072
pixel bytes, read with NumPy. The Python version is pickled, and evospace loads no pickle.

``image_folder`` reads ``DIR/<class>/*.png|jpg|...`` (or ``DIR/train/<class>/...`` and ``DIR/test/<class>/...``)
with Pillow, as RGB resized to ``data.size`` x ``data.size`` (default 32); classes are the sorted folder names.

Pixels are scaled to [0, 1] and normalised per channel by the training split's mean and standard deviation.
The training split's usual augmentation (random crop with 4 pixels of zero padding, horizontal flip) is applied
per batch by the trainers (:mod:`evospace.data.augment`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evospace.data.arrays import Arrays, as_arrays, keep_samples
from evospace.data.datasets import DataInfo, DataRequest, register_dataset
from evospace.errors import DataError

__all__ = ["read_cifar10", "read_cifar100", "read_image_folder", "normalise", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_PIXELS = 3 * 32 * 32
_CIFAR = {  # name: (sub-directory of the official archive, training files, test files, label bytes)
    "cifar10": ("cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",), 1),
    "cifar100": ("cifar-100-binary", ("train.bin",), ("test.bin",), 2),
}


def _directory(request: DataRequest, name: str, what: str) -> Path:
    """``request.path`` as an existing directory, or a one-line error saying what to put where."""
    if request.path is None:
        raise DataError(f"data set {name!r} is read from disk and nothing is downloaded: set data.path to the "
                        f"directory holding {what}", key="data.path")
    path = Path(request.path).expanduser()
    if not path.is_dir():
        raise DataError(f"data.path {path} is not a directory; put {what} there (nothing is downloaded)",
                        key="data.path")
    return path


def normalise(x: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both splits scaled by the training split's per-channel mean and standard deviation (float32)."""
    axes = (0, *range(2, x.ndim))
    mean = x.mean(axis=axes, dtype=np.float64, keepdims=True)
    std = x.std(axis=axes, dtype=np.float64, keepdims=True)
    std[std == 0] = 1.0
    return ((x - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _read_cifar(request: DataRequest, name: str) -> Arrays:
    subdir, train_files, test_files, label_bytes = _CIFAR[name]
    what = f"the CIFAR binary files ({', '.join(train_files + test_files)}; the binary version of the archive)"
    root = _directory(request, name, what)
    folder = root / subdir if (root / subdir).is_dir() else root
    missing = [f for f in train_files + test_files if not (folder / f).is_file()]
    if missing:
        raise DataError(f"data.path {root}: missing {', '.join(missing)}; put {what} in this directory or in "
                        f"{subdir}/ inside it (nothing is downloaded)", key="data.path")

    def read(files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for file in files:
            raw = np.fromfile(folder / file, dtype=np.uint8)
            if raw.size % (label_bytes + _PIXELS):
                raise DataError(f"{folder / file}: {raw.size} bytes is not a whole number of {label_bytes + _PIXELS}"
                                f"-byte CIFAR records; is it the binary version, undamaged?", key="data.path")
            parts.append(raw.reshape(-1, label_bytes + _PIXELS))
        records = np.concatenate(parts)
        images = records[:, label_bytes:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        return images, records[:, label_bytes - 1].astype(np.int64)  # CIFAR-100: the fine label

    x, y = read(train_files)
    x_test, y_test = read(test_files)
    x, x_test = normalise(x, x_test)
    return keep_samples(as_arrays((x, y, x_test, y_test), str(folder), "data.path"), request.samples)


def read_cifar10(request: DataRequest) -> Arrays:
    """CIFAR-10 from its binary archive in ``request.path`` (50,000 training, 10,000 test images)."""
    return _read_cifar(request, "cifar10")


def read_cifar100(request: DataRequest) -> Arrays:
    """CIFAR-100 (fine labels) from its binary archive in ``request.path``."""
    return _read_cifar(request, "cifar100")


def _load_images(folder: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # only this data set needs Pillow (the `images` extra)

    images, labels = [], []
    for label, name in enumerate(classes):
        directory = folder / name
        if not directory.is_dir():
            continue
        for file in sorted(directory.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as image:
                    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            except OSError as err:
                raise DataError(f"{file}: not a readable image ({err})", key="data.path") from None
            images.append(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0)
            labels.append(label)
    if not images:
        return np.zeros((0, 3, size, size), np.float32), np.zeros(0, np.int64)
    return np.stack(images), np.array(labels, dtype=np.int64)


def read_image_folder(request: DataRequest) -> Arrays:
    """Class-per-folder images under ``request.path`` (``train/`` and ``test/`` if both exist, else one tree
    whose seeded fifth becomes the test split), resized to ``request.size`` (default 32)."""
    what = "one folder per class of images (DIR/<class>/*.png), or DIR/train/<class>/ and DIR/test/<class>/"
    root = _directory(request, "image_folder", what)
    size = request.size or 32
    split = (root / "train").is_dir() and (root / "test").is_dir()
    train = root / "train" if split else root
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"data.path {train}: found {len(classes)} class folder(s); put {what}", key="data.path")
    x, y = _load_images(train, classes, size)
    if split:
        x_test, y_test = _load_images(root / "test", classes, size)
        x, x_test = normalise(x, x_test)
        arrays = as_arrays((x, y, x_test, y_test), str(root), "data.path")
    else:
        arrays = as_arrays((x, y), str(root), "data.path")  # the registry carves a seeded test split
        x, x_test = normalise(arrays.x, arrays.x_test)
        arrays = Arrays(x, arrays.y, x_test, arrays.y_test)
    return keep_samples(arrays, request.samples)


# the CIFAR shapes are fixed, so a space validates (and a tabular search runs) without the files
register_dataset(DataInfo("cifar10", dims=2, channels=3, side=32, classes=10), read_cifar10, reads=("path", "samples"))
register_dataset(DataInfo("cifar100", dims=2, channels=3, side=32, classes=100), read_cifar100,
                 reads=("path", "samples"))
register_dataset("image_folder", read_image_folder, reads=("path", "samples", "size"))
