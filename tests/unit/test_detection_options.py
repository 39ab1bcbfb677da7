"""Per-request detection options: numbers or numeric strings in range, anything else refused by name."""

from __future__ import annotations

import pytest

from rawvision.detection.options import DetectOptions, request_options
from rawvision.errors import InputError

DEFAULTS = DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100)


def test_no_parameters_keep_the_defaults_and_other_keys_are_ignored() -> None:
    assert request_options({}, DEFAULTS) == DEFAULTS
    assert request_options({"sequence_id": 3, "priority": "high", "top_k": 5}, DEFAULTS) == DEFAULTS


@pytest.mark.parametrize(("raw", "expected"), [
    ({"score_threshold": 0.5}, DetectOptions(0.5, 0.45, 100)),
    ({"score_threshold": 1}, DetectOptions(1.0, 0.45, 100)),
    ({"score_threshold": "0.1", "iou_threshold": " 0.7 "}, DetectOptions(0.1, 0.7, 100)),
    ({"iou_threshold": 0}, DetectOptions(0.25, 0.0, 100)),
    ({"max_detections": 5}, DetectOptions(0.25, 0.45, 5)),
    ({"max_detections": 7.0}, DetectOptions(0.25, 0.45, 7)),
    ({"max_detections": "1000"}, DetectOptions(0.25, 0.45, 1000)),
])
def test_numbers_and_numeric_strings_are_accepted(raw: dict[str, object], expected: DetectOptions) -> None:
    options = request_options(raw, DEFAULTS)
    assert options == expected
    assert isinstance(options.max_detections, int) and isinstance(options.score_threshold, float)


@pytest.mark.parametrize(("raw", "words"), [
    ({"score_threshold": 1.5}, ["score_threshold=1.5", "out of range", "[0, 1]"]),
    ({"score_threshold": -0.1}, ["score_threshold=-0.1", "[0, 1]"]),
    ({"iou_threshold": "high"}, ["iou_threshold='high'", "not a number", "[0, 1]"]),
    ({"iou_threshold": "nan"}, ["iou_threshold=nan", "out of range"]),
    ({"score_threshold": True}, ["score_threshold=True", "not a number"]),
    ({"score_threshold": None}, ["score_threshold=None", "not a number"]),
    ({"max_detections": 0}, ["max_detections=0", "an integer in [1, 1000]"]),
    ({"max_detections": 1001}, ["max_detections=1001", "[1, 1000]"]),
    ({"max_detections": 2.5}, ["max_detections=2.5", "an integer"]),
    ({"max_detections": [3]}, ["max_detections=[3]", "not a number"]),
])
def test_bad_values_are_refused_naming_parameter_value_and_range(raw: dict[str, object], words: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        request_options(raw, DEFAULTS)
    for word in words:
        assert word in str(caught.value)


def test_defaults_are_checked_too() -> None:
    with pytest.raises(ValueError, match=r"iou_threshold=2\.0"):
        DetectOptions(score_threshold=0.5, iou_threshold=2.0, max_detections=10)
    with pytest.raises(ValueError, match="max_detections=0"):
        DetectOptions(score_threshold=0.5, iou_threshold=0.5, max_detections=0)
