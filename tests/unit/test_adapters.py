"""Drive the repository's Python-backend models directly with the fake pb_utils."""

from __future__ import annotations

import numpy as np
import pytest

from rawvision.imaging import encode
from tests.backend import load_model
from tests.fake_pb_utils import InferenceRequest, TritonError


def image_request(*payloads: bytes) -> InferenceRequest:
    return InferenceRequest({"IMAGE": np.array([[p] for p in payloads], dtype=np.object_)})


@pytest.fixture(scope="module")
def preprocess(repository):  # type: ignore[no-untyped-def]
    return load_model(repository, "mnist_preprocess")


def test_preprocess_answers_every_request_and_isolates_bad_ones(preprocess, mnist_split) -> None:  # type: ignore[no-untyped-def]
    digits = [encode(d, "PNG") for d in mnist_split.test_images[:5]]
    requests = [image_request(digits[0]), image_request(b"not an image"), image_request(*digits[1:4]),
                image_request(b""), image_request(digits[4])]
    responses = preprocess.execute(requests)
    assert len(responses) == len(requests)
    assert [r.has_error() for r in responses] == [False, True, False, True, False]
    assert [r.output("preprocessed_image").shape[0] for r in responses if not r.has_error()] == [1, 3, 1]
    assert responses[1].error().code() == TritonError.INVALID_ARG
    assert "IMAGE[0]: not a decodable image" in responses[1].error().message()
    assert "empty payload" in responses[3].error().message()


def test_one_bad_image_fails_only_its_request(preprocess, mnist_split) -> None:  # type: ignore[no-untyped-def]
    good = encode(mnist_split.test_images[0], "PNG")
    responses = preprocess.execute([image_request(good, good[:40]), image_request(good)])
    assert responses[0].has_error() and "IMAGE[1]" in responses[0].error().message()
    assert not responses[1].has_error()


def test_missing_and_mistyped_inputs_are_invalid_arg(preprocess) -> None:  # type: ignore[no-untyped-def]
    responses = preprocess.execute([InferenceRequest({}),
                                    InferenceRequest({"IMAGE": np.zeros((1, 1), np.float32)})])
    assert [r.error().code() for r in responses] == [TritonError.INVALID_ARG] * 2
    assert "missing" in responses[0].error().message()
    assert "BYTES" in responses[1].error().message()


def test_postprocess_returns_top_k_per_request(repository) -> None:  # type: ignore[no-untyped-def]
    model = load_model(repository, "mnist_postprocess")
    logits = np.eye(10, dtype=np.float32)[[7, 1, 3]] * 10
    responses = model.execute([InferenceRequest({"logits": logits[:2]}), InferenceRequest({"logits": logits[2:]})])
    assert [r.output("CLASS_IDS")[:, 0].tolist() for r in responses] == [[7, 1], [3]]
    assert responses[0].output("LABELS")[0, 0] == b"7"
    scores = responses[0].output("SCORES")
    assert scores.shape == (2, 3) and (np.diff(scores, axis=1) <= 0).all()


def test_onnx_runner_batches_requests(repository, mnist_split) -> None:  # type: ignore[no-untyped-def]
    from rawvision.repository import preprocess_spec
    from rawvision.transforms import normalize

    model = load_model(repository, "mnist_onnx")
    inputs = normalize(mnist_split.test_images[:6, ..., None], preprocess_spec(repository, "mnist_preprocess"))
    responses = model.execute([InferenceRequest({"preprocessed_image": inputs[:2]}),
                               InferenceRequest({"preprocessed_image": inputs[2:]})])
    logits = np.concatenate([r.output("logits") for r in responses])
    assert logits.shape == (6, 10) and logits.dtype == np.float32
    assert (logits.argmax(axis=1) == mnist_split.test_labels[:6]).mean() >= 5 / 6


def test_onnx_runner_sessions_do_not_spin(repository) -> None:  # type: ignore[no-untyped-def]
    model = load_model(repository, "mnist_onnx")
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
