"""The two report charts: the confusion matrix, and the class-probability bars for one image."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from rawvision.train.evaluation import Evaluation


def confusion_png(evaluation: Evaluation, path: Path) -> Path:
    """Write the held-out confusion matrix (counts, true class by row) as a PNG."""
    size = max(5.0, 0.6 * len(evaluation.classes) + 3)
    figure, axes = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(evaluation.confusion, display_labels=list(evaluation.classes)).plot(
        ax=axes, xticks_rotation=45, colorbar=False)
    axes.set_title(f"held-out accuracy {evaluation.accuracy:.3f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def probability_png(probabilities: np.ndarray, classes: tuple[str, ...], title: str, path: Path) -> Path:
    """One bar per class, its probability in percent written on the bar."""
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(classes) + 2), 5))
    bars = axes.bar(list(classes), probabilities * 100, width=0.45)
    axes.bar_label(bars, fmt="%.2f")
    axes.set_ylim(0, 110)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("class")
    axes.set_ylabel("probability (%)")
    axes.tick_params(axis="x", labelrotation=45)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
