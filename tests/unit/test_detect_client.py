"""The thin detection client without a server: request building, trimming by COUNT, output lines, backoff."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.client.detect_client import (
    DetectError,
    Detection,
    Options,
    backoff,
    format_json,
    format_lines,
    image_input,
    trim,
    with_backoff,
)


def padded(counts: list[int], k: int, landmarks: bool = False) -> dict[str, np.ndarray]:
    """A padded answer as the contract shapes it: real rows first, zeros (and b"") after COUNT."""
    n = len(counts)
    outputs = {"BOXES": np.zeros((n, k, 4), np.float32), "SCORES": np.zeros((n, k), np.float32),
               "CLASS_IDS": np.zeros((n, k), np.int64), "LABELS": np.full((n, k), b"", dtype=np.object_),
               "COUNT": np.array(counts, np.int32).reshape(n, 1)}
    if landmarks:
        outputs["LANDMARKS"] = np.zeros((n, k, 5, 2), np.float32)
    for image, count in enumerate(counts):
        for row in range(count):
            outputs["BOXES"][image, row] = (10 * row, 20, 10 * row + 5, 30 + image)
            outputs["SCORES"][image, row] = 0.9 - 0.1 * row
            outputs["CLASS_IDS"][image, row] = row + 1
            outputs["LABELS"][image, row] = f"digit {row + 1}".encode()
            if landmarks:
                outputs["LANDMARKS"][image, row] = np.arange(10).reshape(5, 2) + row
    return outputs


def request_json(inputs: list[httpclient.InferInput], parameters: dict[str, float | int] | None) -> dict[str, object]:
    """The JSON header of the request tritonclient would send (the binary tensors follow it)."""
    body, header_length = httpclient.InferenceServerClient.generate_request_body(inputs, parameters=parameters)
    assert header_length is not None
    return dict(json.loads(body[:header_length]))


def test_only_the_options_given_become_request_parameters() -> None:
    assert Options().parameters() == {}
    assert Options(score_threshold=0.6, max_detections=3).parameters() == {"score_threshold": 0.6,
                                                                          "max_detections": 3}
    assert Options(0.0, 0.0, 1).parameters() == {"score_threshold": 0.0, "iou_threshold": 0.0, "max_detections": 1}


def test_the_request_sends_raw_bytes_as_a_binary_tensor_and_options_as_parameters() -> None:
    images = [b"\xff\xd8first", b"\x89PNGsecond image"]
    header = request_json([image_input(images)], Options(0.6, 0.3, 7).parameters())
    (tensor,) = header["inputs"]  # type: ignore[misc]
    assert (tensor["name"], tensor["datatype"], tensor["shape"]) == ("IMAGE", "BYTES", [2, 1])
    # BYTES travel as 4-byte length + bytes each, outside the JSON.
    assert tensor["parameters"]["binary_data_size"] == sum(4 + len(image) for image in images)
    assert "data" not in tensor
    assert header["parameters"] == {"score_threshold": 0.6, "iou_threshold": 0.3, "max_detections": 7,
                                    "binary_data_output": True}


def test_trim_keeps_count_rows_per_image_including_none() -> None:
    answers = trim(padded([2, 0, 1], k=3))
    assert [len(a) for a in answers] == [2, 0, 1]
    first = answers[0][1]
    assert first == Detection("digit 2", pytest.approx(0.8), 2, (10.0, 20.0, 15.0, 30.0))
    assert answers[2][0].box == (0.0, 20.0, 5.0, 32.0) and answers[2][0].landmarks == ()


def test_trim_reads_landmarks_when_the_model_has_them() -> None:
    (detections,) = trim(padded([2], k=2, landmarks=True))
    assert detections[1].landmarks == ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0), (9.0, 10.0))
    assert detections[1].record()["landmarks"][0] == [1.0, 2.0]


def test_trim_refuses_a_count_beyond_the_rows_and_a_missing_output() -> None:
    outputs = padded([1, 2], k=2)
    outputs["COUNT"][1, 0] = 3
    with pytest.raises(DetectError, match=r"COUNT \[1, 3\] does not fit BOXES of shape \[2, 2, 4\]"):
        trim(outputs)
    del outputs["COUNT"]
    with pytest.raises(DetectError, match="lacks"):
        trim(outputs)


def test_one_line_per_detection_and_a_line_for_a_file_without_any() -> None:
    answers = trim(padded([2, 0], k=2))
    text = format_lines([Path("a.jpg"), Path("b.png")], answers)
    assert text.splitlines() == ["a.jpg  digit 1  0.900  (0, 20, 5, 30)", "a.jpg  digit 2  0.800  (10, 20, 15, 30)",
                                 "b.png  no detections"]


def test_json_has_one_object_per_file_with_its_count() -> None:
    lines = format_json(["a.jpg", "b.png"], trim(padded([2, 0], k=2))).splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["file"], first["count"], second["count"], second["detections"]) == ("a.jpg", 2, 0, [])
    assert first["detections"][0] == {"label": "digit 1", "score": 0.9, "class_id": 1, "box": [0.0, 20.0, 5.0, 30.0]}


def test_backoff_is_jittered_below_a_doubling_cap() -> None:
    assert [backoff(attempt, rand=lambda: 1.0) for attempt in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff(3, rand=lambda: 0.5) == 1.0
    assert backoff(9, rand=lambda: 0.0) == 0.0
    # the front's hint sets the floor: 'retry after 1 s' waits 1-1.5 s
    assert backoff(0, "overloaded: every server is busy or away; retry after 1 s", rand=lambda: 0.5) == 1.25


class Flaky:
    """A call that fails with the given statuses, then answers."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.statuses:
            raise InferenceServerException("busy", status=self.statuses.pop(0))
        return "answer"


def test_overload_and_rate_limits_are_asked_again_after_jittered_pauses() -> None:
    pauses: list[float] = []
    call = Flaky(["503", "429", "503"])
    assert with_backoff(call, 60.0, sleep=pauses.append, rand=lambda: 0.5) == "answer"
    assert call.calls == 4 and pauses == [0.125, 0.25, 0.5]


def test_a_refused_image_is_not_asked_again() -> None:
    call = Flaky(["400"])
    with pytest.raises(InferenceServerException, match="busy"):
        with_backoff(call, 60.0, sleep=lambda _: None)
    assert call.calls == 1


def test_backoff_gives_up_after_retry_seconds() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    call = Flaky(["503"] * 100)
    with pytest.raises(InferenceServerException):
        with_backoff(call, 10.0, sleep=sleep, rand=lambda: 1.0, clock=lambda: now[0])
    assert now[0] <= 10.0 and call.calls < 100
