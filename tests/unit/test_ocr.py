"""OCR's pure functions: detector sizing and normalisation, boxes from a map, crops, batches, CTC."""

from __future__ import annotations

import numpy as np
import pytest

from rawvision.errors import InputError
from rawvision.imaging import encode
from rawvision.ocr.crop import RecognizeSpec, batch_width, batches_by_width, crop_box, recognition_input
from rawvision.ocr.ctc import characters_from_dictionary, ctc_decode
from rawvision.ocr.detect import DetectSpec, boxes_from_map, detection_input, detection_size, reading_order
from rawvision.ocr.pipeline import keep_confident, prepare
from tests.backend import load_model
from tests.fake_pb_utils import InferenceRequest, TritonError

SPEC = DetectSpec()


@pytest.mark.parametrize(("size", "expected"), [
    ((480, 640), (736, 992)),      # short side scaled up to 736, each side a multiple of 32
    ((1000, 1500), (992, 1504)),   # already large enough: only rounded
    ((1, 1), (736, 736)),
    ((2, 40), (96, 1984)),         # the long side is capped at 2000 before rounding
    ((5000, 8000), (1248, 1984)),  # huge photos scale down to the cap
])
def test_detection_size_scales_and_rounds_to_32(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert detection_size(*size, SPEC) == expected
    assert all(side % 32 == 0 for side in detection_size(*size, SPEC))


def test_detection_input_is_bgr_normalised_nchw() -> None:
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    tensor = detection_input(rgb, SPEC)
    assert tensor.shape == (1, 3, 736, 928) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 2], 1.0)   # red is the last channel in BGR
    np.testing.assert_allclose(tensor[0, :2], -1.0)


def test_prepare_refuses_bad_bytes_with_the_decoder_message() -> None:
    with pytest.raises(InputError, match="not a decodable image"):
        prepare(b"junk", SPEC)
    tensor, rgb = prepare(encode(np.full((30, 60), 128, np.uint8), "PNG"), SPEC)
    assert rgb.shape == (30, 60, 3) and tensor.shape[:2] == (1, 3)


def test_spec_from_parameters_validates() -> None:
    spec = DetectSpec.from_parameters({"limit_type": "max", "limit_side_len": "960", "mean": "0.4,0.5,0.6"})
    assert (spec.limit_type, spec.limit_side_len, spec.mean) == ("max", 960, (0.4, 0.5, 0.6))
    with pytest.raises(ValueError, match="limit_type"):
        DetectSpec.from_parameters({"limit_type": "both"})
    with pytest.raises(ValueError, match="3 comma-separated"):
        DetectSpec.from_parameters({"std": "0.5,0.5"})


def test_boxes_from_map_finds_rectangles_in_image_pixels_and_reading_order() -> None:
    prob = np.zeros((64, 128), np.float32)
    prob[40:50, 10:60] = 0.9   # second line
    prob[10:20, 70:120] = 0.9  # first line, right
    prob[10:20, 5:50] = 0.9    # first line, left
    prob[30:32, 100:101] = 0.9  # a speck: dropped (too small)
    boxes, scores = boxes_from_map(prob, (128, 256), SPEC)  # the image is twice the map size
    assert boxes.shape == (3, 4, 2) and scores.shape == (3,)
    assert np.all(scores > 0.5)
    lefts, tops = boxes[:, :, 0].min(axis=1), boxes[:, :, 1].min(axis=1)
    assert list(lefts < 110) == [True, False, True] and tops[0] < tops[2] and tops[1] < tops[2]
    # unclip expands DB's shrunk region: the box covers the marked area (scaled ×2) with some margin.
    assert boxes[2, 0, 0] <= 20 and boxes[2, 1, 0] >= 118 and boxes[2, 0, 1] <= 80 and boxes[2, 2, 1] >= 98


def test_boxes_from_map_of_nothing_is_empty() -> None:
    boxes, scores = boxes_from_map(np.zeros((32, 32), np.float32), (10, 10), SPEC)
    assert boxes.shape == (0, 4, 2) and scores.shape == (0,)


def test_reading_order_groups_lines_despite_small_offsets() -> None:
    def box(x: float, y: float, w: float = 40, h: float = 20) -> np.ndarray:
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)

    boxes = np.stack([box(100, 52), box(0, 50), box(0, 0), box(60, 3), box(10, 100)])
    assert reading_order(boxes) == [2, 3, 1, 0, 4]


