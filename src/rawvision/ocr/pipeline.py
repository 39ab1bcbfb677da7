"""The OCR steps around the two networks, as the server runs them and as a client could run them.

``prepare`` (bytes → detector input + the decoded image) and ``lines_from_map`` (probability map +
image → boxes and crops batches) are the pure halves of the Triton steps; the benchmark's two-call
client calls the same functions around two separate network calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits, decode
from rawvision.ocr.crop import RecognizeSpec, batches_by_width, crop_box, recognition_input
from rawvision.ocr.ctc import ctc_decode
from rawvision.ocr.detect import DetectSpec, boxes_from_map, detection_input


@dataclass(frozen=True)
class OcrResult:
    """Lines in reading order: texts, boxes [n, 4, 2] in original pixels, and confidences [n]."""

    texts: list[str]
    boxes: np.ndarray
    scores: np.ndarray


EMPTY = OcrResult([], np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))


def prepare(data: bytes, spec: DetectSpec, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, np.ndarray]:
    """Encoded bytes → (detector input [1, 3, h, w] float32, the decoded RGB image HxWx3 uint8)."""
    rgb = np.asarray(decode(data, "RGB", limits))
    return detection_input(rgb, spec), rgb


def crops_for(rgb: np.ndarray, probability_map: np.ndarray, detect: DetectSpec,
              recognize: RecognizeSpec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Boxes [n, 4, 2] in ``rgb``'s pixels (reading order) and their upright crops."""
    prob = np.asarray(probability_map, dtype=np.float32).reshape(probability_map.shape[-2:])
    boxes, _ = boxes_from_map(prob, (rgb.shape[0], rgb.shape[1]), detect)
    return boxes, [crop_box(rgb, box, recognize) for box in boxes]


def recognize_crops(crops: Sequence[np.ndarray], recognize: RecognizeSpec, batch_size: int,
                    run: Callable[[np.ndarray], np.ndarray],
                    characters: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Texts and confidences of ``crops``, running the recogniser ``run`` on batches of ``batch_size``."""
    texts = [""] * len(crops)
    scores = np.zeros(len(crops), np.float32)
    for batch in batches_by_width(crops, batch_size):
        probs = run(recognition_input([crops[i] for i in batch], recognize))
        batch_texts, batch_scores = ctc_decode(probs, characters)
        for slot, index in enumerate(batch):
            texts[index], scores[index] = batch_texts[slot], batch_scores[slot]
    return texts, scores


def keep_confident(boxes: np.ndarray, texts: Sequence[str], scores: np.ndarray, min_score: float) -> OcrResult:
    """Drop empty lines and lines whose confidence is below ``min_score``; order is kept."""
    keep = [i for i, text in enumerate(texts) if text.strip() and scores[i] >= min_score]
    if not keep:
        return EMPTY
    return OcrResult([texts[i] for i in keep], boxes[keep].astype(np.float32), scores[keep].astype(np.float32))
