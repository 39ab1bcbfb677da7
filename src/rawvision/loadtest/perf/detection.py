"""The side-by-side bench's view of a detection pipeline: read from the repository, answered in process.

The limit and the ensemble's check run the same composition of the pure detection core that the
ensemble's steps run (decode with the limits, letterbox, normalise, the same model file, head decoding,
class-aware NMS, boxes back to the original pixels); the peer imports the same core for everything after
its own Pillow decode, so the three sides differ in serving, not in algorithm.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rawvision.detection.heads import decode_centerface, decode_yolov5, decode_yolov8
from rawvision.detection.layouts import recognise_head
from rawvision.detection.letterbox import LetterboxSpec, load_letterboxed, normalize_letterboxed
from rawvision.detection.nms import select
from rawvision.detection.options import DetectOptions
from rawvision.detection.outputs import Detections, restore
from rawvision.imaging import DecodeLimits
from rawvision.pipelines.reader import read_pipeline
from rawvision.repository import model_config

DETECTION_OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT")
"""The outputs every detection ensemble has (``LANDMARKS`` besides, for a head with landmarks)."""

Outputs = Sequence[np.ndarray]
Run = Callable[[np.ndarray], Outputs]


@dataclass(frozen=True)
class DetectPipeline:
    """What the bench needs of one detection ensemble, read from its configs."""

    ensemble: str
    model_file: Path
    spec: LetterboxSpec
    limits: DecodeLimits
    head: str
    options: DetectOptions
    labels: tuple[str, ...]
    outputs: tuple[str, ...]  # the ensemble's outputs, asked for in every timed request

    def peer_settings(self) -> dict[str, str]:
        """The peer's environment: model file, letterbox, head, default options, labels (as JSON)."""
        return {"PEER_MODEL": str(self.model_file.resolve()), "PEER_LETTERBOX": json.dumps(self.spec.to_parameters()),
                "PEER_HEAD": self.head, "PEER_LABELS": json.dumps(list(self.labels)),
                "PEER_OPTIONS": json.dumps({"score_threshold": self.options.score_threshold,
                                            "iou_threshold": self.options.iou_threshold,
                                            "max_detections": self.options.max_detections})}


def is_detection(repository: str | Path, ensemble: str) -> bool:
    """True for an ensemble that answers boxes and a count (the detection contract's outputs)."""
    names = {output.name for output in model_config(repository, ensemble).output}
    return set(DETECTION_OUTPUTS) <= names


def read_detect_pipeline(repository: str | Path, ensemble: str) -> DetectPipeline:
    """Read ``ensemble`` through the one pipeline reader; ``ValueError`` if it is not a detector."""
    pipeline = read_pipeline(repository, ensemble)
    if pipeline.kind != "detector":
        raise ValueError(f"{ensemble} is not a three-step detection ensemble with outputs {DETECTION_OUTPUTS}")
    found = pipeline.detector
    outputs = tuple(output.name for output in model_config(repository, ensemble).output)
    return DetectPipeline(ensemble, pipeline.model_file, found.spec, found.limits, found.head, found.options,
                          found.label_lines, outputs)


def onnx_runner(model_file: Path, threads: int = 1) -> tuple[Run, str]:
    """An ONNX Runtime session on ``threads`` intra-op threads, and the head's name (from the output shapes).

    The session returns the head's outputs in the order its decoder takes them.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    (first,) = session.get_inputs()
    layout = recognise_head({o.name: tuple(o.shape) for o in session.get_outputs()}, tuple(first.shape))
    names = list(layout.outputs)

    def run(batch: np.ndarray) -> Outputs:
        return [np.asarray(a) for a in session.run(names, {first.name: batch})]

    return run, layout.head


def detections(outputs: Outputs, original_sizes: np.ndarray, spec: LetterboxSpec, head: str,
               options: DetectOptions) -> list[Detections]:
    """Head outputs of a batch → per image: decode, threshold, class-aware NMS, boxes in original pixels."""
    count = int(original_sizes.shape[0])
    score = np.full(count, options.score_threshold, np.float32)
    if head == "centerface":
        heatmap, scale, offset, landmarks = outputs
        candidates = decode_centerface(heatmap, scale, offset, landmarks, score)
    elif head == "yolov8":
        candidates = decode_yolov8(outputs[0], score)
    elif head == "yolov5":
        candidates = decode_yolov5(outputs[0], score)
    else:
        raise ValueError(f"unknown head {head!r}")
    selected = select(candidates, np.full(count, options.iou_threshold, np.float32),
                      np.full(count, options.max_detections, np.int64), count)
    return restore(selected, original_sizes, spec)


def detect(pipeline: DetectPipeline, run: Run, images: Sequence[bytes]) -> list[Detections]:
    """The ensemble's own answer for a batch, in process: decode with its limits, letterbox, run, select."""
    loaded = [load_letterboxed(data, pipeline.spec, pipeline.limits) for data in images]
    batch = normalize_letterboxed(np.stack([pixels for pixels, _ in loaded]), pipeline.spec)
    sizes = np.array([size for _, size in loaded], dtype=np.int64)
    return detections(run(batch), sizes, pipeline.spec, pipeline.head, pipeline.options)


def label_summary(labels: Sequence[str]) -> str:
    """What the checks compare: how many of each label, e.g. ``1 face``, ``2 0, 1 7`` or ``0``."""
    if not labels:
        return "0"
    names, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return ", ".join(f"{count} {name}" for name, count in zip(names.tolist(), counts.tolist(), strict=True))


def summary(found: Detections, labels: Sequence[str]) -> str:
    """:func:`label_summary` of one image's detections."""
    return label_summary([labels[int(i)] for i in found.class_ids])


def ensemble_summary(answer: Mapping[str, Any]) -> str:
    """The same summary from an ensemble's answer for one image: its first ``COUNT`` ``LABELS``."""
    count = int(np.asarray(answer["COUNT"]).reshape(-1)[0])
    labels = np.asarray(answer["LABELS"], dtype=object).reshape(-1)[:count]
    return label_summary([b.decode() if isinstance(b, bytes) else str(b) for b in labels])


def peer_summary(answer: Sequence[Mapping[str, Any]]) -> str:
    """The same summary from the peer's JSON answer for one image."""
    return label_summary([str(item["label"]) for item in answer])
