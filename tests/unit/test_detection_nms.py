"""NMS against torchvision (the oracle), and the per-image selection after a head."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from rawvision.detection.heads import Candidates
from rawvision.detection.nms import batched_nms, nms, select

NMS_MODULE = importlib.import_module("rawvision.detection.nms")  # the package's ``nms`` is the function


@st.composite
def box_sets(draw: st.DrawFn, max_size: int = 60, classes: int = 4,
             degenerate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``[M, 4]`` in a 0..100 frame, distinct scores, and class ids; optionally empty or inverted boxes."""
    count = draw(st.integers(0, max_size))
    coordinate = st.floats(0, 100, width=32)
    side = st.floats(-5 if degenerate else 0.5, 40, width=32)
    corners = draw(st.lists(st.tuples(coordinate, coordinate, side, side), min_size=count, max_size=count))
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in corners], dtype=np.float32).reshape(count, 4)
    if degenerate and count:
        flat = draw(st.lists(st.booleans(), min_size=count, max_size=count))
        boxes[np.array(flat), 2] = boxes[np.array(flat), 0]  # zero width
    ranks = draw(st.permutations(range(count)))
    scores = (np.array(ranks, dtype=np.float32) + 1) / (count + 1)  # distinct: torchvision's order on ties is free
    idxs = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=count, max_size=count)), dtype=np.int64)
    return boxes, scores, idxs


def oracle_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    keep: np.ndarray = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    return keep


def oracle_batched(boxes: np.ndarray, scores: np.ndarray, idxs: np.ndarray, iou: float) -> np.ndarray:
    keep: np.ndarray = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                                   torch.from_numpy(idxs), iou).numpy()
    return keep


IOUS = st.floats(0, 1)


@settings(max_examples=150, deadline=None)
@given(data=box_sets(), iou=IOUS)
def test_nms_keeps_what_torchvision_keeps(data: tuple[np.ndarray, np.ndarray, np.ndarray], iou: float) -> None:
    boxes, scores, _ = data
    keep = nms(boxes, scores, iou)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, oracle_nms(boxes, scores, iou))


@settings(max_examples=150, deadline=None)
@given(data=box_sets(degenerate=True), iou=IOUS)
def test_nms_treats_degenerate_boxes_like_torchvision(data: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                      iou: float) -> None:
    boxes, scores, _ = data
    np.testing.assert_array_equal(nms(boxes, scores, iou), oracle_nms(boxes, scores, iou))


@settings(max_examples=150, deadline=None)
@given(data=box_sets(degenerate=True), iou=IOUS, matrix_up_to=st.integers(0, 20))
def test_stepping_then_the_matrix_keeps_what_torchvision_keeps(data: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                               iou: float, matrix_up_to: int) -> None:
    boxes, scores, _ = data
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NMS_MODULE, "_MATRIX_UP_TO", matrix_up_to)  # one step per kept box until this many remain
        np.testing.assert_array_equal(nms(boxes, scores, iou), oracle_nms(boxes, scores, iou))


@pytest.mark.parametrize("iou", [0.3, 0.7])
def test_nms_on_thousands_of_boxes_of_one_class(iou: float) -> None:
    rng = np.random.default_rng(7)
    count = 5000
    corner = rng.uniform(0, 640, (count, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(2, 60, (count, 2))], axis=1).astype(np.float32)
    scores = (rng.permutation(count) + 1).astype(np.float32) / count
    keep = nms(boxes, scores, iou)
    assert 1024 < len(keep) < count  # both the stepping and the matrix part ran
    np.testing.assert_array_equal(keep, oracle_nms(boxes, scores, iou))


@settings(max_examples=150, deadline=None)
@given(data=box_sets(classes=4), iou=IOUS)
def test_batched_nms_keeps_what_torchvision_keeps(data: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                  iou: float) -> None:
    boxes, scores, idxs = data
    np.testing.assert_array_equal(batched_nms(boxes, scores, idxs, iou), oracle_batched(boxes, scores, idxs, iou))


@settings(max_examples=60, deadline=None)
@given(data=box_sets(max_size=120, classes=80, degenerate=True), iou=IOUS)
def test_batched_nms_with_many_classes(data: tuple[np.ndarray, np.ndarray, np.ndarray], iou: float) -> None:
    boxes, scores, idxs = data
    np.testing.assert_array_equal(batched_nms(boxes, scores, idxs, iou), oracle_batched(boxes, scores, idxs, iou))


