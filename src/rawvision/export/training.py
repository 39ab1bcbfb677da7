"""A small, seeded CPU training loop, accuracy, and the trained families' shared build step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rawvision.export.datasets import Split
from rawvision.export.family import Candidate
from rawvision.transforms import PreprocessSpec, normalize

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`.

    ``weight_decay`` is Adam's L2 penalty; ``shift`` > 0 moves each training batch by a random offset of
    up to that many pixels (edges replicated), a cheap augmentation for small data sets.
    """

    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    weight_decay: float = 0.0
    shift: int = 0


def shifted(batch: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """``batch`` (NCHW) moved by one random offset in ``[-shift, shift]`` per axis, edges replicated."""
    if shift <= 0:
        return batch
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=generator))
    height, width = batch.shape[-2:]
    padded = nn.functional.pad(batch, (shift, shift, shift, shift), mode="replicate")
    return padded[..., shift + dy:shift + dy + height, shift + dx:shift + dx + width]


def train(build: Callable[[], nn.Module], inputs: np.ndarray, labels: np.ndarray,
          config: TrainConfig) -> nn.Module:
    """Build (seeded) and train with Adam, cosine learning-rate decay and cross-entropy.

    ``inputs`` are preprocessed float32 NCHW arrays; the same seed gives the same model.
    """
    torch.manual_seed(config.seed)
    model = build()
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(inputs)
    y = torch.from_numpy(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * -(-len(y) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), config.batch_size):
            index = order[start:start + config.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(shifted(x[index], config.shift, generator)), y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        LOGGER.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, total / len(y))
    model.eval()
    return model


def predict(model: nn.Module, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for preprocessed inputs, in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        parts = [model(torch.from_numpy(inputs[i:i + batch_size])).numpy()
                 for i in range(0, len(inputs), batch_size)]
    return np.concatenate(parts)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose arg-max is the label."""
    return float((np.argmax(logits, axis=1) == labels).mean())


def prepare(images: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """N×H×W uint8 grey images (digits, clothes) → the network input, with the same ``normalize`` the server runs."""
    if images.shape[1:] != spec.image_size:
        raise ValueError(f"images of shape {images.shape[1:]} do not match the spec's {spec.image_size}")
    return normalize(images[..., None], spec)


def trained_candidate(build: Callable[[], nn.Module], split: Split, spec: PreprocessSpec, config: TrainConfig,
                      held_out: str, parity_inputs: int = 64) -> Candidate:
    """Train on ``split``'s training part and score on its held-out part (``held_out`` names what they are)."""
    LOGGER.info("training on %d images, holding out %d", len(split.train_labels), len(split.test_labels))
    model = train(build, prepare(split.train_images, spec), split.train_labels, config)
    test_inputs = prepare(split.test_images, spec)
    test_accuracy = accuracy(predict(model, test_inputs), split.test_labels)
    LOGGER.info("accuracy: %.4f on %d %s", test_accuracy, len(split.test_labels), held_out)
    return Candidate(model, test_inputs[:parity_inputs], test_accuracy, f"{len(split.test_labels)} {held_out}")
