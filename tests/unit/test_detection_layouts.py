"""Recognising a detector's head from its ONNX output shapes, and refusing what is not one."""

from __future__ import annotations

import pytest

from rawvision.detection.layouts import HeadLayout, recognise_head


@pytest.mark.parametrize(("outputs", "input_shape", "expected"), [
    ({"output0": (1, 14, 1344)}, (1, 3, 256, 256), HeadLayout("yolov8", 10, ("output0",))),
    ({"output0": ("batch", 84, 8400)}, ("batch", 3, 640, 640), HeadLayout("yolov8", 80, ("output0",))),
    ({"output0": (-1, 84, "anchors")}, (-1, 3, "height", "width"), HeadLayout("yolov8", 80, ("output0",))),
    ({"output": (1, 25200, 85)}, (1, 3, 640, 640), HeadLayout("yolov5", 80, ("output",))),
    ({"output": ("batch", "anchors", 6)}, ("batch", 3, 640, 640), HeadLayout("yolov5", 1, ("output",))),
    ({"537": (1, 1, 160, 160), "538": (1, 2, 160, 160), "539": (1, 2, 160, 160), "540": (1, 10, 160, 160)},
     (1, 3, 640, 640), HeadLayout("centerface", 1, ("537", "538", "539", "540"))),
    ({"lms": ("b", 10, "h", "w"), "heat": ("b", 1, "h", "w"), "scale": ("b", 2, "h", "w"),
      "off": ("b", 2, "h", "w")}, ("b", 3, "H", "W"), HeadLayout("centerface", 1, ("heat", "scale", "off", "lms"))),
])
def test_known_heads_are_recognised(outputs: dict[str, tuple[int | str, ...]], input_shape: tuple[int | str, ...],
                                    expected: HeadLayout) -> None:
    assert recognise_head(outputs, input_shape) == expected


@pytest.mark.parametrize("outputs", [
    {"logits": (1, 1000)},
    {"logits": ("batch", 10)},
    {"output0": (1, 4, 8400)},                     # no class scores
    {"output0": (1, 14, 14)},                      # neither side is the larger
    {"a": (1, 84, 8400), "b": (1, 32, 160, 160)},  # segmentation: two outputs
    {"a": (1, 1, 80, 80), "b": (1, 2, 80, 80), "c": (1, 2, 40, 40), "d": (1, 10, 80, 80)},  # sizes disagree
    {"a": (1, 1, 80, 80), "b": (1, 2, 80, 80), "c": (1, 3, 80, 80), "d": (1, 10, 80, 80)},
    {},
])
def test_other_models_are_refused_with_every_shape(outputs: dict[str, tuple[int | str, ...]]) -> None:
    with pytest.raises(ValueError, match="cannot recognise a detection head") as caught:
        recognise_head(outputs, (1, 3, 224, 224))
    message = str(caught.value)
    for name, shape in outputs.items():
        assert f"{name} {list(shape)}" in message
    assert "[1, 3, 224, 224]" in message


def test_the_classifier_message_shows_its_shape() -> None:
    with pytest.raises(ValueError, match=r"logits \[1, 1000\]"):
        recognise_head({"logits": (1, 1000)}, (1, 3, 224, 224))


def test_a_layout_checks_itself() -> None:
    with pytest.raises(ValueError, match="'yolov9'"):
        HeadLayout("yolov9", 80, ("output0",))
    with pytest.raises(ValueError, match="4 output"):
        HeadLayout("centerface", 1, ("heatmap",))