@pytest.mark.parametrize("seed", range(3))
def test_batched_nms_on_more_boxes_than_the_offset_trick_takes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = 1500  # 6000 coordinates: torchvision runs NMS per class here
    corner = rng.uniform(0, 600, (count, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 80, (count, 2))], axis=1).astype(np.float32)
    scores = (rng.permutation(count) + 1).astype(np.float32) / count
    idxs = rng.integers(0, 10, count)
    keep = batched_nms(boxes, scores, idxs, 0.45)
    assert 0 < len(keep) < count
    np.testing.assert_array_equal(keep, oracle_batched(boxes, scores, idxs, 0.45))


def test_iou_equal_to_the_threshold_does_not_suppress() -> None:
    boxes = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], dtype=np.float32)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]
    assert batched_nms(boxes, scores, np.array([0, 1]), 0.0).tolist() == [0, 1]


def test_empty_inputs_keep_nothing() -> None:
    empty = np.zeros((0, 4), np.float32)
    assert nms(empty, np.zeros(0, np.float32), 0.5).shape == (0,)
    assert batched_nms(empty, np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5).dtype == np.int64


def candidates(rows: Sequence[tuple[int, int, float, tuple[float, float, float, float]]],
               landmarks: bool = False) -> Candidates:
    """Candidates from (image, class, score, box) rows."""
    count = len(rows)
    return Candidates(
        boxes=np.array([box for *_, box in rows], dtype=np.float32).reshape(count, 4),
        scores=np.array([score for _, _, score, _ in rows], dtype=np.float32),
        class_ids=np.array([cls for _, cls, _, _ in rows], dtype=np.int64),
        image_index=np.array([image for image, *_ in rows], dtype=np.int64),
        landmarks=np.arange(count * 10, dtype=np.float32).reshape(count, 5, 2) if landmarks else None)


def test_select_runs_nms_per_image_and_class_and_cuts_to_max_detections() -> None:
    found = candidates([
        (1, 0, 0.9, (0, 0, 10, 10)),
        (0, 0, 0.5, (0, 0, 10, 10)),
        (0, 0, 0.6, (1, 1, 10, 10)),    # suppresses the row above (same image, same class)
        (0, 1, 0.4, (0, 0, 10, 10)),    # another class: kept
        (1, 0, 0.8, (20, 20, 30, 30)),
        (1, 0, 0.7, (40, 40, 50, 50)),
        (1, 0, 0.95, (60, 60, 70, 70)),
    ])
    out = select(found, iou_threshold=0.5, max_detections=np.array([10, 2, 5]), batch_size=3)
    assert len(out) == 3
    assert out[0].scores.tolist() == pytest.approx([0.6, 0.4])
    assert out[0].class_ids.tolist() == [0, 1]
    np.testing.assert_array_equal(out[0].boxes, [[1, 1, 10, 10], [0, 0, 10, 10]])
    assert out[1].scores.tolist() == pytest.approx([0.95, 0.9])  # four kept by NMS, the best two answered
    assert out[2].boxes.shape == (0, 4) and out[2].scores.shape == (0,) and out[2].class_ids.dtype == np.int64
    assert all(selected.landmarks is None for selected in out)


def test_select_uses_each_images_own_iou_threshold() -> None:
    pair = [(0, 0, 0.9, (0, 0, 10, 10)), (0, 0, 0.8, (0, 0, 10, 6))]  # IoU 0.6
    found = candidates(pair + [(1, cls, score, box) for _, cls, score, box in pair])
    out = select(found, iou_threshold=np.array([0.5, 0.7]), max_detections=100, batch_size=2)
    assert [len(selected.scores) for selected in out] == [1, 2]


def test_select_keeps_the_best_max_candidates_before_nms() -> None:
    found = candidates([(0, 0, 0.1 * k, (20.0 * k, 0, 20.0 * k + 10, 10)) for k in range(1, 8)])
    out = select(found, iou_threshold=0.5, max_detections=100, batch_size=1, max_candidates=3)
    assert out[0].scores.tolist() == pytest.approx([0.7, 0.6, 0.5])


def test_select_carries_landmarks_with_their_boxes() -> None:
    found = candidates([(0, 0, 0.5, (0, 0, 10, 10)), (0, 0, 0.9, (50, 50, 60, 60))], landmarks=True)
    out = select(found, iou_threshold=0.5, max_detections=100, batch_size=1)
    assert out[0].landmarks is not None and found.landmarks is not None
    np.testing.assert_array_equal(out[0].landmarks, found.landmarks[[1, 0]])


def test_select_refuses_candidates_from_outside_the_batch_and_wrong_settings() -> None:
    found = candidates([(2, 0, 0.5, (0, 0, 10, 10))])
    with pytest.raises(ValueError, match="batch of 2"):
        select(found, 0.5, 10, batch_size=2)
    with pytest.raises(ValueError, match="one max_detections per image"):
        select(found, 0.5, np.array([1, 2]), batch_size=3)
