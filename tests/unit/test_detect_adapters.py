"""The detection steps driven directly with the fake pb_utils: one response per request, errors per request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.imaging import encode
from rawvision.pipelines.add import add_detector
from rawvision.presets import YOLO_LETTERBOX
from tests.backend import load_model
from tests.detectors import LABELS, centerface_onnx, dots_image, yolov8_onnx
from tests.fake_pb_utils import InferenceRequest, TritonError

CELLS = 1024


def image_request(*payloads: bytes) -> InferenceRequest:
    return InferenceRequest({"IMAGE": np.array([[p] for p in payloads], dtype=np.object_)})


def gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def preprocess(repository: Path):  # type: ignore[no-untyped-def]
    return load_model(repository, "mnist_detect_preprocess")


@pytest.fixture(scope="module")
def postprocess(repository: Path):  # type: ignore[no-untyped-def]
    return load_model(repository, "mnist_detect_postprocess")


def test_preprocess_letterboxes_mixed_sizes_and_isolates_bad_requests(preprocess) -> None:  # type: ignore[no-untyped-def]
    wide, tall = encode(gradient(100, 300), "PNG"), encode(gradient(500, 200), "JPEG")
    requests = [image_request(wide), image_request(b"not an image"), image_request(tall, wide, tall),
                image_request(wide, b"\x89PNG\r\n"), image_request(tall)]
    responses = preprocess.execute(requests)
    assert len(responses) == len(requests)
    assert [r.has_error() for r in responses] == [False, True, False, True, False]
    assert [r.output("preprocessed_image").shape for r in responses if not r.has_error()] == [
        (1, 3, 256, 256), (3, 3, 256, 256), (1, 3, 256, 256)]
    assert responses[2].output("original_size").tolist() == [[500, 200], [100, 300], [500, 200]]
    assert responses[2].output("original_size").dtype == np.int32
    assert responses[1].error().code() == TritonError.INVALID_ARG
    assert "IMAGE[0]: not a decodable image" in responses[1].error().message()
    assert "IMAGE[1]" in responses[3].error().message()
    pixels = responses[0].output("preprocessed_image")[0]
    assert pixels.min() >= 0 and pixels.max() <= 1 and (pixels[:, :10] == 0).all()  # black bars on top (pad 0)


def head_output(boxes: list[tuple[float, float, float, float, int, float]]) -> np.ndarray:
    """One image's ``[14, 1024]`` YOLOv8 output holding ``boxes`` (cx, cy, w, h, class, score)."""
    output = np.zeros((14, CELLS), np.float32)
    for index, (cx, cy, w, h, class_id, score) in enumerate(boxes):
        output[:4, index] = (cx, cy, w, h)
        output[4 + class_id, index] = score
    return output


THREE = [(64, 64, 40, 40, 3, 0.9), (192, 64, 40, 40, 7, 0.6), (128, 192, 40, 40, 1, 0.3)]


def post_request(outputs: list[np.ndarray], sizes: list[tuple[int, int]],
                 parameters: dict[str, object] | None = None) -> InferenceRequest:
    return InferenceRequest({"head_output": np.stack(outputs), "original_size": np.array(sizes, np.int32)}, parameters)


def test_postprocess_counts_thresholds_and_refuses_bad_options_per_request(postprocess) -> None:  # type: ignore[no-untyped-def]
    requests = [
        post_request([head_output(THREE), head_output([])], [(256, 256), (100, 50)]),
        post_request([head_output(THREE)], [(256, 256)], {"score_threshold": 0.5}),
        post_request([head_output(THREE)], [(256, 256)], {"score_threshold": 1.5}),
        post_request([head_output(THREE)], [(512, 512)], {"max_detections": "1", "unrelated": "x"}),
        post_request([head_output(THREE)], [(256, 256)], {"iou_threshold": "lots"}),
    ]
    responses = postprocess.execute(requests)
    assert len(responses) == len(requests)
    assert [r.has_error() for r in responses] == [False, False, True, False, True]
    assert responses[0].output("COUNT").tolist() == [[3], [0]]
    assert responses[1].output("COUNT").tolist() == [[2]]
    assert responses[3].output("COUNT").tolist() == [[1]]
    for bad, name in ((responses[2], "score_threshold"), (responses[4], "iou_threshold")):
        assert bad.error().code() == TritonError.INVALID_ARG
        assert name in bad.error().message(), bad.error().message()
    first = responses[0]
    assert first.output("CLASS_IDS")[0].tolist() == [3, 7, 1]
    assert first.output("LABELS")[0].tolist() == [b"3", b"7", b"1"]
    np.testing.assert_allclose(first.output("SCORES")[0], [0.9, 0.6, 0.3], rtol=1e-6)
    np.testing.assert_allclose(first.output("BOXES")[0, 0], [44, 44, 84, 84])
    assert (first.output("BOXES")[1] == 0).all() and first.output("LABELS")[1].tolist() == [b""] * 3
    np.testing.assert_allclose(responses[3].output("BOXES")[0, 0], [88, 88, 168, 168])  # 512 px original: × 2


