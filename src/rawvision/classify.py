"""Classification postprocessing: softmax, top-k and the label map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, as float32."""
    x = np.asarray(logits, dtype=np.float32)
    shifted = x - x.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    probs: np.ndarray = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
    return probs


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best classes per row, best first (ties keep the lower index first).

    Returns:
        ``(class_ids, scores)``: int64 and float32 arrays of shape ``[N, min(k, classes)]``.

    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(f"expected scores of shape [N, classes], got {scores.shape}")
    k = min(k, scores.shape[1])
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)
    return ids, np.take_along_axis(scores, ids, axis=1)


def load_labels(path: str | Path) -> tuple[str, ...]:
    """One label per line, in class-index order; blank lines are not allowed."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    labels = tuple(line.strip() for line in lines)
    if not labels or any(not label for label in labels):
        raise ValueError(f"label file {path} is empty or has a blank line")
    return labels


@dataclass(frozen=True)
class TopK:
    """Top-k answers for a batch: ``labels`` (object array of bytes), ``scores`` and ``class_ids``."""

    labels: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def classify(logits: np.ndarray, labels: tuple[str, ...], k: int, apply_softmax: bool = True) -> TopK:
    """Logits ``[N, classes]`` → top-k labels, probabilities and class ids."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 2 or logits.shape[1] != len(labels):
        raise ValueError(f"expected logits of shape [N, {len(labels)}], got {logits.shape}")
    probs = softmax(logits) if apply_softmax else logits
    ids, scores = top_k(probs, k)
    names = np.array([label.encode() for label in labels], dtype=object)
    return TopK(labels=names[ids], scores=scores, class_ids=ids)
