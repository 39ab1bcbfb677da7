"""Head decoders on hand-built outputs, and CenterFace against a loop written from its own arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rawvision.detection.heads import Candidates, decode_centerface, decode_yolov5, decode_yolov8


def by_image_and_score(found: Candidates) -> list[tuple[int, int, float, list[float]]]:
    """The candidates as sorted plain rows (image, class, score, box), for exact comparisons."""
    rows = [(int(image), int(cls), round(float(score), 6), [round(float(v), 4) for v in box])
            for image, cls, score, box in zip(found.image_index, found.class_ids, found.scores, found.boxes,
                                              strict=True)]
    return sorted(rows, key=lambda row: (row[0], -row[2]))


def test_yolov8_gives_xyxy_boxes_with_the_best_class_above_each_images_threshold() -> None:
    classes, anchors = 3, 20
    output = np.zeros((2, 4 + classes, anchors), np.float32)
    output[:, :4, :] = np.array([100, 100, 10, 10], np.float32)[None, :, None]
    output[0, :4, 3] = [50, 60, 20, 10]             # cx, cy, w, h
    output[0, 4:, 3] = [0.1, 0.7, 0.3]              # class 1
    output[0, :4, 9] = [200, 100, 40, 80]
    output[0, 4:, 9] = [0.45, 0.05, 0.2]            # class 0, above image 0's threshold
    output[1, :4, 9] = [200, 100, 40, 80]
    output[1, 4:, 9] = [0.45, 0.05, 0.2]            # the same, below image 1's threshold
    output[1, :4, 17] = [8, 8, 16, 16]
    output[1, 4:, 17] = [0.0, 0.0, 0.9]
    output[1, 4:, 5] = [0.0, 0.5, 0.0]              # exactly at image 1's threshold: not kept
    found = decode_yolov8(output, np.array([0.25, 0.5], np.float32))
    assert found.boxes.dtype == np.float32 and found.class_ids.dtype == np.int64
    assert found.image_index.dtype == np.int64 and found.landmarks is None
    assert by_image_and_score(found) == [
        (0, 1, 0.7, [40, 55, 60, 65]),
        (0, 0, 0.45, [180, 60, 220, 140]),
        (1, 2, 0.9, [0, 0, 16, 16]),
    ]


def test_yolov8_with_nothing_above_the_threshold_is_empty() -> None:
    found = decode_yolov8(np.zeros((3, 84, 8400), np.float32), 0.25)
    assert found.boxes.shape == (0, 4) and found.scores.shape == (0,) and found.image_index.shape == (0,)


def test_yolov5_scores_objectness_times_class() -> None:
    output = np.zeros((2, 6, 5 + 2), np.float32)
    output[0, 1] = [50, 60, 20, 10, 0.9, 0.2, 0.8]  # 0.72 for class 1
    output[0, 2] = [50, 60, 20, 10, 0.2, 1.0, 0.0]  # objectness below the threshold
    output[0, 4] = [50, 60, 20, 10, 0.5, 0.5, 0.4]  # 0.25: not strictly above
    output[1, 0] = [10, 10, 4, 4, 0.6, 0.9, 0.1]    # 0.54 for class 0, below image 1's 0.6
    output[1, 5] = [10, 10, 4, 4, 0.95, 0.1, 0.9]   # 0.855 for class 1
    found = decode_yolov5(output, np.array([0.25, 0.6], np.float32))
    assert by_image_and_score(found) == [
        (0, 1, 0.72, [40, 55, 60, 65]),
        (1, 1, 0.855, [8, 8, 12, 12]),
    ]


def test_decoders_check_shapes_and_thresholds() -> None:
    with pytest.raises(ValueError, match=r"\[B, 4 \+ classes, N\], got \(1, 1000\)"):
        decode_yolov8(np.zeros((1, 1000), np.float32), 0.5)
    with pytest.raises(ValueError, match=r"\[B, N, 5 \+ classes\], got \(1, 100, 5\)"):
        decode_yolov5(np.zeros((1, 100, 5), np.float32), 0.5)
    with pytest.raises(ValueError, match=r"one score threshold per image \(2\), got shape \(3,\)"):
        decode_yolov8(np.zeros((2, 14, 100), np.float32), np.zeros(3))
    heat = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"offset of shape \(1, 2, 8, 8\), got \(1, 2, 4, 4\)"):
        decode_centerface(heat, np.zeros((1, 2, 8, 8)), np.zeros((1, 2, 4, 4)), np.zeros((1, 10, 8, 8)), 0.5)


def centerface_loop(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, landmark: np.ndarray,
                    threshold: float) -> list[tuple[float, list[float], list[float]]]:
    """One image, the way CenterFace's own decode walks it: (score, box, landmarks x0, y0, x1, ...)."""
    height, width = heatmap.shape[1] * 4, heatmap.shape[2] * 4
    found = []
    for i in range(heatmap.shape[1]):
        for j in range(heatmap.shape[2]):
            score = float(heatmap[0, i, j])
            if not score > threshold:
                continue
            s0, s1 = math.exp(scale[0, i, j]) * 4, math.exp(scale[1, i, j]) * 4
            o0, o1 = float(offset[0, i, j]), float(offset[1, i, j])
            x1 = max(0.0, (j + o1 + 0.5) * 4 - s1 / 2)
            y1 = max(0.0, (i + o0 + 0.5) * 4 - s0 / 2)
            x1, y1 = min(x1, width), min(y1, height)
            box = [x1, y1, min(x1 + s1, width), min(y1 + s0, height)]
            marks = []
            for k in range(5):
                marks += [float(landmark[2 * k + 1, i, j]) * s1 + x1, float(landmark[2 * k, i, j]) * s0 + y1]
            found.append((score, box, marks))
    return sorted(found, key=lambda row: -row[0])


