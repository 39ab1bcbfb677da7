"""Triton's Prometheus metrics after known traffic: per-step request, failure and image counts."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.imaging import encode
from rawvision.repository import model_config
from rawvision.server import metrics
from rawvision.server.embedded import ServerOptions

pytestmark = pytest.mark.integration
STEPS = ("mnist_preprocess", "mnist_onnx", "mnist_postprocess")
SERIES = ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
          "nv_inference_queue_duration_us", "nv_inference_compute_input_duration_us",
          "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us")


def snapshot(server: ServerOptions) -> dict[tuple[str, str], float]:
    samples = metrics.scrape(f"http://{server.host}:{server.metrics_port}/metrics")
    return {(name, model): total for name in SERIES for model, total in metrics.per_model(samples, name).items()}


def test_parser_reads_labels_and_values() -> None:
    text = ('# HELP x y\nnv_inference_count{model="a",version="1"} 3\n'
            'nv_inference_count{model="a",version="2"} 4\nup 1\n')
    samples = metrics.parse(text)
    assert metrics.per_model(samples, "nv_inference_count") == {"a": 7.0}
    assert metrics.value(samples, "up") == 1.0
    with pytest.raises(ValueError, match="line 1"):
        metrics.parse("not a metric line at all {")


def test_metrics_count_each_step_after_traffic(server: ServerOptions, repository, mnist_split) -> None:  # type: ignore[no-untyped-def]
    assert [s.model_name for s in model_config(repository, "mnist").ensemble_scheduling.step] == list(STEPS)
    before = snapshot(server)
    client = httpclient.InferenceServerClient(server.http_url)

    def send(images: list[bytes]) -> None:
        tensor = httpclient.InferInput("IMAGE", [len(images), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[i] for i in images], dtype=np.object_))
        client.infer("mnist", [tensor])

    pngs = [encode(image, "PNG") for image in mnist_split.test_images[:5]]
    for png in pngs[:4]:
        send([png])                      # 4 requests of one image
    send(pngs[:3])                       # 1 request of three images
    for bad in (b"", b"this is not an image"):
        with pytest.raises(InferenceServerException):
            send([bad])                  # 2 requests refused by the preprocessing step
    client.close()

    # Measured on Triton 2.51: a request that the Python step answers with an error response counts as a
    # success of that step (the backend did answer it), and the ensemble counts each failed request twice.
    expected = {("nv_inference_request_success", "mnist"): 5, ("nv_inference_request_failure", "mnist"): 2 * 2,
                ("nv_inference_count", "mnist"): 7,
                ("nv_inference_request_success", "mnist_preprocess"): 5 + 2,
                ("nv_inference_request_failure", "mnist_preprocess"): 0}
    for step in STEPS[1:]:
        expected |= {("nv_inference_request_success", step): 5, ("nv_inference_count", step): 7,
                     ("nv_inference_request_failure", step): 0}

    def delta() -> dict[tuple[str, str], float]:
        now = snapshot(server)
        return {key: now.get(key, 0.0) - before.get(key, 0.0) for key in now}

    deadline = time.monotonic() + 30  # Triton updates counters as responses complete; poll, don't sleep
    changes = delta()
    while any(changes.get(k, 0.0) != v for k, v in expected.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
        changes = delta()
    assert {k: changes.get(k, 0.0) for k in expected} == expected
    for step in STEPS:
        for series in SERIES[3:]:
            assert changes[(series, step)] > 0, (series, step)
