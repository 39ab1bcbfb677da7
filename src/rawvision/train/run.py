"""The whole of ``rawvision train`` short of adding the pipeline: read, cache, fit, score, chart, export."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from rawvision.classify import softmax
from rawvision.export.onnx_export import checked_onnx
from rawvision.presets import EFFICIENTNET_LITE
from rawvision.train.data import DataError, Sample, Skipped, check_counts, scan_folder, split
from rawvision.train.evaluation import Evaluation, evaluate
from rawvision.train.fit import Features, FitConfig, extract, fit_head, predict
from rawvision.train.network import transfer_model
from rawvision.train.plots import confusion_png, probability_png
from rawvision.transforms import PreprocessSpec, preprocess

LOGGER = logging.getLogger(__name__)

SPEC: PreprocessSpec = EFFICIENTNET_LITE
"""The preprocessing of the ImageNet weights; the exported model expects it, and the pipeline applies it."""
INPUT_NAME = "preprocessed_image"
OUTPUT_NAME = "logits"
PARITY_IMAGES = 8


@dataclass(frozen=True)
class TrainOptions:
    """What ``rawvision train`` was asked: the data, where reports go, and how to split and fit."""

    data: Path
    out: Path
    val: Path | None = None
    val_fraction: float = 0.2
    train_last_block: bool = False
    fit: FitConfig = field(default_factory=FitConfig)


@dataclass(frozen=True)
class TrainReport:
    """What training used, skipped, scored and wrote, and how long it took (wall and process CPU seconds)."""

    classes: tuple[str, ...]
    train_images: int
    held_out: tuple[Sample, ...]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    losses: tuple[float, ...]
    evaluation: Evaluation
    onnx_path: Path
    max_difference: float
    confusion_png: Path
    probability_png: Path
    feature_seconds: float
    fit_seconds: float
    seconds: float
    cpu_seconds: float

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values (written as ``report.json`` beside the charts)."""
        evaluation = self.evaluation
        return {
            "classes": list(self.classes), "train_images": self.train_images,
            "held_out": [str(s.path) for s in self.held_out],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings), "losses": list(self.losses), "accuracy": evaluation.accuracy,
            "precision": dict(zip(self.classes, evaluation.precision, strict=True)),
            "recall": dict(zip(self.classes, evaluation.recall, strict=True)),
            "support": dict(zip(self.classes, evaluation.support, strict=True)),
            "confusion": evaluation.confusion.tolist(), "onnx": str(self.onnx_path),
            "max_difference": self.max_difference, "confusion_png": str(self.confusion_png),
            "probability_png": str(self.probability_png), "feature_seconds": self.feature_seconds,
            "fit_seconds": self.fit_seconds, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
        }


def _held_out(options: TrainOptions, features: Features, extract_val: Features | None) -> tuple[Features, Features]:
    """Training and held-out features: the seeded split of ``features``, or all of it and ``--val``'s."""
    if extract_val is not None:
        return features, extract_val
    train, held = split(features.labels, options.val_fraction, options.fit.seed)

    def subset(index: np.ndarray) -> Features:
        return Features(features.values[index], features.labels[index],
                        tuple(features.samples[i] for i in index), ())

    return subset(train), subset(held)


def train(options: TrainOptions) -> TrainReport:
    """Train a head on ``options.data``, score it on held-out images, chart it, export a checked ONNX file."""
    start, cpu_start = time.perf_counter(), time.process_time()
    folder = scan_folder(options.data)
    val_folder = scan_folder(options.val, folder.classes) if options.val is not None else None
    model = transfer_model(len(folder.classes), options.train_last_block, options.fit.seed)
    features = extract(model.trunk, folder.samples, SPEC, "features")
    warnings = check_counts(folder, features.labels)
    val = extract(model.trunk, val_folder.samples, SPEC, "held-out features") if val_folder else None
    for warning in warnings:
        LOGGER.warning("%s", warning)
    training, held = _held_out(options, features, val)
    if not len(held.labels):
        raise DataError(f"no readable held-out image in {options.val}")
    fitted = time.perf_counter()
    losses = fit_head(model.head, training.values, training.labels, options.fit)
    fit_seconds = time.perf_counter() - fitted
    evaluation = evaluate(held.labels, predict(model.head, held.values), folder.classes)

    options.out.mkdir(parents=True, exist_ok=True)
    model.eval()
    batch = preprocess([s.path.read_bytes() for s in held.samples[:PARITY_IMAGES]], SPEC)
    onnx_bytes, difference = checked_onnx(model, batch, INPUT_NAME, OUTPUT_NAME)
    onnx_path = options.out / "model.onnx"
    onnx_path.write_bytes(onnx_bytes)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch[:1]})
    example = held.samples[0].path
    title = f"{example.relative_to(val_folder.root if val_folder else folder.root)} (ONNX Runtime)"
    report = TrainReport(
        classes=folder.classes, train_images=len(training.labels), held_out=held.samples,
        skipped=features.skipped + (val.skipped if val else ()), warnings=tuple(warnings), losses=tuple(losses),
        evaluation=evaluation, onnx_path=onnx_path, max_difference=difference,
        confusion_png=confusion_png(evaluation, options.out / "confusion_matrix.png"),
        probability_png=probability_png(softmax(np.asarray(logits))[0], folder.classes, title,
                                        options.out / "probabilities.png"),
        feature_seconds=fitted - start, fit_seconds=fit_seconds,
        seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
    )
    (options.out / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def add_to_repository(repository: Path, name: str, report: TrainReport) -> tuple[int, tuple[str, ...]]:
    """Write pipeline ``name`` around the exported model, as ``rawvision add`` does; its version and models."""
    from rawvision.pipelines.add import add_pipeline

    added = add_pipeline(repository, name, report.onnx_path, SPEC, labels=list(report.classes),
                         top_k=min(5, len(report.classes)))
    return int(added.version), tuple(added.models)
