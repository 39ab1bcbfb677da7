"""Detector heads → candidate boxes: vectorised over the batch, with a score threshold per image.

Each decoder turns a model's raw output into :class:`Candidates` (boxes in network-input pixels, scores,
classes and the image each belongs to) above that image's threshold. NMS and the letterbox undo follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEADS = ("yolov8", "yolov5", "centerface")


@dataclass(frozen=True)
class Candidates:
    """Boxes above the score threshold, for a whole batch.

    Attributes:
        boxes: ``[M, 4]`` float32 x1, y1, x2, y2 in network-input pixels.
        scores: ``[M]`` float32.
        class_ids: ``[M]`` int64.
        image_index: ``[M]`` int64, the image of the batch each candidate belongs to.
        landmarks: ``[M, 5, 2]`` float32 (x, y) in network-input pixels, or ``None`` for heads without them.

    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    image_index: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        count = self.scores.shape[0]
        shapes = [self.boxes.shape[0], self.class_ids.shape[0], self.image_index.shape[0]]
        if self.landmarks is not None:
            shapes.append(self.landmarks.shape[0])
        if any(size != count for size in shapes) or self.boxes.shape[1:] != (4,):
            raise ValueError(f"candidate arrays disagree: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                             f"class_ids {self.class_ids.shape}, image_index {self.image_index.shape}, "
                             f"landmarks {None if self.landmarks is None else self.landmarks.shape}")


def _thresholds(score_threshold: np.ndarray | float, batch: int) -> np.ndarray:
    """The per-image thresholds as float32 ``[B]`` (a scalar applies to every image)."""
    threshold = np.asarray(score_threshold, dtype=np.float32)
    if threshold.ndim == 0:
        return np.full(batch, threshold, dtype=np.float32)
    if threshold.shape != (batch,):
        raise ValueError(f"expected one score threshold per image ({batch}), got shape {threshold.shape}")
    return threshold


def _xyxy(centre_size: np.ndarray) -> np.ndarray:
    """``[M, 4]`` cx, cy, w, h → x1, y1, x2, y2 (float32)."""
    centre, half = centre_size[:, :2], centre_size[:, 2:] / 2
    corners: np.ndarray = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    return corners


def decode_yolov8(output: np.ndarray, score_threshold: np.ndarray | float) -> Candidates:
    """Ultralytics YOLOv8+ output ``[B, 4 + nc, N]`` (cx, cy, w, h, then class scores, no objectness).

    A candidate's score is its best class score; it is kept when strictly above its image's threshold.
    """
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected a YOLOv8 output of shape [B, 4 + classes, N], got {output.shape}")
    threshold = _thresholds(score_threshold, output.shape[0])
    class_scores = output[:, 4:, :]
    best = class_scores.max(axis=1)
    image, anchor = np.nonzero(best > threshold[:, None])
    class_ids = class_scores[image, :, anchor].argmax(axis=1).astype(np.int64)
    return Candidates(boxes=_xyxy(output[image, :4, anchor]), scores=best[image, anchor],
                      class_ids=class_ids, image_index=image.astype(np.int64))


def decode_yolov5(output: np.ndarray, score_threshold: np.ndarray | float) -> Candidates:
    """YOLOv5 output ``[B, N, 5 + nc]`` (cx, cy, w, h, objectness, class scores); score = objectness × class.

    As in YOLOv5's own NMS, a row is considered only if its objectness is above the threshold, then kept
    when its best ``objectness × class`` is.
    """
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 3 or output.shape[2] < 6:
        raise ValueError(f"expected a YOLOv5 output of shape [B, N, 5 + classes], got {output.shape}")
    threshold = _thresholds(score_threshold, output.shape[0])
    image, anchor = np.nonzero(output[:, :, 4] > threshold[:, None])
    rows = output[image, anchor]
    scores = rows[:, 5:] * rows[:, 4:5]
    class_ids = scores.argmax(axis=1).astype(np.int64)
    best = np.take_along_axis(scores, class_ids[:, None], axis=1)[:, 0]
    kept = best > threshold[image]
    return Candidates(boxes=_xyxy(rows[kept, :4]), scores=best[kept], class_ids=class_ids[kept],
                      image_index=image[kept].astype(np.int64))


def decode_centerface(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray,
                      score_threshold: np.ndarray | float, stride: int = 4) -> Candidates:
    """CenterFace outputs → face boxes and five landmarks each, with CenterFace's own arithmetic.

    Args:
        heatmap: ``[B, 1, h, w]`` face-centre scores.
        scale: ``[B, 2, h, w]`` log height and width (in strides).
        offset: ``[B, 2, h, w]`` sub-cell offsets of the centre (row, column).
        landmarks: ``[B, 10, h, w]`` (y, x) pairs relative to the box, in units of its height and width.
        score_threshold: ``[B]`` or a scalar; a cell is a face when its heatmap value is strictly above.
        stride: input pixels per heatmap cell.

    """
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 4 or heat.shape[1] != 1:
        raise ValueError(f"expected a CenterFace heatmap of shape [B, 1, h, w], got {heat.shape}")
    batch, _, rows, cols = heat.shape
    expected = {"scale": (scale, 2), "offset": (offset, 2), "landmarks": (landmarks, 10)}
    for name, (array, channels) in expected.items():
        if np.shape(array) != (batch, channels, rows, cols):
            raise ValueError(f"expected CenterFace {name} of shape {(batch, channels, rows, cols)}, "
                             f"got {np.shape(array)}")
    threshold = _thresholds(score_threshold, batch)
    image, row, col = np.nonzero(heat[:, 0] > threshold[:, None, None])
    size_h = np.exp(np.asarray(scale, dtype=np.float32)[image, 0, row, col]) * stride
    size_w = np.exp(np.asarray(scale, dtype=np.float32)[image, 1, row, col]) * stride
    shift = np.asarray(offset, dtype=np.float32)[image, :, row, col]
    height, width = rows * stride, cols * stride
    x1 = np.clip((col + shift[:, 1] + 0.5) * stride - size_w / 2, 0, width)
    y1 = np.clip((row + shift[:, 0] + 0.5) * stride - size_h / 2, 0, height)
    boxes = np.stack([x1, y1, np.minimum(x1 + size_w, width), np.minimum(y1 + size_h, height)], axis=1)
    marks = np.asarray(landmarks, dtype=np.float32)[image, :, row, col].reshape(-1, 5, 2)
    points = np.stack([marks[:, :, 1] * size_w[:, None] + x1[:, None],
                       marks[:, :, 0] * size_h[:, None] + y1[:, None]], axis=2)
    return Candidates(boxes=boxes.astype(np.float32), scores=heat[image, 0, row, col],
                      class_ids=np.zeros(image.shape[0], dtype=np.int64), image_index=image.astype(np.int64),
                      landmarks=points.astype(np.float32))