def test_postprocess_refuses_nonpositive_sizes(postprocess) -> None:  # type: ignore[no-untyped-def]
    (response,) = postprocess.execute([post_request([head_output(THREE)], [(0, 10)])])
    assert response.error().code() == TritonError.INVALID_ARG
    assert "original_size" in response.error().message()


def test_postprocess_warms_up_on_its_sample(repository: Path, postprocess) -> None:  # type: ignore[no-untyped-def]
    sample = (repository / "mnist_detect_postprocess" / "warmup" / "original_size").read_bytes()
    sizes = np.frombuffer(sample, "<i4").reshape(1, 2)
    (response,) = postprocess.execute([post_request([np.zeros((14, CELLS), np.float32)], sizes.tolist())])
    assert not response.has_error() and response.output("COUNT").tolist() == [[0]]


def test_faces_postprocess_answers_landmarks_in_original_pixels(repository: Path) -> None:
    model = load_model(repository, "faces_postprocess")
    heatmap, scale, offset, marks = (np.zeros((1, c, 160, 160), np.float32) for c in (1, 2, 2, 10))
    heatmap[0, 0, 80, 80] = 0.9  # a face centred near (320, 320) in input pixels: (320, 160) in the original
    scale[0, :, 80, 80] = np.log(64 / 4)
    request = InferenceRequest({"heatmap": heatmap, "scale": scale, "offset": offset, "landmarks": marks,
                                "original_size": np.array([[320, 640]], np.int32)})
    (response,) = model.execute([request])
    assert response.output("COUNT").tolist() == [[1]] and response.output("LABELS")[0].tolist() == [b"face"]
    assert response.output("LANDMARKS").shape == (1, 1, 5, 2)
    box = response.output("BOXES")[0, 0]
    assert box[2] - box[0] == pytest.approx(64, abs=1) and box[3] - box[1] == pytest.approx(64, abs=1)
    assert (box[:2] + box[2:]) / 2 == pytest.approx([322, 162], abs=3)  # the 160 px bar above is gone


def test_onnx_runner_serves_several_outputs_and_ignores_request_parameters(tmp_path: Path) -> None:
    model_file = centerface_onnx(tmp_path)
    add_detector(tmp_path / "repo", "cf", model_file, LetterboxSpec(size=(64, 96), pad_value=0, scale=1.0),
                 input_size=(64, 96))
    runner = load_model(tmp_path / "repo", "cf_onnx")
    batch = np.random.default_rng(0).random((3, 3, 64, 96), dtype=np.float32)
    requests = [InferenceRequest({"input.1": batch[:1]}, {"score_threshold": 0.9}),
                InferenceRequest({"input.1": batch[1:]}, {"anything": "else"})]
    responses = runner.execute(requests)
    assert [r.has_error() for r in responses] == [False, False]
    assert [r.output(name).shape for r in responses for name in ("537", "538", "539", "540")] == [
        (1, 1, 16, 24), (1, 2, 16, 24), (1, 2, 16, 24), (1, 10, 16, 24),
        (2, 1, 16, 24), (2, 2, 16, 24), (2, 2, 16, 24), (2, 10, 16, 24)]


def test_added_pipeline_counts_zero_one_and_many_in_one_mixed_batch(tmp_path: Path) -> None:
    """The three steps of an added YOLOv8-layout detector, chained in process on one batch of mixed sizes."""
    added = add_detector(tmp_path / "repo", "dots", yolov8_onnx(tmp_path), YOLO_LETTERBOX, labels=LABELS)
    spec = added.description.spec
    assert isinstance(spec, LetterboxSpec)
    scenes = [dots_image(300, 500, [], spec), dots_image(200, 200, [(1, 2, 1, 255)], spec),
              dots_image(480, 360, [(0, 1, 0, 255), (1, 2, 1, 230), (3, 2, 0, 204), (2, 0, 1, 255)], spec)]
    pre, core, post = (load_model(tmp_path / "repo", name) for name in added.models[:3])
    (prepared,) = pre.execute([image_request(*(image for image, _ in scenes))])
    (heads,) = core.execute([InferenceRequest({"images": prepared.output("preprocessed_image")})])
    (answer,) = post.execute([InferenceRequest({"head_output": heads.output("output0"),
                                                "original_size": prepared.output("original_size")})])
    assert answer.output("COUNT").ravel().tolist() == [0, 1, 4]
    for row, (_, expected) in enumerate(scenes):
        count = len(expected)
        ranked = sorted(expected, key=lambda e: -e[5])
        boxes = np.reshape([e[:4] for e in ranked], (-1, 4))
        np.testing.assert_allclose(answer.output("BOXES")[row, :count], boxes, atol=0.01)
        np.testing.assert_allclose(answer.output("SCORES")[row, :count], [e[5] for e in ranked], atol=0.01)
        assert answer.output("LABELS")[row, :count].tolist() == [LABELS[e[4]].encode() for e in ranked]
