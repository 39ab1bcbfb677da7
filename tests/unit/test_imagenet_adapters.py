"""The imagenet Python-backend steps driven directly: same code as mnist, configured by the imagenet spec."""

from __future__ import annotations

import numpy as np

from rawvision.repository import preprocess_spec
from rawvision.testing.photos import cmyk_jpeg, jpeg, photo, upscaled
from rawvision.transforms import preprocess
from tests.backend import load_model
from tests.fake_pb_utils import InferenceRequest


def image_request(*payloads: bytes) -> InferenceRequest:
    return InferenceRequest({"IMAGE": np.array([[p] for p in payloads], dtype=np.object_)})


def test_imagenet_chain_answers_each_request_with_top_5(repository) -> None:  # type: ignore[no-untyped-def]
    pre = load_model(repository, "imagenet_preprocess")
    core = load_model(repository, "imagenet_onnx")
    post = load_model(repository, "imagenet_postprocess")
    photos = [jpeg(photo("coffee")), cmyk_jpeg(photo("chelsea")), upscaled("astronaut")]
    responses = pre.execute([image_request(*photos[:2]), image_request(b"\xff\xd8 not a jpeg"),
                             image_request(photos[2])])
    assert [r.has_error() for r in responses] == [False, True, False]
    batches = [r.output("preprocessed_image") for r in responses if not r.has_error()]
    expected = preprocess(photos, preprocess_spec(repository, "imagenet_preprocess"))
    np.testing.assert_array_equal(np.concatenate(batches), expected)
    logits = [r.output("logits") for r in core.execute([InferenceRequest({"preprocessed_image": b})
                                                        for b in batches])]
    answers = post.execute([InferenceRequest({"logits": x}) for x in logits])
    labels = [r.output("LABELS") for r in answers]
    assert [a.shape for a in labels] == [(2, 5), (1, 5)]
    assert labels[0][0, 0] == b"espresso"
    assert {b"tabby", b"tiger cat", b"Egyptian cat"} & set(labels[0][1, :3])
