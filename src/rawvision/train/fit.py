"""Cache the frozen trunk's outputs once per image, then train the head on them (seconds on two cores)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rawvision.train.data import Sample, Skipped, decoded
from rawvision.train.network import Head, Trunk
from rawvision.train.progress import Progress
from rawvision.transforms import PreprocessSpec, normalize

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Hyper-parameters of the head's training: AdamW on cached features, seeded mini-batches."""

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


@dataclass(frozen=True)
class Features:
    """The trunk's output for every readable sample, their class indices, and the files skipped."""

    values: torch.Tensor
    labels: np.ndarray
    samples: tuple[Sample, ...]
    skipped: tuple[Skipped, ...]


def extract(trunk: Trunk, samples: Sequence[Sample], spec: PreprocessSpec, label: str = "features",
            batch_size: int = 16) -> Features:
    """Decode, preprocess (the server's way) and run the frozen trunk over ``samples``, once each."""
    values: list[torch.Tensor] = []
    kept: list[Sample] = []
    skipped: list[Skipped] = []
    pending: list[np.ndarray] = []
    progress = Progress(label, len(samples))

    def flush() -> None:
        if pending:
            with torch.no_grad():
                values.append(trunk(torch.from_numpy(normalize(np.stack(pending), spec))))
            progress.advance(len(pending))
            pending.clear()

    for sample, result in decoded(samples, spec):
        if isinstance(result, Skipped):
            skipped.append(result)
            progress.advance(1)
            continue
        kept.append(sample)
        pending.append(result)
        if len(pending) == batch_size:
            flush()
    flush()
    progress.close()
    labels = np.asarray([s.label for s in kept], dtype=np.int64)
    empty = torch.zeros((0, *values[0].shape[1:])) if values else torch.zeros((0,))
    return Features(torch.cat(values) if values else empty, labels, tuple(kept), tuple(skipped))


def fit_head(head: Head, features: torch.Tensor, labels: np.ndarray, config: FitConfig) -> list[float]:
    """Train ``head`` on cached ``features``; return the mean training loss of each epoch."""
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(head.trainable(), lr=config.learning_rate, weight_decay=config.weight_decay)
    targets = torch.from_numpy(labels)
    losses: list[float] = []
    loss_fn = nn.CrossEntropyLoss()
    progress = Progress("training", config.epochs)
    head.train_mode()
    for _ in range(config.epochs):
        order = torch.randperm(len(targets), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            loss = loss_fn(head(features[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / max(len(order), 1))
        progress.advance(1, f"loss {losses[-1]:.3f}")
    progress.close()
    head.eval()
    return losses


def predict(head: Head, features: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Logits ``[N, classes]`` of the (eval-mode) head on cached features."""
    with torch.no_grad():
        parts = [head(features[i:i + batch_size]) for i in range(0, len(features), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, head.linear.out_features), np.float32)
