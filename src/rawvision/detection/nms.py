"""Non-maximum suppression in numpy, with torchvision's semantics, and the per-image selection after a head.

``nms`` and ``batched_nms`` keep what ``torchvision.ops.nms`` / ``batched_nms`` keep, in the same order
(best score first; a box is suppressed when its IoU with a kept box is strictly above the threshold), so
torchvision serves as the oracle in tests without being a serving dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rawvision.detection.heads import Candidates

MAX_CANDIDATES = 30_000
"""Candidates per image that enter NMS, best first (Ultralytics' ``max_nms``)."""

_MATRIX_UP_TO = 1024
"""Boxes that :func:`nms` settles with one IoU matrix instead of a Python step per kept box."""

_VANILLA_ABOVE = 4000
"""Above this many box coordinates, torchvision's ``batched_nms`` runs NMS per class instead of offsetting."""


def _score_order(scores: np.ndarray) -> np.ndarray:
    """Indices of ``scores`` from best to worst (ties keep index order)."""
    return np.argsort(-scores, kind="stable")


def _overlaps(corners: np.ndarray, areas: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """IoU ``[len(rows), len(columns)]`` in float32, with torchvision's arithmetic (0/0 gives NaN, never kept).

    ``corners`` is ``[4, M]`` (x1, y1, x2, y2 rows, each contiguous).
    """
    x1, y1, x2, y2 = corners
    width = np.minimum.outer(x2[rows], x2[columns]) - np.maximum.outer(x1[rows], x1[columns])
    height = np.minimum.outer(y2[rows], y2[columns]) - np.maximum.outer(y1[rows], y1[columns])
    inter = np.maximum(width, np.float32(0)) * np.maximum(height, np.float32(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        iou: np.ndarray = inter / (np.add.outer(areas[rows], areas[columns]) - inter)
    return iou


def _greedy_by_matrix(corners: np.ndarray, areas: np.ndarray, order: np.ndarray, threshold: np.float32) -> np.ndarray:
    """Greedy NMS over ``order`` with one IoU matrix, iterated to its fixed point (exact, as Cluster-NMS shows).

    ``kept[j]`` is "no kept box before ``j`` overlaps it"; starting from all kept, each pass fixes at least
    the next box in order, and a pass that changes nothing has reached the greedy answer.
    """
    suppresses = np.triu(_overlaps(corners, areas, order, order) > threshold, k=1)
    kept = np.ones(order.size, dtype=bool)
    while True:
        updated = ~(suppresses & kept[:, None]).any(axis=0)
        if (updated == kept).all():
            survivors: np.ndarray = order[kept]
            return survivors
        kept = updated


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices (int64) of the boxes kept, best score first.

    While many boxes remain, the best is kept and its overlaps dropped one step at a time; the last
    ``_MATRIX_UP_TO`` are settled with one IoU matrix.

    Args:
        boxes: ``[M, 4]`` x1, y1, x2, y2.
        scores: ``[M]``.
        iou_threshold: a box whose IoU with a kept box is strictly greater is dropped.

    """
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (boxes.shape[0],):
        raise ValueError(f"expected boxes [M, 4] and scores [M], got {boxes.shape} and {scores.shape}")
    corners = np.ascontiguousarray(boxes.T)
    areas = (corners[2] - corners[0]) * (corners[3] - corners[1])
    threshold = np.float32(iou_threshold)
    remaining = _score_order(scores)
    keep: list[np.ndarray] = []
    while remaining.size > _MATRIX_UP_TO:
        best, rest = remaining[:1], remaining[1:]
        keep.append(best)
        remaining = rest[~(_overlaps(corners, areas, best, rest)[0] > threshold)]
    keep.append(_greedy_by_matrix(corners, areas, remaining, threshold))
    kept: np.ndarray = np.concatenate(keep).astype(np.int64)
    return kept


def batched_nms(boxes: np.ndarray, scores: np.ndarray, idxs: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each category of ``idxs`` (boxes of different categories never suppress each other).

    Like torchvision, small inputs offset each category's boxes so they cannot overlap and run one NMS;
    large ones run NMS per category. Returns the kept indices (int64), best score first.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    idxs = np.asarray(idxs, dtype=np.int64)
    if idxs.shape != scores.shape:
        raise ValueError(f"expected one category per score, got idxs {idxs.shape} and scores {scores.shape}")
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if boxes.size <= _VANILLA_ABOVE:
        offsets = idxs.astype(np.float32) * (boxes.max() + np.float32(1))
        return nms(boxes + offsets[:, None], scores, iou_threshold)
    kept = [members[nms(boxes[members], scores[members], iou_threshold)]
            for members in (np.flatnonzero(idxs == category) for category in np.unique(idxs))]
    keep: np.ndarray = np.concatenate(kept)
    ordered: np.ndarray = keep[_score_order(scores[keep])]
    return ordered


@dataclass(frozen=True)
class Selected:
    """What NMS keeps of one image, best first, still in network-input pixels.

    Attributes:
        boxes: ``[k, 4]`` float32 x1, y1, x2, y2.
        scores: ``[k]`` float32.
        class_ids: ``[k]`` int64.
        landmarks: ``[k, 5, 2]`` float32, or ``None`` for heads without them.

    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    landmarks: np.ndarray | None = None


def _per_image(values: np.ndarray | float, batch_size: int, name: str) -> np.ndarray:
    """A per-image setting as ``[B]`` (a scalar applies to every image)."""
    array = np.asarray(values)
    if array.ndim == 0:
        return np.full(batch_size, array)
    if array.shape != (batch_size,):
        raise ValueError(f"expected one {name} per image ({batch_size}), got shape {array.shape}")
    return array


def select(candidates: Candidates, iou_threshold: np.ndarray | float, max_detections: np.ndarray | int,
           batch_size: int, max_candidates: int = MAX_CANDIDATES) -> list[Selected]:
    """Per image: the best ``max_candidates`` candidates, class-aware NMS, cut to ``max_detections``.

    Returns one :class:`Selected` per image of the batch (empty for an image without candidates).
    """
    ious = _per_image(iou_threshold, batch_size, "IoU threshold")
    limits = _per_image(max_detections, batch_size, "max_detections")
    if candidates.image_index.size and (candidates.image_index.min() < 0
                                        or candidates.image_index.max() >= batch_size):
        raise ValueError(f"candidates name images {candidates.image_index.min()}.."
                         f"{candidates.image_index.max()} of a batch of {batch_size}")
    by_image = np.argsort(candidates.image_index, kind="stable")
    bounds = np.searchsorted(candidates.image_index[by_image], np.arange(batch_size + 1))
    selected = []
    for image in range(batch_size):
        members = by_image[bounds[image]:bounds[image + 1]]
        members = members[_score_order(candidates.scores[members])[:max_candidates]]
        keep = batched_nms(candidates.boxes[members], candidates.scores[members],
                           candidates.class_ids[members], float(ious[image]))
        chosen = members[keep[:int(limits[image])]]
        selected.append(Selected(
            boxes=candidates.boxes[chosen].astype(np.float32),
            scores=candidates.scores[chosen].astype(np.float32),
            class_ids=candidates.class_ids[chosen].astype(np.int64),
            landmarks=None if candidates.landmarks is None else candidates.landmarks[chosen].astype(np.float32)))
    return selected
