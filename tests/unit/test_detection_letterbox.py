"""Letterbox geometry, pixels, decoding and the way back to original pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rawvision.detection.letterbox import (
    Letterbox,
    LetterboxSpec,
    draft_bound,
    letterbox,
    letterbox_geometry,
    load_letterboxed,
    normalize_letterboxed,
    unletterbox,
    unletterbox_points,
)
from rawvision.errors import InputError
from rawvision.imaging import DecodeLimits, decode_with_size, encode
from rawvision.testing.images import encoded, gradient
from rawvision.testing.photos import exif_rotated_jpeg

SQUARE = LetterboxSpec(size=(640, 640))


@pytest.mark.parametrize(("height", "width", "spec", "expected"), [
    (480, 640, SQUARE, Letterbox(scale=1.0, top=80, left=0)),              # landscape: bars above and below
    (1000, 500, SQUARE, Letterbox(scale=0.64, top=0, left=160)),           # portrait: bars left and right
    (300, 300, SQUARE, Letterbox(scale=640 / 300, top=0, left=0)),         # square: upscaled, no bars
    (300, 300, LetterboxSpec(size=(640, 640), scaleup=False), Letterbox(scale=1.0, top=170, left=170)),
    (1280, 1280, LetterboxSpec(size=(640, 640), scaleup=False), Letterbox(scale=0.5, top=0, left=0)),
    (100, 99, LetterboxSpec(size=(256, 256)), Letterbox(scale=2.56, top=0, left=1)),  # odd pad: 1 left, 2 right
    (100, 200, LetterboxSpec(size=(256, 320)), Letterbox(scale=1.6, top=48, left=0)),  # non-square input
])
def test_geometry_follows_ultralytics_arithmetic(height: int, width: int, spec: LetterboxSpec,
                                                 expected: Letterbox) -> None:
    assert letterbox_geometry(height, width, spec) == expected


def ultralytics_letterbox(image: np.ndarray, spec: LetterboxSpec) -> np.ndarray:
    """Ultralytics' LetterBox (centred, auto off), written out here as the reference."""
    shape = image.shape[:2]
    ratio = min(spec.size[0] / shape[0], spec.size[1] / shape[1])
    if not spec.scaleup:
        ratio = min(ratio, 1.0)
    new_unpad = round(shape[1] * ratio), round(shape[0] * ratio)
    dw, dh = (spec.size[1] - new_unpad[0]) / 2, (spec.size[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        image = cv2.resize(image, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(spec.pad_value,) * 3)


@pytest.mark.parametrize(("height", "width"), [(480, 640), (1000, 500), (300, 300), (101, 77), (640, 640)])
@pytest.mark.parametrize("scaleup", [True, False])
def test_letterbox_pixels_match_the_reference(height: int, width: int, scaleup: bool) -> None:
    spec = LetterboxSpec(size=(640, 640), pad_value=114, scaleup=scaleup)
    image = gradient(width, height, seed=height)
    out = letterbox(image, spec)
    assert out.shape == (640, 640, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, ultralytics_letterbox(image, spec))


def test_the_bars_have_the_pad_value_and_the_picture_is_inside() -> None:
    spec = LetterboxSpec(size=(256, 256), pad_value=7)
    out = letterbox(np.full((50, 100, 3), 200, np.uint8), spec)
    box = letterbox_geometry(50, 100, spec)
    assert (box.top, box.left) == (64, 0)
    assert (out[:64] == 7).all() and (out[64 + 128:] == 7).all()
    assert (out[64:64 + 128] == 200).all()


def test_letterbox_refuses_anything_but_rgb_uint8() -> None:
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        letterbox(np.zeros((10, 10), np.uint8), SQUARE)
    with pytest.raises(ValueError, match="float32"):
        letterbox(np.zeros((10, 10, 3), np.float32), SQUARE)


@settings(max_examples=200, deadline=None)
@given(height=st.integers(1, 3000), width=st.integers(1, 3000), scaleup=st.booleans(),
       corners=st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_a_box_mapped_forward_and_back_lands_where_it_started(height: int, width: int, scaleup: bool,
                                                               corners: list[float]) -> None:
    spec = LetterboxSpec(size=(320, 416), scaleup=scaleup)
    x1, x2 = sorted(corners[:2])
    y1, y2 = sorted(corners[2:])
    original = np.array([x1 * width, y1 * height, x2 * width, y2 * height])
    box = letterbox_geometry(height, width, spec)
    forward = original * box.scale + np.array([box.left, box.top, box.left, box.top])
    back = unletterbox(forward[None, None].astype(np.float32), np.array([[height, width]]), spec)
    assert back.shape == (1, 1, 4) and back.dtype == np.float32
    np.testing.assert_allclose(back[0, 0], original, rtol=1e-5, atol=1e-4 / box.scale)  # float32 input pixels


def test_boxes_beyond_the_picture_are_clipped_to_it() -> None:
    spec = LetterboxSpec(size=(640, 640))
    sizes = np.array([[480, 640], [1000, 500]])  # bars top/bottom (80 px), and left/right (160 px)
    boxes = np.array([[[-10, 0, 700, 100], [0, 0, 0, 0]],
                      [[0, 0, 640, 640], [160, 0, 480, 640]]], dtype=np.float32)
    out = unletterbox(boxes, sizes, spec)
    np.testing.assert_allclose(out[0, 0], [0, 0, 640, 20])
    np.testing.assert_allclose(out[0, 1], [0, 0, 0, 0])
    np.testing.assert_allclose(out[1, 0], [0, 0, 500, 1000])
    np.testing.assert_allclose(out[1, 1], [0, 0, 500, 1000])


def test_points_come_back_per_image() -> None:
    spec = LetterboxSpec(size=(640, 640))
    points = np.array([[[320.0, 320.0], [0.0, 80.0]], [[160.0, 0.0], [800.0, 320.0]]], dtype=np.float32)
    out = unletterbox_points(points, np.array([[480, 640], [1000, 500]]), spec)
    np.testing.assert_allclose(out, [[[320, 240], [0, 0]], [[0, 0], [500, 500]]])


def test_unletterbox_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[B, \.\.\., 4\]"):
        unletterbox(np.zeros((2, 3)), np.array([[10, 10]]), SQUARE)
    with pytest.raises(ValueError, match="2 rows of points for 1 original sizes"):
        unletterbox(np.zeros((2, 3, 4)), np.array([[10, 10]]), SQUARE)
    assert unletterbox(np.zeros((0, 5, 4)), np.zeros((0, 2)), SQUARE).shape == (0, 5, 4)


def test_load_letterboxed_returns_the_original_size() -> None:
    image = gradient(200, 100)
    pixels, size = load_letterboxed(encode(image), LetterboxSpec(size=(256, 320)))
    assert size == (100, 200)
    np.testing.assert_array_equal(pixels, letterbox(image, LetterboxSpec(size=(256, 320))))


def test_load_letterboxed_turns_the_picture_upright_first() -> None:
    upright = np.zeros((60, 30, 3), np.uint8)
    upright[:15] = 255  # white band at the top of the upright picture
    pixels, size = load_letterboxed(exif_rotated_jpeg(upright), LetterboxSpec(size=(64, 64)))
    assert size == (60, 30)
    box = letterbox_geometry(60, 30, LetterboxSpec(size=(64, 64)))
    assert (box.top, box.left) == (0, 16)
    inside = pixels[:, 16:48]
    assert inside[:12].mean() > 200 and inside[-40:].mean() < 50


def test_jpeg_draft_decodes_smaller_but_keeps_the_pictures_own_size() -> None:
    upright = np.zeros((2400, 1600, 3), np.uint8)
    upright[:600] = 255  # white band at the top of the upright picture
    data = exif_rotated_jpeg(upright)
    spec = LetterboxSpec(size=(320, 320), pad_value=0)
    drafted_spec = LetterboxSpec(size=(320, 320), pad_value=0, jpeg_draft=True)
    image, size = decode_with_size(data, "RGB", draft=draft_bound(drafted_spec))
    assert size == (2400, 1600)
    assert image.height < 2400 and image.height >= 320 and image.width >= round(1600 * 320 / 2400)
    full, full_size = load_letterboxed(data, spec)
    drafted, drafted_size = load_letterboxed(data, drafted_spec)
    assert drafted_size == full_size == (2400, 1600)
    assert np.abs(drafted.astype(int) - full.astype(int)).mean() < 2.0
    assert drafted[:70, 60:260].mean() > 200 and drafted[-150:, 60:260].mean() < 50


def test_draft_bound_keeps_the_letterboxed_size_in_both_orientations() -> None:
    bound = draft_bound(LetterboxSpec(size=(256, 512), jpeg_draft=True))
    assert bound(4000, 3000) == (342, 256)  # upright it fills the height: 341.3 x 256
    assert bound(3000, 4000) == (256, 342)  # the same picture stored turned a quarter
    assert draft_bound(LetterboxSpec(size=(640, 640), scaleup=False))(100, 80) == (100, 80)


def test_load_letterboxed_honours_decode_limits_and_takes_grey_images() -> None:
    data = encode(gradient(100, 100))
    with pytest.raises(InputError, match="10000 pixels"):
        load_letterboxed(data, SQUARE, DecodeLimits(max_pixels=5000))
    with pytest.raises(InputError, match="GIF"):
        load_letterboxed(encoded(Image.new("RGB", (8, 8)), "GIF"), SQUARE)
    grey, size = load_letterboxed(encode(np.full((32, 32), 90, np.uint8)), LetterboxSpec(size=(64, 64)))
    assert size == (32, 32) and grey.shape == (64, 64, 3) and (grey == 90).all()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_normalize_letterboxed_follows_layout_and_channel_order(layout: str, order: str) -> None:
    spec = LetterboxSpec(size=(32, 64), scale=0.5, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0),
                         channel_order=order, layout=layout)  # type: ignore[arg-type]
    batch = np.stack([gradient(64, 32, seed) for seed in range(3)])
    out = normalize_letterboxed(batch, spec)
    ordered = batch[..., ::-1] if order == "BGR" else batch
    expected = (ordered.astype(np.float32) * 0.5 - np.array([1, 2, 3], np.float32)) / np.array([2, 4, 8], np.float32)
    if layout == "NCHW":
        expected = expected.transpose(0, 3, 1, 2)
    assert out.dtype == np.float32 and out.shape == (3, *spec.output_shape)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_output_shape_follows_the_layout() -> None:
    assert LetterboxSpec(size=(256, 320)).output_shape == (3, 256, 320)
    assert LetterboxSpec(size=(256, 320), layout="NHWC").output_shape == (256, 320, 3)


def test_parameters_round_trip_and_other_keys_are_ignored() -> None:
    spec = LetterboxSpec(size=(384, 640), pad_value=0, scale=1.0, mean=(0.5, 0.25, 0.125), std=(2.0, 3.0, 4.0),
                         channel_order="BGR", layout="NHWC", interpolation="nearest", stride=64, scaleup=False)
    params = spec.to_parameters()
    assert all(isinstance(value, str) for value in params.values())
    assert LetterboxSpec.from_parameters({**params, "max_bytes": "1000", "head": "yolov8"}) == spec
    assert LetterboxSpec.from_parameters(LetterboxSpec(size=(32, 32)).to_parameters()) == LetterboxSpec(size=(32, 32))


@pytest.mark.parametrize(("changes", "message"), [
    ({"size": (250, 256)}, r"size \(250, 256\) must be a multiple of the stride 32"),
    ({"size": (0, 256)}, r"size \(0, 256\) must be a positive"),
    ({"stride": 0}, "stride 0"),
    ({"pad_value": 300}, "pad_value 300"),
    ({"scale": 0.0}, "scale 0.0"),
    ({"mean": (0.0,)}, r"mean \(0.0,\)"),
    ({"std": (1.0, 0.0, 1.0)}, r"std \(1.0, 0.0, 1.0\) must be positive"),
    ({"channel_order": "RGBA"}, "channel_order 'RGBA'"),
    ({"layout": "CHW"}, "layout 'CHW'"),
    ({"interpolation": "bicubic"}, "interpolation 'bicubic'"),
])
def test_bad_specs_are_refused_naming_the_value(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LetterboxSpec(**{"size": (256, 256), **changes})  # type: ignore[arg-type]


def test_bad_parameters_name_the_model_and_the_key() -> None:
    with pytest.raises(ValueError, match=r"faces_preprocess: config parameter scaleup='maybe'"):
        LetterboxSpec.from_parameters({"size": "256,256", "scaleup": "maybe"}, "faces_preprocess")
    with pytest.raises(ValueError, match=r"faces_preprocess: config parameter\(s\) \['size'\] are missing"):
        LetterboxSpec.from_parameters({}, "faces_preprocess")
