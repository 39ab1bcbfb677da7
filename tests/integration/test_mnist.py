"""The mnist ensemble through the real server: raw bytes in, digits out, bad input isolated."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.client import classify_client
from rawvision.imaging import encode
from rawvision.server.embedded import ServerOptions
from rawvision.testing.images import jpeg_bomb, png_bomb

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(server: ServerOptions) -> classify_client.Client:
    return classify_client.Client(server.http_url, "mnist")


def test_held_out_digits_sent_as_png_and_jpeg_are_classified(client, mnist_split) -> None:  # type: ignore[no-untyped-def]
    images, labels = mnist_split.test_images[:200], mnist_split.test_labels[:200]
    payloads = [encode(img, "PNG" if i % 2 else "JPEG") for i, img in enumerate(images)]
    answers = []
    for start in range(0, len(payloads), 8):
        answers += client.classify(payloads[start:start + 8])
    predicted = np.array([int(a[0].label) for a in answers])
    accuracy = (predicted == labels).mean()
    assert accuracy >= 0.97, f"accuracy {accuracy:.3f} on 200 held-out digits"
    assert all(a[0].class_id == int(a[0].label) for a in answers)


def test_one_request_with_several_images(client, mnist_split) -> None:  # type: ignore[no-untyped-def]
    payloads = [encode(img, "PNG") for img in mnist_split.test_images[:8]]
    answers = client.classify(payloads)
    assert len(answers) == 8
    for predictions in answers:
        assert len(predictions) == 3
        scores = [p.score for p in predictions]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001


BAD = {
    "empty": (b"", "empty payload"),
    "text": (b"hello, I am not a picture", "not a decodable image"),
    "truncated png": (None, "truncated|not a decodable"),
    "truncated jpeg": (None, "truncated|not a decodable"),
    "png bomb": (png_bomb(), "50000x50000"),
    "jpeg bomb": (jpeg_bomb(), "50000x50000"),
}


def bad_payload(kind: str, digit: np.ndarray) -> bytes:
    if kind.startswith("truncated"):
        data = encode(np.kron(digit, np.ones((4, 4), np.uint8)), "PNG" if "png" in kind else "JPEG")
        return data[: len(data) // 2]
    payload = BAD[kind][0]
    assert payload is not None
    return payload


def test_bad_inputs_fail_alone_while_good_ones_answer(server, mnist_split) -> None:  # type: ignore[no-untyped-def]
    digits, labels = mnist_split.test_images[:24], mnist_split.test_labels[:24]
    kinds = list(BAD)
    jobs: list[tuple[str | None, bytes, int]] = []
    for i, digit in enumerate(digits):
        jobs.append((None, encode(digit, "PNG"), int(labels[i])))
        if i < len(kinds):
            jobs.append((kinds[i], bad_payload(kinds[i], digit), -1))

    def send(job: tuple[str | None, bytes, int]) -> tuple[str | None, object]:
        kind, payload, _ = job
        client = classify_client.Client(server.http_url, "mnist")
        try:
            return kind, client.classify([payload])[0][0]
        except classify_client.ClientError as exc:
            return kind, exc
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(send, jobs))
    good_right = 0
    for (kind, answer), (_, _, label) in zip(results, jobs, strict=True):
        if kind is None:
            assert isinstance(answer, classify_client.Prediction), answer
            good_right += answer.class_id == label
        else:
            assert isinstance(answer, classify_client.ClientError), kind
            assert re.search(BAD[kind][1], str(answer)), (kind, str(answer))
    assert good_right >= 23
    client = httpclient.InferenceServerClient(server.http_url)
    assert client.is_server_ready()
    client.close()  # an open connection would delay the server's shutdown by its exit timeout


def test_wrong_tensor_type_is_refused_and_server_stays_up(server) -> None:  # type: ignore[no-untyped-def]
    triton = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("IMAGE", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 1), np.float32))
    expected = r"data-type is 'FP32', but model 'mnist' expects 'BYTES'"
    with pytest.raises(InferenceServerException, match=expected) as info:
        triton.infer("mnist", [tensor])
    assert info.value.status() == "400"
    assert triton.is_server_ready() and triton.is_model_ready("mnist")
    triton.close()


def test_bad_input_error_is_invalid_arg_over_http(server) -> None:  # type: ignore[no-untyped-def]
    triton = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"garbage"]], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="IMAGE\\[0\\]: not a decodable image") as info:
        triton.infer("mnist", [tensor])
    assert info.value.status() == "400"
    triton.close()
