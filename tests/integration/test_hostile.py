"""The hostile corpus and malformed tensors through every ensemble of the real server."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.imaging import DecodeLimits
from rawvision.repository import decode_limits, ensemble_names, model_config
from rawvision.server.embedded import ServerOptions
from rawvision.testing.hostile import Case, cases
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.integration
ENSEMBLES = [name for name in ensemble_names(REPOSITORY)
             if [t.name for t in model_config(REPOSITORY, name).input] == ["IMAGE"]]


def limits_of(ensemble: str) -> DecodeLimits:
    first_step = model_config(REPOSITORY, ensemble).ensemble_scheduling.step[0].model_name
    return decode_limits(REPOSITORY, first_step)


def image_input(payloads: list[bytes], batched: bool) -> httpclient.InferInput:
    array = np.array([[p] for p in payloads] if batched else payloads, dtype=np.object_)
    tensor = httpclient.InferInput("IMAGE", list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def infer(url: str, ensemble: str, tensor: httpclient.InferInput) -> InferenceServerException | None:
    client = httpclient.InferenceServerClient(url, network_timeout=120)
    try:
        client.infer(ensemble, [tensor])
        return None
    except InferenceServerException as exc:
        return exc
    finally:
        client.close()


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_hostile_corpus_gets_answers_or_named_invalid_arg_errors(server: ServerOptions, ensemble: str) -> None:
    batched = model_config(REPOSITORY, ensemble).max_batch_size > 0
    corpus = cases(limits_of(ensemble))

    def send(case: Case) -> tuple[Case, InferenceServerException | None]:
        return case, infer(server.http_url, ensemble, image_input([case.payload], batched))

    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent, so good and bad share dynamic batches
        results = list(pool.map(send, corpus))
    for case, error in results:
        if case.expect is None:
            assert error is None, (case.name, error)
        else:
            assert error is not None, case.name
            assert error.status() == "400", (case.name, error)
            assert re.search(case.expect, error.message()), (case.name, error.message())
    assert_ready_and_close(httpclient.InferenceServerClient(server.http_url))


def assert_ready_and_close(client: httpclient.InferenceServerClient) -> None:
    """A client left open keeps a connection that delays the server's shutdown by its exit timeout."""
    try:
        assert client.is_server_ready()
    finally:
        client.close()


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_malformed_tensors_are_refused_by_name(server: ServerOptions, ensemble: str) -> None:
    batched = model_config(REPOSITORY, ensemble).max_batch_size > 0
    shape = [1, 1] if batched else [1]
    wrong_name = httpclient.InferInput("IMAGES", shape, "BYTES")
    wrong_name.set_data_from_numpy(np.array([[b"x"]] if batched else [b"x"], dtype=np.object_))
    wrong_type = httpclient.InferInput("IMAGE", shape, "INT32")
    wrong_type.set_data_from_numpy(np.zeros(shape, np.int32))
    wrong_shape = httpclient.InferInput("IMAGE", [*shape, 2], "BYTES")
    wrong_shape.set_data_from_numpy(np.array([[[b"a", b"b"]]] if batched else [[b"a", b"b"]], dtype=np.object_))
    expectations = [(wrong_name, r"unexpected inference input 'IMAGES'"),
                    (wrong_type, r"data-type is 'INT32', but model '\w+' expects 'BYTES'"),
                    (wrong_shape, r"unexpected shape for input 'IMAGE'")]
    for tensor, expected in expectations:
        error = infer(server.http_url, ensemble, tensor)
        assert error is not None and error.status() == "400", (expected, error)
        assert re.search(expected, error.message()), error.message()


def test_an_empty_batch_is_refused(server: ServerOptions) -> None:
    tensor = httpclient.InferInput("IMAGE", [0, 1], "BYTES")
    tensor.set_data_from_numpy(np.zeros((0, 1), dtype=np.object_))
    error = infer(server.http_url, "mnist", tensor)
    assert error is not None and error.status() == "400", error
    assert "IMAGE" in error.message()


def test_one_bad_image_fails_its_whole_request_by_index(server: ServerOptions) -> None:
    good = next(c.payload for c in cases(limits_of("mnist")) if c.name == "1x1 png")
    error = infer(server.http_url, "mnist", image_input([good, good, b"junk", good], batched=True))
    assert error is not None and error.status() == "400"
    assert "IMAGE[2]: not a decodable image" in error.message()
