"""Property tests: the pure functions hold their contracts for any input hypothesis can find."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rawvision.classify import classify, softmax, top_k
from rawvision.errors import InputError
from rawvision.imaging import DecodeLimits, encode
from rawvision.transforms import PreprocessSpec, load_image, normalize, preprocess

SPECS = st.sampled_from([
    PreprocessSpec(resize=(28, 28), mean=(0.5,), std=(0.5,), color_mode="L"),
    PreprocessSpec(resize=32, crop=(24, 24), mean=(127.0,) * 3, std=(128.0,) * 3, scale=1.0),
    PreprocessSpec(resize=(16, 20), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), layout="NHWC"),
])
LIMITS = DecodeLimits(max_bytes=1 << 20, max_pixels=1 << 20)
PIXELS = st.tuples(st.integers(1, 60), st.integers(1, 60), st.sampled_from([1, 3])).flatmap(
    lambda s: arrays(np.uint8, s if s[2] == 3 else s[:2]))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4096), spec=SPECS)
def test_any_bytes_give_an_image_or_an_input_error(data: bytes, spec: PreprocessSpec) -> None:
    try:
        pixels = load_image(data, spec, LIMITS)
    except InputError as exc:
        assert str(exc)
    else:
        assert pixels.shape == (*spec.image_size, spec.channels) and pixels.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(pixels=PIXELS, spec=SPECS, fmt=st.sampled_from(["PNG", "JPEG"]))
def test_any_real_image_preprocesses_to_the_spec_shape_and_range(pixels: np.ndarray, spec: PreprocessSpec,
                                                                   fmt: str) -> None:
    height, width = pixels.shape[:2]
    data = encode(pixels, fmt)  # type: ignore[arg-type]
    if max(height, width) / min(height, width) > LIMITS.max_aspect_ratio:
        return
    batch = preprocess([data, data], spec, LIMITS)
    assert batch.shape == (2, *spec.output_shape) and batch.dtype == np.float32
    low = (0 * spec.scale - max(spec.mean)) / min(spec.std)
    high = (255 * spec.scale - min(spec.mean)) / min(spec.std)
    assert np.isfinite(batch).all() and low - 1e-4 <= batch.min() and batch.max() <= high + 1e-4


@given(batch=arrays(np.uint8, st.tuples(st.integers(0, 3), st.just(5), st.just(4), st.just(3))))
def test_normalize_is_affine_per_channel(batch: np.ndarray) -> None:
    spec = PreprocessSpec(resize=(5, 4), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    out = normalize(batch, spec)
    expected = ((batch / 255.0 - np.array(spec.mean)) / np.array(spec.std)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


FINITE = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@given(logits=arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 12)), elements=FINITE),
       k=st.integers(1, 15))
def test_softmax_top_k_and_classify_contracts(logits: np.ndarray, k: int) -> None:
    probs = softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    ids, scores = top_k(probs, k)
    assert ids.shape == scores.shape == (len(logits), min(k, logits.shape[1]))
    assert (np.diff(scores, axis=1) <= 0).all()
    assert (ids == np.argsort(-probs, axis=1, kind="stable")[:, : ids.shape[1]]).all()
    labels = tuple(f"class {i}" for i in range(logits.shape[1]))
    result = classify(logits, labels, k)
    assert [[labels[i].encode() for i in row] for row in result.class_ids] == result.labels.tolist()