def test_crop_box_warps_rotated_regions_upright() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[20:40, 30:130] = 255
    straight = crop_box(rgb, np.array([[30, 20], [130, 20], [130, 40], [30, 40]], np.float32), RecognizeSpec())
    assert straight.shape == (20, 100, 3) and straight.mean() > 250
    tall = crop_box(rgb, np.array([[30, 0], [40, 0], [40, 60], [30, 60]], np.float32), RecognizeSpec())
    assert tall.shape == (10, 60, 3)  # 60 tall, 10 wide → turned a quarter


def test_recognition_input_pads_to_a_common_width_in_bgr() -> None:
    spec = RecognizeSpec()
    red = np.zeros((24, 400, 3), np.uint8)
    red[..., 0] = 255
    small = np.full((48, 48, 3), 255, np.uint8)
    batch = recognition_input([red, small], spec)
    assert batch.shape == (2, 3, 48, 800) and batch_width([red, small], spec) == 800
    np.testing.assert_allclose(batch[0, 2], 1.0)      # red, stretched to 48 × 800
    np.testing.assert_allclose(batch[1, :, :, :48], 1.0)
    np.testing.assert_allclose(batch[1, :, :, 48:], 0.0)  # zero padding right of the short crop
    assert batch_width([small], spec) == 320


def test_batches_group_similar_widths() -> None:
    crops = [np.zeros((10, w, 3), np.uint8) for w in (100, 10, 50, 20, 90)]
    assert batches_by_width(crops, 2) == [[1, 3], [2, 4], [0]]
    with pytest.raises(ValueError):
        batches_by_width(crops, 0)


def test_ctc_decode_merges_repeats_drops_blanks_and_scores() -> None:
    characters = characters_from_dictionary(["a", "b"])  # blank, a, b, space
    steps = [1, 1, 0, 1, 2, 3, 2, 2]  # a a _ a b ␣ b b → "aab b"
    probs = np.full((1, len(steps), 4), 0.1, np.float32)
    for t, c in enumerate(steps):
        probs[0, t, c] = 0.7 if t == 0 else 0.9
    texts, scores = ctc_decode(probs, characters)
    assert texts == ["aab b"]
    assert scores[0] == pytest.approx((0.7 + 0.9 * 4) / 5)
    empty, zero = ctc_decode(np.eye(4, dtype=np.float32)[[0, 0]][None], characters)
    assert empty == [""] and zero[0] == 0
    with pytest.raises(ValueError, match="classes"):
        ctc_decode(np.zeros((1, 2, 5), np.float32), characters)


def test_keep_confident_drops_empty_and_unsure_lines() -> None:
    boxes = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    result = keep_confident(boxes, ["ok", " ", "unsure"], np.array([0.9, 0.9, 0.2], np.float32), 0.5)
    assert result.texts == ["ok"] and result.boxes.shape == (1, 4, 2) and result.scores.tolist() == pytest.approx([0.9])
    assert keep_confident(boxes, ["", "", ""], np.ones(3, np.float32), 0.5).boxes.shape == (0, 4, 2)


def test_preprocess_adapter_answers_each_request_alone(repository) -> None:  # type: ignore[no-untyped-def]
    model = load_model(repository, "ocr_preprocess")
    small, large = (encode(np.full(shape, 90, np.uint8), "PNG") for shape in ((30, 60), (800, 600)))
    requests = [InferenceRequest({"IMAGE": np.array([p], dtype=np.object_)}) for p in (small, b"junk", large)]
    requests.append(InferenceRequest({"IMAGE": np.array([small, small], dtype=np.object_)}))
    responses = model.execute(requests)
    assert len(responses) == 4
    assert responses[0].output("detection_input").shape == (1, 3, 736, 1472)
    assert responses[0].output("original_image").shape == (30, 60, 3)
    assert responses[2].output("detection_input").shape == (1, 3, 992, 736)
    for bad, message in ((responses[1], "IMAGE[0]: not a decodable image"), (responses[3], "exactly one image")):
        assert bad.has_error() and bad.error().code() == TritonError.INVALID_ARG
        assert message in bad.error().message()
