"""MNIST → TorchScript: :class:`UnpooledDigitCNN`, beside the ONNX :class:`DigitCNN` (``mnist-torchscript``).

Same digits, same held-out split and the same ``mnist_preprocess`` spec as :mod:`rawvision.export.mnist`,
so the ``mnist`` and ``mnist_torchscript_ensemble`` ensembles can be compared image for image.
"""

from __future__ import annotations

from dataclasses import replace

from rawvision.export.family import Candidate, Request
from rawvision.export.mnist import PREPROCESS_MODEL, load_split
from rawvision.export.networks import UnpooledDigitCNN
from rawvision.export.training import TrainConfig, trained_candidate
from rawvision.repository import preprocess_spec

# Adam 1e-3, batch 32 for 4 epochs; without the random 2-pixel shift this network (no pooling, a
# 30,976-wide linear layer) overfits the 4,000 digits and stays below 97% held out.
TRAIN_CONFIG = TrainConfig(epochs=4, batch_size=32, learning_rate=1e-3, shift=2)


def trained_unpooled_cnn(request: Request) -> Candidate:
    """Train :class:`UnpooledDigitCNN` on the digits, preprocessed by the ``mnist_preprocess`` spec."""
    config = replace(TRAIN_CONFIG, epochs=request.options.epochs or TRAIN_CONFIG.epochs)
    spec = preprocess_spec(request.repository, PREPROCESS_MODEL)
    return trained_candidate(UnpooledDigitCNN, load_split(request.data), spec, config, "held-out digits")
