"""Held-out accuracy, per-class precision and recall, and the confusion matrix (scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


@dataclass(frozen=True)
class Evaluation:
    """Scores on the held-out images; ``confusion[i, j]`` counts class ``i`` predicted as ``j``."""

    classes: tuple[str, ...]
    accuracy: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    support: tuple[int, ...]
    confusion: np.ndarray

    def table(self) -> str:
        """Per-class precision, recall and image count as aligned text."""
        width = max(len("class"), *(len(name) for name in self.classes))
        lines = [f"{'class':<{width}}  precision  recall  images"]
        for name, p, r, n in zip(self.classes, self.precision, self.recall, self.support, strict=True):
            lines.append(f"{name:<{width}}  {p:9.3f}  {r:6.3f}  {n:6d}")
        return "\n".join(lines)


def evaluate(labels: np.ndarray, logits: np.ndarray, classes: tuple[str, ...]) -> Evaluation:
    """Score the arg-max of ``logits`` against ``labels``; a class never predicted has precision 0."""
    predicted = logits.argmax(axis=1)
    indices = list(range(len(classes)))
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0)
    return Evaluation(
        classes=classes,
        accuracy=float(np.mean(predicted == labels)) if len(labels) else 0.0,
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        support=tuple(int(v) for v in support),
        confusion=confusion_matrix(labels, predicted, labels=indices),
    )
