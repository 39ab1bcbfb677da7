"""The TorchScript runner driven through the fake pb_utils, and the tensor-order rule it shares with LibTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rawvision.backend.file_runner import tensor_order
from rawvision.repository import preprocess_spec
from rawvision.transforms import normalize
from tests.backend import load_model
from tests.fake_pb_utils import InferenceRequest, TritonError


@pytest.fixture(scope="module")
def runner(repository):  # type: ignore[no-untyped-def]
    return load_model(repository, "fashion_mnist_torchscript")


@pytest.fixture(scope="module")
def inputs(repository, fashion_split) -> np.ndarray:  # type: ignore[no-untyped-def]
    spec = preprocess_spec(repository, "fashion_mnist_preprocess")
    return normalize(fashion_split.test_images[:9, ..., None], spec)


def test_runner_answers_several_requests_from_one_batch(runner, repository, inputs, fashion_split) -> None:  # type: ignore[no-untyped-def]
    sizes = [1, 3, 5]
    cuts = np.cumsum(sizes)[:-1]
    requests = [InferenceRequest({"preprocessed_image__0": part}) for part in np.split(inputs, cuts)]
    responses = runner.execute(requests)
    assert len(responses) == 3 and not any(r.has_error() for r in responses)
    assert [r.output("logits__0").shape for r in responses] == [(n, 10) for n in sizes]
    logits = np.concatenate([r.output("logits__0") for r in responses])
    assert logits.dtype == np.float32
    module = torch.jit.load(str(repository / "fashion_mnist_torchscript" / "1" / "model.pt"))
    with torch.no_grad():
        reference = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)
    assert (logits.argmax(axis=1) == fashion_split.test_labels[:9]).mean() >= 7 / 9


def test_a_bad_request_fails_alone(runner, inputs) -> None:  # type: ignore[no-untyped-def]
    responses = runner.execute([InferenceRequest({"preprocessed_image__0": inputs[:2]}),
                                InferenceRequest({"preprocessed_image": inputs[2:4]}),
                                InferenceRequest({"preprocessed_image__0": inputs[4:5]})])
    assert [r.has_error() for r in responses] == [False, True, False]
    assert responses[1].error().code() == TritonError.INVALID_ARG
    assert "preprocessed_image__0 is missing" in responses[1].error().message()
    assert responses[2].output("logits__0").shape == (1, 10)


def test_tensor_order_follows_the_libtorch_naming_rule() -> None:
    assert tensor_order(["b__1", "a__0"]) == ["a__0", "b__1"]
    assert tensor_order(["image", "mask"]) == ["image", "mask"]
    assert tensor_order(["x__0", "y"]) == ["x__0", "y"]
    with pytest.raises(ValueError, match="indices"):
        tensor_order(["a__0", "b__2"])
