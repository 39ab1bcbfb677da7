"""Padded detection tensors: K rows per image, zeros past COUNT, landmarks only for heads that have them."""

from __future__ import annotations

import numpy as np
import pytest

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.detection.nms import Selected
from rawvision.detection.outputs import Detections, pad, restore

LABELS = ("cat", "dog", "bird")


def detections(count: int, landmarks: bool = False, start: float = 1.0) -> Detections:
    values = start + np.arange(count, dtype=np.float32)
    return Detections(boxes=np.repeat(values[:, None], 4, axis=1), scores=values / 10,
                      class_ids=np.arange(count, dtype=np.int64) % 3,
                      landmarks=np.repeat(values, 10).reshape(count, 5, 2) if landmarks else None)


def test_a_batch_pads_to_its_largest_count_with_zeros() -> None:
    out = pad([detections(2), detections(0), detections(3, start=5.0)], LABELS)
    assert set(out) == {"BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT"}
    assert out["BOXES"].shape == (3, 3, 4) and out["BOXES"].dtype == np.float32
    assert out["SCORES"].shape == (3, 3) and out["SCORES"].dtype == np.float32
    assert out["CLASS_IDS"].shape == (3, 3) and out["CLASS_IDS"].dtype == np.int64
    assert out["LABELS"].shape == (3, 3) and out["LABELS"].dtype == object
    assert out["COUNT"].dtype == np.int32 and out["COUNT"].tolist() == [[2], [0], [3]]
    assert out["BOXES"][0, :, 0].tolist() == [1, 2, 0]
    assert out["SCORES"][2].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert out["CLASS_IDS"][2].tolist() == [0, 1, 2]
    assert out["LABELS"].tolist() == [[b"cat", b"dog", b""], [b"", b"", b""], [b"cat", b"dog", b"bird"]]
    assert not out["BOXES"][1].any() and not out["SCORES"][1].any() and not out["CLASS_IDS"][1].any()
    assert not out["BOXES"][0, 2].any()


def test_nothing_found_anywhere_still_answers_one_zero_row() -> None:
    out = pad([detections(0), detections(0)], LABELS)
    assert out["BOXES"].shape == (2, 1, 4) and not out["BOXES"].any()
    assert out["LABELS"].tolist() == [[b""], [b""]]
    assert out["COUNT"].tolist() == [[0], [0]]


def test_one_detection_in_one_image() -> None:
    out = pad([detections(1)], LABELS)
    assert out["BOXES"].shape == (1, 1, 4) and out["COUNT"].tolist() == [[1]]
    assert out["LABELS"].tolist() == [[b"cat"]]


def test_landmarks_are_padded_too() -> None:
    out = pad([detections(1, landmarks=True), detections(0, landmarks=True)], ("face",))
    assert out["LANDMARKS"].shape == (2, 1, 5, 2) and out["LANDMARKS"].dtype == np.float32
    assert (out["LANDMARKS"][0] == 1).all() and not out["LANDMARKS"][1].any()


def test_pad_refuses_mixed_heads_and_unknown_classes() -> None:
    with pytest.raises(ValueError, match="landmarks"):
        pad([detections(1, landmarks=True), detections(1)], LABELS)
    with pytest.raises(ValueError, match="outside the 1 labels"):
        pad([detections(2)], ("cat",))


def test_detections_check_their_shapes() -> None:
    with pytest.raises(ValueError, match=r"boxes \(2, 4\), scores \(3,\)"):
        Detections(boxes=np.zeros((2, 4)), scores=np.zeros(3), class_ids=np.zeros(3, np.int64))


def test_restore_undoes_each_images_letterbox() -> None:
    spec = LetterboxSpec(size=(640, 640))
    selected = [Selected(boxes=np.array([[0, 80, 640, 560]], np.float32), scores=np.array([0.9], np.float32),
                         class_ids=np.array([1]), landmarks=np.full((1, 5, 2), 320, np.float32)),
                Selected(boxes=np.array([[160, 0, 480, 640]], np.float32), scores=np.array([0.8], np.float32),
                         class_ids=np.array([0]), landmarks=np.full((1, 5, 2), 320, np.float32))]
    out = restore(selected, np.array([[480, 640], [1000, 500]], np.int32), spec)
    np.testing.assert_allclose(out[0].boxes, [[0, 0, 640, 480]])
    np.testing.assert_allclose(out[1].boxes, [[0, 0, 500, 1000]])
    assert out[0].landmarks is not None and out[1].landmarks is not None
    np.testing.assert_allclose(out[0].landmarks[0, 0], [320, 240])
    np.testing.assert_allclose(out[1].landmarks[0, 0], [250, 500])
    assert out[1].class_ids.tolist() == [0] and out[1].scores.tolist() == pytest.approx([0.8])
