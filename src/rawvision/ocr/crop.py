"""Cut text regions out of an image and pack them into a recognition batch.

Each rotated box is warped to an upright rectangle (perspective transform), tall ones are turned a
quarter (PP-OCR's rule: height ≥ 1.5 × width means vertical text), then every crop is resized to the
recogniser's height keeping its aspect ratio and padded to the batch's common width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from rawvision.ocr.detect import box_size


@dataclass(frozen=True)
class RecognizeSpec:
    """The recogniser's input: fixed height, a minimum width, widths rounded up to a multiple.

    Attributes:
        height: input height the network was trained for (48 for PP-OCRv4).
        min_width: narrowest batch (PP-OCR uses 320 for height 48: a 6.67 aspect ratio).
        width_multiple: batch widths are rounded up to this so that concurrent batches share a shape
            (Triton's dynamic batcher only merges equal shapes); the padding is recognised as blanks.
        max_width: widest crop; longer lines are squeezed to this (bounds memory per crop).
        vertical_ratio: a crop at least this many times taller than wide is turned upright.
    """

    height: int = 48
    min_width: int = 320
    width_multiple: int = 32
    max_width: int = 3200
    vertical_ratio: float = 1.5


def crop_box(rgb: np.ndarray, box: np.ndarray, spec: RecognizeSpec) -> np.ndarray:
    """The region of ``rgb`` (HxWx3 uint8) inside ``box`` [4, 2] as an upright HxWx3 uint8 crop."""
    height, width = box_size(box)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if height >= spec.vertical_ratio * width:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


def batch_width(crops: Sequence[np.ndarray], spec: RecognizeSpec) -> int:
    """The common width of a batch: the widest crop at ``spec.height``, at least ``min_width``, rounded up."""
    widest = max((math.ceil(spec.height * c.shape[1] / c.shape[0]) for c in crops), default=spec.min_width)
    width = min(max(widest, spec.min_width), spec.max_width)
    return int(math.ceil(width / spec.width_multiple) * spec.width_multiple)


def recognition_input(crops: Sequence[np.ndarray], spec: RecognizeSpec) -> np.ndarray:
    """RGB uint8 crops → float32 [n, 3, height, W] in BGR order, scaled to [-1, 1], zero-padded right."""
    width = batch_width(crops, spec)
    batch = np.zeros((len(crops), 3, spec.height, width), dtype=np.float32)
    for index, crop in enumerate(crops):
        resized_w = max(1, min(width, math.ceil(spec.height * crop.shape[1] / crop.shape[0])))
        resized = cv2.resize(np.ascontiguousarray(crop[..., ::-1]), (resized_w, spec.height))
        batch[index, :, :, :resized_w] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return batch


def batches_by_width(crops: Sequence[np.ndarray], size: int) -> list[list[int]]:
    """Indices of ``crops`` grouped into batches of at most ``size``, similar aspect ratios together.

    Sorting by aspect ratio first keeps a short word from being padded to a long line's width.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
    return [order[start:start + size] for start in range(0, len(order), size)]
