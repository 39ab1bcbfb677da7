"""Drawing detections: same size, pixels changed on the box outline and nowhere far from the boxes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from rawvision.detection.annotate import draw
from rawvision.detection.outputs import Detections


def test_draw_outlines_each_box_and_leaves_the_rest() -> None:
    image = Image.new("RGB", (320, 240), (128, 128, 128))
    found = Detections(boxes=np.array([[100, 80, 200, 180]], np.float32), scores=np.array([0.87], np.float32),
                       class_ids=np.array([1], np.int64))
    out = draw(image, found, ("cat", "dog"))
    assert out.size == image.size and out.mode == "RGB"
    before, after = np.asarray(image), np.asarray(out)
    changed = (before != after).any(axis=2)
    assert changed[80:181, 100].all() and changed[80:181, 200].all()  # left and right edges
    assert changed[180, 100:201].all()                               # bottom edge
    assert not changed[120:160, 120:180].any()                       # inside stays as it was
    assert not changed[200:, :].any() and not changed[:, 260:].any()  # far from the box too
    assert changed[50:80, 100:200].any()                             # the label above the box
    assert np.asarray(image).mean() == 128                           # the input is not drawn on


def test_draw_puts_landmarks_as_dots_and_accepts_no_detections() -> None:
    image = Image.new("L", (200, 200), 0)
    found = Detections(boxes=np.array([[20, 40, 180, 190]], np.float32), scores=np.array([0.9], np.float32),
                       class_ids=np.array([0], np.int64), landmarks=np.full((1, 5, 2), 100, np.float32))
    out = np.asarray(draw(image, found, ("face",)))
    assert out.shape == (200, 200, 3) and out[100, 100].any()
    empty = Detections(boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32),
                       class_ids=np.zeros(0, np.int64))
    assert not np.asarray(draw(image, empty, ("face",))).any()
