"""Fashion-MNIST → TorchScript: :class:`FashionCNN` trained on the CPU (the ``fashion-mnist`` family's build).

The data are the four original idx files (60,000 training and 10,000 test images), as Debian's
``dataset-fashion-mnist`` installs them, or from a folder the user names.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rawvision.export.datasets import load_fashion_mnist
from rawvision.export.family import Candidate, Request
from rawvision.export.networks import FashionCNN
from rawvision.export.training import TrainConfig, trained_candidate
from rawvision.repository import preprocess_spec

PREPROCESS_MODEL = "fashion_mnist_preprocess"

# Chosen for a quick `make models` on 2 shared cores: 2 epochs of Adam with cosine decay over all
# 60,000 images reached 0.9027 on the test set; 1 epoch at batch 64 only 0.8952 (docs/models.md has the times).
TRAIN_CONFIG = TrainConfig(epochs=2, batch_size=128, learning_rate=2e-3)


def trained_fashion_cnn(request: Request) -> Candidate:
    """Train :class:`FashionCNN`; with ``train_size``, on a seeded random subset of that many training images."""
    config = replace(TRAIN_CONFIG, epochs=request.options.epochs or TRAIN_CONFIG.epochs)
    split = load_fashion_mnist(request.data)
    size = request.options.train_size
    if size is not None and size < len(split.train_labels):
        chosen = np.random.default_rng(config.seed).permutation(len(split.train_labels))[:size]
        split = replace(split, train_images=split.train_images[chosen], train_labels=split.train_labels[chosen])
    spec = preprocess_spec(request.repository, PREPROCESS_MODEL)
    return trained_candidate(FashionCNN, split, spec, config, "test images")
