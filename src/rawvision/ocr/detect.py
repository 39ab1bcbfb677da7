"""Text detection: image → DB network input, and the network's probability map → rotated text boxes.

The steps follow PP-OCR's DB postprocessing (threshold, dilate, contours, minimum-area rectangles, box
score, unclip, rectangle again), written with OpenCV and pyclipper rather than copied from a library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import pyclipper

from rawvision.parameters import parse_known

LimitType = Literal["min", "max"]


@dataclass(frozen=True)
class DetectSpec:
    """How an image is prepared for the detector and how its map becomes boxes.

    Attributes:
        limit_side_len: the side length that ``limit_type`` refers to.
        limit_type: ``min``: scale up so the short side is at least ``limit_side_len``; ``max``: scale
            down so the long side is at most ``limit_side_len``.
        max_side_len: hard cap on the long side after scaling (keeps huge photos affordable).
        mean, std: per-channel normalisation after scaling pixels to [0, 1] (BGR order, as PP-OCR trains).
        thresh: probability above which a pixel is text.
        box_thresh: mean probability inside a box below which it is dropped.
        unclip_ratio: how far a shrunk DB region is expanded back (area × ratio / perimeter).
        max_candidates: most contours examined per image.
        min_size: boxes whose short side is below this (in map pixels) are dropped.
        dilate: dilate the text mask with a 2×2 kernel first (joins broken strokes).
    """

    limit_side_len: int = 736
    limit_type: LimitType = "min"
    max_side_len: int = 2000
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    min_size: int = 3
    dilate: bool = True

    def __post_init__(self) -> None:
        if self.limit_type not in ("min", "max"):
            raise ValueError(f"limit_type must be 'min' or 'max', got {self.limit_type!r}")
        if self.limit_side_len < 32 or self.max_side_len < 32:
            raise ValueError(f"side limits must be at least 32, got {self.limit_side_len}, {self.max_side_len}")
        if not 0 < self.thresh < 1 or not 0 < self.box_thresh < 1 or self.unclip_ratio <= 0:
            raise ValueError(f"thresholds must lie in (0, 1) and unclip_ratio be positive, got "
                             f"{self.thresh}, {self.box_thresh}, {self.unclip_ratio}")

    @classmethod
    def from_parameters(cls, params: Mapping[str, str], model: str = "detection") -> DetectSpec:
        """Read the fields from config parameters (strings); missing ones keep their defaults."""
        return parse_known(cls, params, model)


def detection_size(height: int, width: int, spec: DetectSpec) -> tuple[int, int]:
    """The (height, width) the detector sees: scaled by ``spec``'s limits, each a multiple of 32."""
    if spec.limit_type == "min":
        ratio = spec.limit_side_len / min(height, width) if min(height, width) < spec.limit_side_len else 1.0
    else:
        ratio = spec.limit_side_len / max(height, width) if max(height, width) > spec.limit_side_len else 1.0
    if max(height, width) * ratio > spec.max_side_len:
        ratio = spec.max_side_len / max(height, width)
    new_h = max(32, round(height * ratio / 32) * 32)
    new_w = max(32, round(width * ratio / 32) * 32)
    return new_h, new_w


def detection_input(rgb: np.ndarray, spec: DetectSpec) -> np.ndarray:
    """An HxWx3 uint8 RGB image → float32 [1, 3, h, w] in BGR order, resized and normalised."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
    new_h, new_w = detection_size(rgb.shape[0], rgb.shape[1], spec)
    resized = cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    scaled = resized.astype(np.float32) / 255.0
    normalised = (scaled - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None], dtype=np.float32)


def _ordered_rectangle(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around ``points`` as [top-left, top-right, bottom-right, bottom-left]."""
    rect = cv2.minAreaRect(points.reshape(-1, 1, 2).astype(np.float32))
    corners = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(corners[:2], key=lambda p: p[1])
    right = sorted(corners[2:], key=lambda p: p[1])
    box = np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
    return box, float(min(rect[1]))


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the polygon ``box`` (map coordinates)."""
    h, w = prob.shape
    x0, x1 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1)), int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0, y1 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1)), int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted: np.ndarray = (box - np.array([x0, y0], dtype=np.float32)).round().astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    """Expand a polygon outward by area × ratio / perimeter (DB's shrink, undone)."""
    area = abs(cv2.contourArea(box.astype(np.float32)))
    perimeter = cv2.arcLength(box.astype(np.float32), closed=True)
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(p) for p in box.round().astype(np.int64).tolist()], pyclipper.JT_ROUND,
                   pyclipper.ET_CLOSEDPOLYGON)
    expanded = offset.Execute(area * ratio / perimeter)
    if len(expanded) != 1:
        return None
    return np.asarray(expanded[0], dtype=np.float32)


def boxes_from_map(prob: np.ndarray, image_size: tuple[int, int], spec: DetectSpec) -> tuple[np.ndarray, np.ndarray]:
    """A probability map [h, w] → boxes [n, 4, 2] in the original image's pixels and their scores [n].

    Boxes are corner points (top-left, top-right, bottom-right, bottom-left) in reading order.
    """
    if prob.ndim != 2:
        raise ValueError(f"expected a 2-D probability map, got shape {prob.shape}")
    map_h, map_w = prob.shape
    height, width = image_size
    mask: np.ndarray = (prob > spec.thresh).astype(np.uint8) * 255
    if spec.dilate:
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    for contour in contours[: spec.max_candidates]:
        box, short_side = _ordered_rectangle(contour)
        if short_side < spec.min_size:
            continue
        score = _box_score(prob, box)
        if score < spec.box_thresh:
            continue
        expanded = _unclip(box, spec.unclip_ratio)
        if expanded is None:
            continue
        box, short_side = _ordered_rectangle(expanded)
        if short_side < spec.min_size + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / map_w * width), 0, width)
        box[:, 1] = np.clip(np.round(box[:, 1] / map_h * height), 0, height)
        if min(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        boxes.append(box)
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    order = reading_order(np.stack(boxes))
    return np.stack(boxes)[order].astype(np.float32), np.asarray(scores, np.float32)[order]


def reading_order(boxes: np.ndarray, line_tolerance: float = 0.5) -> list[int]:
    """Indices of ``boxes`` [n, 4, 2] top to bottom, then left to right within a line.

    Two boxes are on one line when their vertical centres differ by less than ``line_tolerance`` times
    the smaller box height (robust to slight rotation, unlike a fixed pixel tolerance).
    """
    if len(boxes) == 0:
        return []
    centres_y = boxes[:, :, 1].mean(axis=1)
    heights = np.maximum(boxes[:, :, 1].max(axis=1) - boxes[:, :, 1].min(axis=1), 1.0)
    lefts = boxes[:, :, 0].min(axis=1)
    lines: list[list[int]] = []
    for index in sorted(range(len(boxes)), key=lambda i: float(centres_y[i])):
        line = lines[-1] if lines else None
        if line is not None:
            anchor = line[0]
            if abs(centres_y[index] - centres_y[anchor]) < line_tolerance * min(heights[index], heights[anchor]):
                line.append(index)
                continue
        lines.append([index])
    return [i for line in lines for i in sorted(line, key=lambda i: float(lefts[i]))]


def box_size(box: np.ndarray) -> tuple[int, int]:
    """(height, width) in pixels of the crop that a [4, 2] box becomes."""
    width = max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3]))
    height = max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))
    return max(1, math.floor(height)), max(1, math.floor(width))
