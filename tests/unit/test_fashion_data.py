"""Fashion-MNIST data: the Debian files, the message when they are missing, and sample files by class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rawvision.cli.main import main
from rawvision.export.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist
from rawvision.imaging import decode


def test_the_full_data_set_is_read(fashion_split) -> None:  # type: ignore[no-untyped-def]
    assert fashion_split.train_images.shape == (60000, 28, 28)
    assert fashion_split.test_images.shape == (10000, 28, 28)
    assert np.bincount(fashion_split.test_labels).tolist() == [1000] * 10


def test_a_missing_data_set_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist.*--data"):
        load_fashion_mnist(tmp_path)


def test_samples_are_written_as_png_named_by_class(tmp_path: Path, fashion_split) -> None:  # type: ignore[no-untyped-def]
    assert main(["samples", "--dataset", "fashion-mnist", "--out", str(tmp_path), "--count", "12"]) == 0
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 12
    for index, path in enumerate(files):
        label = FASHION_MNIST_CLASSES[int(fashion_split.test_labels[index])]
        assert path.name == f"{index:04d}_{label.replace('/', '-').replace(' ', '_')}.png"
        pixels = np.asarray(decode(path.read_bytes(), "L"))
        assert np.array_equal(pixels, fashion_split.test_images[index])
