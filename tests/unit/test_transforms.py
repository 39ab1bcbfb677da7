"""Shared preprocessing against torchvision's pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from rawvision.imaging import decode, encode
from rawvision.repository import preprocess_spec
from rawvision.testing.images import gradient
from rawvision.transforms import PreprocessSpec, normalize, preprocess

IMAGENET_SPEC = PreprocessSpec(resize=256, crop=(224, 224), mean=(0.485, 0.456, 0.406),
                               std=(0.229, 0.224, 0.225), color_mode="RGB")
TORCHVISION_MNIST = T.Compose([T.Grayscale(), T.Resize((28, 28)), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
TORCHVISION_IMAGENET = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])


def reference(data: bytes, pipeline: T.Compose, mode: str) -> np.ndarray:
    image = Image.open(__import__("io").BytesIO(data)).convert(mode)
    tensor: torch.Tensor = pipeline(image)
    return tensor.numpy()


@pytest.mark.parametrize(("width", "height", "fmt"), [(28, 28, "PNG"), (56, 56, "PNG"), (100, 37, "JPEG"),
                                                      (17, 90, "PNG"), (300, 200, "JPEG")])
def test_mnist_spec_matches_the_torchvision_pipeline(repository, width, height, fmt) -> None:  # type: ignore[no-untyped-def]
    spec = preprocess_spec(repository, "mnist_preprocess")
    data = encode(gradient(width, height), fmt)
    ours = preprocess([data], spec)[0]
    theirs = reference(data, TORCHVISION_MNIST, "RGB")
    assert ours.shape == theirs.shape == (1, 28, 28)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_mnist_digits_match_the_torchvision_pipeline(repository, mnist_split) -> None:  # type: ignore[no-untyped-def]
    spec = preprocess_spec(repository, "mnist_preprocess")
    payloads = [encode(d, "PNG") for d in mnist_split.test_images[:32]]
    ours = preprocess(payloads, spec)
    theirs = np.stack([reference(p, TORCHVISION_MNIST, "L") for p in payloads])
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize(("width", "height"), [(640, 480), (333, 500), (256, 256), (1000, 260)])
def test_resize_short_side_and_centre_crop_match_torchvision(width: int, height: int) -> None:
    data = encode(gradient(width, height, seed=width), "PNG")
    ours = preprocess([data], IMAGENET_SPEC)[0]
    theirs = reference(data, TORCHVISION_IMAGENET, "RGB")
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_nhwc_layout_is_the_transpose_of_nchw() -> None:
    data = encode(gradient(50, 40), "PNG")
    nhwc = PreprocessSpec(resize=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3, layout="NHWC")
    nchw = PreprocessSpec(resize=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3)
    np.testing.assert_array_equal(preprocess([data], nhwc).transpose(0, 3, 1, 2), preprocess([data], nchw))
    assert nhwc.output_shape == (32, 32, 3)


def test_spec_round_trips_through_config_parameters() -> None:
    assert PreprocessSpec.from_parameters(IMAGENET_SPEC.to_parameters()) == IMAGENET_SPEC
    exact = PreprocessSpec(resize=(28, 28), mean=(0.5,), std=(0.5,), color_mode="L", interpolation="bicubic")
    assert PreprocessSpec.from_parameters(exact.to_parameters()) == exact


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"resize": 256, "crop": (300, 300)}, "larger than"),
    ({"resize": (28, 28), "crop": (32, 28)}, "larger than"),
    ({"resize": 256}, "crop is needed"),
    ({"resize": (28, 28), "mean": (0.5,), "std": (0.5,)}, "need 3 value"),
    ({"resize": (28, 28), "std": (0.0, 1.0, 1.0), "mean": (0, 0, 0)}, "positive"),
    ({"resize": (28, 28), "color_mode": "CMYK"}, "color_mode"),
])
def test_inconsistent_specs_are_refused(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    kwargs = {"mean": (0.0,) * 3, "std": (1.0,) * 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        PreprocessSpec(**kwargs)


def test_empty_batch_has_the_right_shape() -> None:
    assert preprocess([], IMAGENET_SPEC).shape == (0, 3, 224, 224)


def test_decoded_grey_equals_pillow_convert() -> None:
    data = encode(gradient(20, 10), "PNG")
    np.testing.assert_array_equal(np.asarray(decode(data, "L")),
                                  np.asarray(Image.open(__import__("io").BytesIO(data)).convert("L")))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_normalize_table_is_bit_identical_to_the_arithmetic(layout: str) -> None:
    spec = PreprocessSpec(resize=256, crop=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                          layout=layout)  # type: ignore[arg-type]
    batch = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    arithmetic = (batch.astype(np.float32) * np.float32(spec.scale) - np.float32(spec.mean)) \
        / np.float32(spec.std)
    expected = arithmetic.transpose(0, 3, 1, 2) if layout == "NCHW" else arithmetic
    out = normalize(batch, spec)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(normalize(batch.astype(np.float32), spec), out)
