"""A user's YOLOv8-layout detector through ``rawvision add --task detect --url`` on a running server.

The detector is ``tests.detectors.BrightCells`` (fixed weights: a red or blue dot brighter than half lights
its cell), so every picture's boxes, scores and labels are known: counts of 0, 1 and many in one batch of
mixed sizes, per-request thresholds through the KServe v2 request parameters, refusals naming the
parameter, the hostile corpus, and a 12-megapixel photo.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.presets import YOLO_LETTERBOX
from rawvision.repository import decode_limits
from rawvision.server.embedded import EmbeddedServer
from rawvision.testing.hostile import Case, cases
from rawvision.testing.photos import upscaled
from tests.detectors import LABELS, dots_image, yolov8_onnx
from tests.integration.conftest import ADMIN_KEY, empty_locked_server

pytestmark = pytest.mark.integration
KEY = ADMIN_KEY
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
NAME = "dots"
SPEC: LetterboxSpec = YOLO_LETTERBOX.__class__(size=(128, 128))
Expected = list[tuple[float, float, float, float, int, float]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A locked server in explicit mode on a repository that holds nothing yet; ``add --url`` loads the detector."""
    with empty_locked_server(tmp_path_factory) as running:
        repository, options = Path(running.options.repository), running.options
        folder = tmp_path_factory.mktemp("model")
        labels = folder / "names.txt"
        labels.write_text("".join(f"{label}\n" for label in LABELS), encoding="utf-8")
        result = subprocess.run([RAWVISION, "add", NAME, "--model", str(yolov8_onnx(folder)), "--task", "detect",
                                 "--labels", str(labels), "--preset", "yolo-letterbox",
                                 "--repository", str(repository), "--url", options.http_url, "--admin-key", KEY],
                                capture_output=True, text=True, check=False, timeout=600)
        assert result.returncode == 0, result.stderr
        assert re.search(r"smoke image → \d+ detection\(s\)", result.stdout), result.stdout
        yield running


def infer(server: EmbeddedServer, payloads: list[bytes], parameters: dict[str, Any] | None = None) -> Any:
    client = httpclient.InferenceServerClient(server.options.http_url, network_timeout=120)
    try:
        tensor = httpclient.InferInput("IMAGE", [len(payloads), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[p] for p in payloads], dtype=np.object_))
        return client.infer(NAME, [tensor], parameters=parameters)
    finally:
        client.close()


def refusal(server: EmbeddedServer, payloads: list[bytes], parameters: dict[str, Any] | None = None) -> Any:
    try:
        infer(server, payloads, parameters)
    except InferenceServerException as exc:
        return exc
    return None


def assert_found(result: Any, row: int, expected: Expected) -> None:
    ranked = sorted(expected, key=lambda e: -e[5])
    count = len(ranked)
    assert int(result.as_numpy("COUNT")[row, 0]) == count
    boxes = result.as_numpy("BOXES")
    np.testing.assert_allclose(boxes[row, :count], np.reshape([e[:4] for e in ranked], (-1, 4)), atol=0.01)
    np.testing.assert_allclose(result.as_numpy("SCORES")[row, :count], [e[5] for e in ranked], atol=0.01)
    assert result.as_numpy("LABELS")[row, :count].tolist() == [LABELS[e[4]].encode() for e in ranked]
    assert (boxes[row, count:] == 0).all()


SCENES = [((300, 500), []), ((200, 200), [(1, 2, 1, 255)]),
          ((480, 360), [(0, 1, 0, 255), (1, 2, 1, 230), (3, 2, 0, 204), (2, 0, 1, 255)]),
          ((240, 700), [(1, 0, 0, 255), (2, 3, 1, 255)])]


def test_count_is_right_for_zero_one_and_many_in_one_batch_of_mixed_sizes(server: EmbeddedServer) -> None:
    scenes = [dots_image(height, width, dots, SPEC) for (height, width), dots in SCENES]
    result = infer(server, [image for image, _ in scenes])
    assert result.as_numpy("COUNT").ravel().tolist() == [0, 1, 4, 2]
    for row, (_, expected) in enumerate(scenes):
        assert_found(result, row, expected)


def test_concurrent_requests_of_mixed_sizes_each_get_their_own_answer(server: EmbeddedServer) -> None:
    scenes = [dots_image(height, width, dots, SPEC) for (height, width), dots in SCENES] * 4

    def send(scene: tuple[bytes, Expected]) -> None:
        assert_found(infer(server, [scene[0]]), 0, scene[1])

    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent, so requests share dynamic batches
        list(pool.map(send, scenes))


LEVELS = [(0, 0, 0, 255), (2, 2, 1, 204), (3, 0, 0, 166)]  # scores 1.0, 0.6, 0.3


@pytest.mark.parametrize(("parameters", "count"), [
    (None, 3), ({"score_threshold": 0.5}, 2), ({"score_threshold": "0.9"}, 1), ({"max_detections": 2}, 2),
    ({"score_threshold": 0.5, "iou_threshold": 0.1, "unrelated": "ignored"}, 2),
])
def test_request_parameters_change_the_answer(server: EmbeddedServer, parameters: dict[str, Any] | None,
                                              count: int) -> None:
    image, expected = dots_image(256, 256, LEVELS, SPEC)
    result = infer(server, [image], parameters)
    assert_found(result, 0, sorted(expected, key=lambda e: -e[5])[:count])


@pytest.mark.parametrize(("parameters", "named"), [
    ({"score_threshold": 1.5}, "score_threshold"), ({"iou_threshold": -0.1}, "iou_threshold"),
    ({"max_detections": 5000}, "max_detections"), ({"score_threshold": "high"}, "score_threshold"),
])
def test_out_of_range_parameters_are_400_naming_them(server: EmbeddedServer, parameters: dict[str, Any],
                                                     named: str) -> None:
    image, _ = dots_image(128, 128, LEVELS, SPEC)
    error = refusal(server, [image], parameters)
    assert error is not None and error.status() == "400", error
    assert named in error.message(), error.message()


def test_hostile_corpus_fails_only_its_own_request(server: EmbeddedServer) -> None:
    corpus = cases(decode_limits(server.options.repository, f"{NAME}_preprocess"))
    good, expected = dots_image(200, 200, [(1, 2, 1, 255)], SPEC)

    def send(case: Case) -> tuple[Case, InferenceServerException | None, Any]:
        error = refusal(server, [case.payload])
        return case, error, infer(server, [good])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, corpus))
    for case, error, neighbour in results:
        if case.expect is None:
            assert error is None, (case.name, error)
        else:
            assert error is not None and error.status() == "400", (case.name, error)
            assert re.search(case.expect, error.message()), (case.name, error.message())
        assert_found(neighbour, 0, expected)
    client = httpclient.InferenceServerClient(server.options.http_url)
    try:
        assert client.is_server_ready() and client.is_model_ready(NAME)
    finally:
        client.close()


def test_a_12_megapixel_photo_within_the_limits_works(server: EmbeddedServer) -> None:
    photo = upscaled("astronaut", 12.0)
    result = infer(server, [photo])
    count = int(result.as_numpy("COUNT")[0, 0])
    boxes = result.as_numpy("BOXES")[0, :count]
    assert count >= 1  # the astronaut's red and blue patches are bright enough to light cells
    assert (boxes >= 0).all() and (boxes[:, 2] <= 4000).all() and (boxes[:, 3] <= 4000).all()