@pytest.mark.parametrize("seed", range(4))
def test_centerface_matches_its_own_arithmetic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch, rows, cols = 3, 24, 40
    heatmap = rng.uniform(0, 0.5, (batch, 1, rows, cols)).astype(np.float32)
    peaks = rng.integers(0, rows * cols, (batch, 12))
    for image in range(batch):
        heatmap[image, 0].flat[peaks[image]] = rng.uniform(0.5, 1.0, 12)
    heatmap[:, 0, 0, 0] = 0.99  # a face in the corner, clipped at the top left
    heatmap[:, 0, -1, -1] = 0.98  # and one in the other corner, clipped at the bottom right
    scale = rng.uniform(-1, 3, (batch, 2, rows, cols)).astype(np.float32)
    offset = rng.uniform(-0.5, 0.5, (batch, 2, rows, cols)).astype(np.float32)
    landmarks = rng.uniform(-0.2, 1.2, (batch, 10, rows, cols)).astype(np.float32)
    thresholds = np.array([0.5, 0.7, 0.9], np.float32)
    found = decode_centerface(heatmap, scale, offset, landmarks, thresholds)
    assert found.landmarks is not None and found.landmarks.shape == (len(found.scores), 5, 2)
    assert (found.class_ids == 0).all()
    for image in range(batch):
        mine = found.image_index == image
        order = np.argsort(-found.scores[mine], kind="stable")
        expected = centerface_loop(heatmap[image], scale[image], offset[image], landmarks[image],
                                   float(thresholds[image]))
        assert len(expected) == int(mine.sum()) > 0
        np.testing.assert_allclose(found.scores[mine][order], [row[0] for row in expected], rtol=1e-6)
        np.testing.assert_allclose(found.boxes[mine][order], [row[1] for row in expected], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(found.landmarks[mine][order].reshape(-1, 10), [row[2] for row in expected],
                                   rtol=1e-5, atol=1e-3)
    assert found.boxes[:, [0, 1]].min() == 0 and found.boxes[:, 2].max() == cols * 4
