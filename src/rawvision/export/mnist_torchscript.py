"""Seed 001's second MNIST model (conv 32/64/64, one linear layer) as TorchScript, beside the ONNX one.

Same digits, same held-out split and the same ``mnist_preprocess`` spec as :mod:`rawvision.export.mnist`,
so the ``mnist`` and ``mnist_torchscript_ensemble`` ensembles can be compared image for image.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rawvision.export.mnist import PREPROCESS_MODEL, load_split, prepare
from rawvision.export.networks import SeedDigitCNN
from rawvision.export.torchscript_export import TorchScriptReport, write_checked
from rawvision.export.training import TrainConfig, accuracy, predict, train
from rawvision.repository import preprocess_spec

LOGGER = logging.getLogger(__name__)

CORE_MODEL = "mnist_torchscript"
# The seed's own settings (Adam 1e-3, batch 32) for 4 epochs; without the random 2-pixel shift this
# network (no pooling, a 30,976-wide linear layer) overfits the 4,000 digits and stays below 97% held out.
TRAIN_CONFIG = TrainConfig(epochs=4, batch_size=32, learning_rate=1e-3, shift=2)


def export_mnist_torchscript(repository: str | Path, data_dir: str | Path | None = None, version: int = 1,
                             config: TrainConfig = TRAIN_CONFIG, min_accuracy: float = 0.97) -> TorchScriptReport:
    """Train, script, check and write ``<repository>/mnist_torchscript/<version>/model.pt``.

    Raises:
        RuntimeError: if held-out accuracy is below ``min_accuracy``; nothing is written then.

    """
    repository = Path(repository)
    spec = preprocess_spec(repository, PREPROCESS_MODEL)
    split = load_split(data_dir)
    LOGGER.info("training on %d digits, holding out %d", len(split.train_labels), len(split.test_labels))
    model = train(SeedDigitCNN, prepare(split.train_images, spec), split.train_labels, config)
    test_inputs = prepare(split.test_images, spec)
    test_accuracy = accuracy(predict(model, test_inputs), split.test_labels)
    LOGGER.info("held-out accuracy: %.4f on %d digits", test_accuracy, len(split.test_labels))
    return write_checked(model, test_inputs, test_accuracy, repository / CORE_MODEL, version, min_accuracy)
